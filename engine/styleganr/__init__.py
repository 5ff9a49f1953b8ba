"""StyleGAN-R / GANverse3D (Zhang, Chen et al., ICLR 2021): a StyleGAN2 as a multi-view data
generator, an inverse graphics network trained on it through the differentiable rasterizer,
and a mapping network that drives the GAN with a camera and shape / texture / background codes.

Pipeline (each step an importable function, each training resumable from one state file):

1. `analyse_view_layers`: which W+ rows carry the viewpoint (the paper: first 4 of 16).
2. `sample_view_codes`, then `auto_label` (a `ViewLabeller` trained on synthetic cars; it can
   keep a set spread evenly over the azimuth circle) or
   `HandLabels` (a person's azimuth bins) give the view codes cameras.
3. `train_inverse_graphics` on `gan_view_pairs` (or `synthetic_view_pairs`).
4. `train_mapping`: warm-up on real W+, then cycle consistency; its file is the model.
5. `sample`, `encode_photo`, `set_camera`, `swap`, `car_to_mesh` on a loaded `StyleGANR`.

Cameras are ``[N, 3]`` = (azimuth°, elevation°, scale); see `engine.styleganr.camera`.
"""

from engine.styleganr.camera import OBJECT_RADIUS, camera_from_view, object_to_camera
from engine.styleganr.edit import (
    ELEVATION_STEP,
    SCALE_STEP,
    CameraRange,
    Sample,
    camera_range,
    car_to_mesh,
    encode_photo,
    render_codes,
    sample,
    set_camera,
    swap,
)
from engine.styleganr.encoding import encode_image, estimate_camera
from engine.styleganr.icosphere import Icosphere, MeshTopology, icosphere, mesh_topology
from engine.styleganr.inverse_graphics import (
    InverseGraphicsConfig,
    InverseGraphicsNet,
    MeshPrediction,
    refine_camera,
    render_prediction,
)
from engine.styleganr.labelling import (
    HandLabels,
    LabellerConfig,
    ViewLabeller,
    auto_label,
    balanced_selection,
    labelling_rows,
    labelling_sheet,
    load_hand_labels,
    load_view_labeller,
    predict_views,
    save_hand_labels,
    train_view_labeller,
)
from engine.styleganr.losses import (
    colour_loss,
    flatten_loss,
    iou_loss,
    laplacian_loss,
    move_loss,
)
from engine.styleganr.mapping import (
    PARTS,
    MappingConfig,
    MappingNetwork,
    StyleCodes,
    background_code,
    mask_entropy,
)
from engine.styleganr.model import (
    StyleGANR,
    inverse_graphics_of,
    inverse_graphics_weights,
    load_model_views,
    load_styleganr,
    save_styleganr,
)
from engine.styleganr.multiview import ViewPairs, synthetic_view_pairs
from engine.styleganr.train_inverse import (
    InverseGraphicsTrainConfig,
    LossWeights,
    inverse_graphics_losses,
    load_inverse_graphics,
    train_inverse_graphics,
)
from engine.styleganr.train_mapping import MappingTrainConfig, train_mapping
from engine.styleganr.view_codes import (
    ViewCodes,
    compose,
    gan_view_pairs,
    load_view_codes,
    render_multiview,
    sample_view_codes,
    save_view_codes,
)
from engine.styleganr.view_layers import ViewLayerAnalysis, analyse_view_layers

__all__ = [
    "ELEVATION_STEP",
    "OBJECT_RADIUS",
    "PARTS",
    "SCALE_STEP",
    "CameraRange",
    "HandLabels",
    "Icosphere",
    "InverseGraphicsConfig",
    "InverseGraphicsNet",
    "InverseGraphicsTrainConfig",
    "LabellerConfig",
    "LossWeights",
    "MappingConfig",
    "MappingNetwork",
    "MappingTrainConfig",
    "MeshPrediction",
    "MeshTopology",
    "Sample",
    "StyleCodes",
    "StyleGANR",
    "ViewCodes",
    "ViewLabeller",
    "ViewLayerAnalysis",
    "ViewPairs",
    "analyse_view_layers",
    "auto_label",
    "background_code",
    "balanced_selection",
    "camera_from_view",
    "camera_range",
    "car_to_mesh",
    "colour_loss",
    "compose",
    "encode_image",
    "encode_photo",
    "estimate_camera",
    "flatten_loss",
    "gan_view_pairs",
    "icosphere",
    "inverse_graphics_losses",
    "inverse_graphics_of",
    "inverse_graphics_weights",
    "iou_loss",
    "labelling_rows",
    "labelling_sheet",
    "laplacian_loss",
    "load_hand_labels",
    "load_inverse_graphics",
    "load_model_views",
    "load_styleganr",
    "load_view_codes",
    "load_view_labeller",
    "mask_entropy",
    "mesh_topology",
    "move_loss",
    "object_to_camera",
    "predict_views",
    "refine_camera",
    "render_codes",
    "render_multiview",
    "render_prediction",
    "sample",
    "sample_view_codes",
    "save_hand_labels",
    "save_styleganr",
    "save_view_codes",
    "set_camera",
    "swap",
    "synthetic_view_pairs",
    "train_inverse_graphics",
    "train_mapping",
    "train_view_labeller",
]
