"""A procedural 3D world with ground truth: human heads and cars rendered through GAN2Shape's
camera, for training the default GANs and for the shape benchmark.

`render_samples` renders one batch of seeds in memory; `write_dataset` writes PNGs plus npz
shards (format in `engine.synth.dataset`); `engine.synth.seeds` keeps training and test
seeds apart.
"""

from engine.synth.dataset import DatasetInfo, read_dataset, read_info, save_preview, write_dataset
from engine.synth.generate import CATEGORIES, SIZES, SynthBatch, render_samples
from engine.synth.seeds import SEED_RANGES, SeedRange, seed_run, split_of

__all__ = [
    "CATEGORIES",
    "SEED_RANGES",
    "SIZES",
    "DatasetInfo",
    "SeedRange",
    "SynthBatch",
    "read_dataset",
    "read_info",
    "render_samples",
    "save_preview",
    "seed_run",
    "split_of",
    "write_dataset",
]
