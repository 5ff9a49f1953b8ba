"""GAN2Shape (Pan et al., ICLR 2021): 3D shape from a 2D StyleGAN2 generator.

The method starts from a weak shape prior (`ellipsoid_prior`, in `engine.gan2shape.prior`)
and refines it in stages; the networks, steps and presets live in the sibling modules.
"""

from engine.gan2shape.prior import PRIOR_BOX_PRESETS, ellipsoid_prior

__all__ = ["PRIOR_BOX_PRESETS", "ellipsoid_prior"]
