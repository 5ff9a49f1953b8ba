"""GAN2Shape (Pan et al., ICLR 2021): 3D shape from a 2D StyleGAN2 generator.

The method starts from a weak shape prior (`ellipsoid_prior`, in `engine.gan2shape.prior`)
and refines it in stages of three steps. `recover(G, D, image, preset="face")` lifts one
image to canonical depth, albedo, view and light; `render_view` / `project_view` show the
result from new views and `recovery_mesh` as a textured mesh; `save_state` / `load_state` /
`continue_recovery` stop and resume a run. Networks, parametrisations, steps and presets live
in the sibling modules.

End to end: `prepare_input` (face crop, GrabCut mask) → `reconstruct` (resumable run in a
folder, quality fast or full) → `write_outputs` (maps, views, animations, meshes);
`pretrain` trains the networks jointly on many GAN samples for the fast mode.
"""

from engine.gan2shape.inputs import (
    PreparedInput,
    grabcut_mask,
    load_mask,
    object_mask,
    prepare_input,
)
from engine.gan2shape.meshing import recovery_mesh
from engine.gan2shape.networks import Gan2ShapeNetworks, NetworkConfig
from engine.gan2shape.outputs import (
    OutputSettings,
    ViewSpec,
    read_depth_png,
    write_maps,
    write_outputs,
)
from engine.gan2shape.parametrisation import CameraRanges
from engine.gan2shape.pipeline import (
    FAST_FRACTION,
    QUALITIES,
    Gan2ShapeModel,
    Quality,
    Reconstruction,
    check_quality,
    fast_preset,
    load_model,
    pretrained_path,
    quality_schedule,
    reconstruct,
    sample_input,
)
from engine.gan2shape.presets import PRESETS, Gan2ShapePreset, StepLengths, get_preset
from engine.gan2shape.pretrain import PretrainConfig, PretrainResult, pretrain
from engine.gan2shape.pretrained_files import load_pretrained
from engine.gan2shape.prior import PRIOR_BOX_PRESETS, ellipsoid_prior
from engine.gan2shape.recover import Recovery, continue_recovery, recover
from engine.gan2shape.release import RELEASE_FILES, read_release
from engine.gan2shape.sampling import fit_gaussian
from engine.gan2shape.state import RecoveryState, load_state, save_state
from engine.gan2shape.views import project_view, render_view

__all__ = [
    "FAST_FRACTION",
    "PRESETS",
    "PRIOR_BOX_PRESETS",
    "QUALITIES",
    "RELEASE_FILES",
    "CameraRanges",
    "Gan2ShapeModel",
    "Gan2ShapeNetworks",
    "Gan2ShapePreset",
    "NetworkConfig",
    "OutputSettings",
    "PreparedInput",
    "PretrainConfig",
    "PretrainResult",
    "Quality",
    "Reconstruction",
    "Recovery",
    "RecoveryState",
    "StepLengths",
    "ViewSpec",
    "check_quality",
    "continue_recovery",
    "ellipsoid_prior",
    "fast_preset",
    "fit_gaussian",
    "get_preset",
    "grabcut_mask",
    "load_mask",
    "load_model",
    "load_pretrained",
    "load_state",
    "object_mask",
    "prepare_input",
    "pretrain",
    "pretrained_path",
    "project_view",
    "quality_schedule",
    "read_depth_png",
    "read_release",
    "reconstruct",
    "recover",
    "recovery_mesh",
    "render_view",
    "sample_input",
    "save_state",
    "write_maps",
    "write_outputs",
]
