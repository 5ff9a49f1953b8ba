"""The cache of projected samples step 3 reads in batches: each image keeps its own mask
through the reshuffles, and the batches move on through the cache."""

from __future__ import annotations

import torch

from engine.gan2shape.steps import ProjectedCache

COUNT, SIZE = 8, 2


def numbered_cache() -> ProjectedCache:
    """A cache of COUNT one-pixel images and masks whose values are their indices."""
    ids = torch.arange(COUNT, dtype=torch.float32)
    return ProjectedCache(
        images=ids.view(-1, 1, 1, 1).repeat(1, 3, 1, 1), masks=ids.view(-1, 1, 1, 1)
    )


def batch_ids(cache: ProjectedCache, rng: torch.Generator) -> tuple[list[int], list[int]]:
    """The indices of the next batch's images and of its masks."""
    images, masks = cache.next_batch(SIZE, rng=rng, device=torch.device("cpu"))
    assert torch.equal(images, images[:, :1].expand_as(images))  # one index a whole image
    return images[:, 0].flatten().int().tolist(), masks.flatten().int().tolist()


def test_masks_travel_with_their_images_through_the_reshuffles() -> None:
    """Each image keeps its own mask through the reshuffles."""
    cache, rng = numbered_cache(), torch.Generator().manual_seed(0)
    batches = [batch_ids(cache, rng) for _ in range(5 * COUNT // SIZE)]  # several reshuffles
    assert all(images == masks for images, masks in batches)
    assert batches[COUNT // SIZE][0] != batches[0][0]  # the order did change


def test_batches_move_on_through_the_cache() -> None:
    """As the release, the cursor steps on before it reads, and the cache is reshuffled when
    the next window would reach its end."""
    cache, rng = numbered_cache(), torch.Generator().manual_seed(0)
    batches = [batch_ids(cache, rng)[0] for _ in range(5 * COUNT // SIZE)]
    assert batches[:2] == [[2, 3], [4, 5]]  # before the first reshuffle
    windows = COUNT // SIZE - 1  # read from each shuffled order (its last window is not)
    for start in range(2, len(batches) - windows + 1, windows):
        served = {index for batch in batches[start : start + windows] for index in batch}
        assert len(served) == windows * SIZE  # no sample twice in one order
    assert {index for batch in batches for index in batch} == set(range(COUNT))
