"""StyleGAN2's training objectives: the non-saturating logistic GAN loss, the R1 gradient
penalty on real images and the path-length regulariser of the generator.

Each is a pure function of logits, images and latents, so the training loop only decides
when to apply them and with which weight.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def d_logistic_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Discriminator loss: softplus(D(fake)) + softplus(-D(real)), averaged over the batch."""
    return F.softplus(fake_logits).mean() + F.softplus(-real_logits).mean()


def g_nonsaturating_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Generator loss: softplus(-D(G(z))), the non-saturating form of -log sigmoid(D)."""
    return F.softplus(-fake_logits).mean()


def r1_penalty(real_images: torch.Tensor, real_logits: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of |∇ₓ D(x)|² at the real images (which must require grad).

    The graph is kept so that the penalty itself can be back-propagated into D.
    """
    (grad,) = torch.autograd.grad(real_logits.sum(), real_images, create_graph=True)  # [B,3,H,W]
    return grad.float().square().sum(dim=(1, 2, 3)).mean()


def path_lengths(images: torch.Tensor, ws: torch.Tensor, direction: torch.Tensor) -> torch.Tensor:
    """|J_wᵀ y| per image `[B]`: how far the W+ latent must move per unit image change.

    `images` `[B, 3, H, W]` must have been generated from `ws` `[B, L, C]`; `direction`
    `[B, 3, H, W]` is a standard-normal image (y = direction / sqrt(H·W)). The graph is kept,
    so that the path-length penalty (lengths - running mean)² can be back-propagated into G.
    """
    height, width = images.shape[2:]
    projection = (images * direction.to(images.dtype)).sum() / math.sqrt(height * width)
    (grad,) = torch.autograd.grad(projection, ws, create_graph=True)  # [B, L, C]
    return grad.float().square().sum(dim=2).mean(dim=1).sqrt()
