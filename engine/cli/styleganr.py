"""`python -m engine styleganr <action>`: StyleGAN-R from the command line — find the view
layers, make and label view codes, train the labeller, the inverse graphics network and the
mapping network on a user's checkpoint, then move cameras, swap parts and export meshes."""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import torch

from engine.atomic import output_file
from engine.cli.arguments import (
    INTERRUPTED,
    MAX_BATCH,
    MAX_STEPS,
    add_device_option,
    at_least,
    positive,
    seed,
    torch_output,
)
from engine.device import resolve_device
from engine.errors import GANliftError
from engine.images import image_format, load_photo, save_image
from engine.limits import PHOTO_CAPS, add_limit_arguments, limits_from_arguments
from engine.mesh import mesh_file, save_mesh
from engine.perceptual import DiscriminatorFeatureLoss
from engine.progress import StopFn, stop_on_signals, tqdm_progress
from engine.state_kinds import STATE_KINDS, state_kind
from engine.stylegan2 import generator_fingerprint, load_checkpoint
from engine.styleganr import (
    PARTS,
    HandLabels,
    InverseGraphicsConfig,
    InverseGraphicsTrainConfig,
    LabellerConfig,
    MappingTrainConfig,
    analyse_view_layers,
    auto_label,
    car_to_mesh,
    gan_view_pairs,
    inverse_graphics_of,
    inverse_graphics_weights,
    labelling_sheet,
    load_hand_labels,
    load_model_views,
    load_styleganr,
    load_view_codes,
    load_view_labeller,
    predict_views,
    sample,
    sample_view_codes,
    save_hand_labels,
    save_styleganr,
    save_view_codes,
    set_camera,
    swap,
    synthetic_view_pairs,
    train_inverse_graphics,
    train_mapping,
    train_view_labeller,
)
from engine.styleganr.config_io import load_config, save_config
from engine.styleganr.labelling import MAX_AZIMUTH_BINS
from engine.styleganr.model import MODEL_FORMAT
from engine.styleganr.train_inverse import SYNTHETIC_PAIRS, stored_config
from engine.synth import SEED_RANGES
from engine.synth.generate import MIN_SIZE
from engine.torch_files import read_torch_file
from engine.wording import counted

MAX_VIEW_CODES = 1024
"""Most view codes `view-codes` draws (the paper labelled a dozen by hand)."""
MAX_SAMPLE_ROWS = 256
"""Most samples `set-camera` and `swap` draw as rows of one picture (and pairs `view-layers`
draws)."""
MAX_SYNTHETIC_SIZE = 1024
"""Largest synthetic renders the trainers take (GAN images are at most this size)."""
_STEPS_TYPE = at_least(1, maximum=MAX_STEPS)
_SIZE_TYPE = at_least(MIN_SIZE, maximum=MAX_SYNTHETIC_SIZE)
_STEPS_HELP = "steps in all (%(default)s)"


def _size_help(input_size: int) -> str:
    """Help for a trainer's --size: the render size, not the size its network reads."""
    return (
        f"size the synthetic training cars are rendered at (the network resizes them to its "
        f"{input_size}-px input) (%(default)s)"
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `styleganr` and its actions."""
    parser = subparsers.add_parser("styleganr", help="StyleGAN-R: 3D-controllable GAN cars.")
    add_device_option(parser)  # before the action; each action that computes takes it too
    actions = parser.add_subparsers(dest="action", metavar="<action>", required=True)

    _add_labelling_actions(actions)
    _add_training_actions(actions)
    _add_editing_actions(actions)


def _add_labelling_actions(actions: argparse._SubParsersAction) -> None:
    """The actions finding the view layers and labelling view codes with cameras."""
    layers = actions.add_parser("view-layers", help="Measure which W+ layers hold the view.")
    layers.add_argument("--checkpoint", required=True, help="the car StyleGAN2")
    layers.add_argument("--out", required=True, help="figure (PNG): a, b, then each prefix mix")
    layers.add_argument(
        "--pairs",
        type=at_least(2, maximum=MAX_SAMPLE_ROWS),
        default=16,
        help="sample pairs mixed per prefix (%(default)s)",
    )
    layers.add_argument("--seed", type=seed, default=0, help="of the pairs (%(default)s)")
    layers.add_argument(
        "--labeller", help="view labeller state: compare silhouettes instead of edge maps"
    )
    add_device_option(layers, after_group=True)
    layers.set_defaults(run=_view_layers)

    codes = actions.add_parser("view-codes", help="Sample view codes and a labelling sheet.")
    codes.add_argument("--checkpoint", required=True, help="the car StyleGAN2")
    codes.add_argument(
        "--out", required=True, type=_view_codes_file, help="view codes (.safetensors)"
    )
    codes.add_argument("--sheet", help="labelling sheet (PNG), one row per code")
    codes.add_argument(
        "--count", type=at_least(1, maximum=MAX_VIEW_CODES), default=12,
        help=f"view codes, 1 to {MAX_VIEW_CODES} (%(default)s)",
    )  # fmt: skip
    codes.add_argument(
        "--layers",
        type=at_least(1),
        default=4,
        help="view layers, from 1 to one less than the GAN's W+ layers (see view-layers; "
        "%(default)s)",
    )
    codes.add_argument("--seed", type=seed, default=0, help="of the samples (%(default)s)")
    add_device_option(codes, after_group=True)
    codes.set_defaults(run=_view_codes)

    hand = actions.add_parser("hand-label", help="Assign azimuth bins to view codes by hand.")
    hand.add_argument("--views", required=True, help="view codes from view-codes")
    hand.add_argument("--labels", required=True, help="JSON file of labels (created if missing)")
    hand.add_argument(
        "--set", nargs="*", default=[], metavar="INDEX=BIN",
        help="azimuth bin of view code INDEX: bin k is centred on k·360/BINS° (0 = front, "
        "BINS/4 = side view with the nose to the left)",
    )  # fmt: skip
    hand.add_argument(
        "--bins",
        type=at_least(1, maximum=MAX_AZIMUTH_BINS),
        default=None,
        help="azimuth bins, 1 to 360 (default: the labels file's, 12 for a new one, 30° each "
        "as the paper's)",
    )
    hand.add_argument(
        "--elevation", type=float, default=None,
        help="elevation° of every labelled code (default: the labels file's, 10 for a new one)",
    )  # fmt: skip
    hand.add_argument(
        "--out", required=True, type=_view_codes_file, help="labelled view codes (.safetensors)"
    )
    hand.set_defaults(run=_hand_label)

    labeller = actions.add_parser("train-labeller", help="Train the view labeller on synth cars.")
    labeller.add_argument(
        "--out", type=torch_output, required=True, help="state file (resumed if present)"
    )
    labeller.add_argument(
        "--steps", type=_STEPS_TYPE, default=LabellerConfig.steps, help=_STEPS_HELP
    )
    labeller.add_argument(
        "--size", type=_SIZE_TYPE, default=64, help=_size_help(LabellerConfig.image_size)
    )
    labeller.add_argument(
        "--learning-rate",
        type=float,
        default=LabellerConfig.learning_rate,
        help="for the steps this call runs (a lower one fine-tunes a resumed state; %(default)s)",
    )
    labeller.add_argument(
        "--augment",
        action=argparse.BooleanOptionalAction,
        default=LabellerConfig.augment,
        help="mirrored, recoloured, blurred, noisy renders (default: on)",
    )
    add_device_option(labeller, after_group=True)
    labeller.set_defaults(run=_train_labeller)

    auto = actions.add_parser("auto-label", help="Label view codes with the view labeller.")
    auto.add_argument("--checkpoint", required=True, help="the GAN the view codes are of")
    auto.add_argument("--views", required=True, help="view codes from view-codes")
    auto.add_argument("--labeller", required=True, help="view labeller state")
    auto.add_argument(
        "--out", required=True, type=_view_codes_file, help="labelled view codes (.safetensors)"
    )
    auto.add_argument(
        "--keep",
        type=at_least(1),
        help="keep this many codes, spread evenly over the azimuth circle (default: all)",
    )
    add_device_option(auto, after_group=True)
    auto.set_defaults(run=_auto_label)


def _add_training_actions(actions: argparse._SubParsersAction) -> None:
    """The actions training the inverse graphics and mapping networks and shipping a model."""
    inverse = actions.add_parser("train-inverse", help="Train the inverse graphics network.")
    inverse.add_argument(
        "--out", type=torch_output, required=True, help="state file (resumed if present)"
    )
    source = inverse.add_mutually_exclusive_group(required=True)
    source.add_argument("--synthetic", action="store_true", help="train on synthetic cars")
    source.add_argument(
        "--checkpoint", metavar="GAN", help="train on this GAN (needs --views, --labeller)"
    )
    inverse.add_argument("--views", help="labelled view codes")
    inverse.add_argument("--labeller", help="view labeller state (its silhouettes)")
    inverse.add_argument(
        "--steps", type=_STEPS_TYPE, default=InverseGraphicsTrainConfig.steps, help=_STEPS_HELP
    )
    inverse.add_argument(
        "--batch-size",
        type=at_least(1, maximum=MAX_BATCH),
        default=InverseGraphicsTrainConfig.batch_size,
        help="view pairs per step (%(default)s)",
    )
    inverse.add_argument(
        "--size",
        type=_SIZE_TYPE,
        default=64,
        help="with --synthetic: " + _size_help(InverseGraphicsConfig.image_size),
    )
    inverse.add_argument(
        "--init-from",
        help="start a new run from this StyleGAN-R model's inverse graphics network "
        "(no perceptual warm-up then); ignored when --out already holds a state",
    )
    add_device_option(inverse, after_group=True)
    inverse.set_defaults(run=_train_inverse)

    mapping = actions.add_parser("train-mapping", help="Train the mapping network (the model).")
    mapping.add_argument("--checkpoint", required=True, help="the GAN the view codes are of")
    mapping.add_argument("--views", required=True, help="labelled view codes")
    mapping.add_argument(
        "--inverse",
        required=True,
        help="inverse graphics state file, or a StyleGAN-R model (file or shipped name) whose "
        "network to use",
    )
    mapping.add_argument(
        "--out", type=torch_output, required=True, help="model / state file (resumed if present)"
    )
    mapping.add_argument(
        "--steps", type=_STEPS_TYPE, default=MappingTrainConfig.steps, help=_STEPS_HELP
    )
    mapping.add_argument(
        "--warmup",
        type=at_least(0, maximum=MAX_STEPS),
        default=MappingTrainConfig.warmup_steps,
        help="steps matching real codes before the cycle loss (%(default)s)",
    )
    add_device_option(mapping, after_group=True)
    mapping.set_defaults(run=_train_mapping)

    export = actions.add_parser("export", help="Write a trained model for shipping.")
    export.add_argument("--model", required=True, help="model file or shipped model's name")
    export.add_argument("--checkpoint", default=None, help="GAN (default: the recorded path)")
    export.add_argument(
        "--out", type=torch_output, required=True, help="networks in float16, no training state"
    )
    export.add_argument(
        "--segmenter", help="view labeller to include (photos are then read by outline too)"
    )
    add_device_option(export, after_group=True)
    export.set_defaults(run=_export)

    views = actions.add_parser(
        "export-views", help="Write a model's labelled view codes (to retrain from them)."
    )
    views.add_argument("--model", required=True, help="model file or shipped model's name")
    views.add_argument(
        "--out", required=True, type=_view_codes_file, help="labelled view codes (.safetensors)"
    )
    views.set_defaults(run=_export_views)


def _add_editing_actions(actions: argparse._SubParsersAction) -> None:
    """The actions using a trained model: a camera, a swap, a mesh of a photo."""
    camera = actions.add_parser("set-camera", help="Render samples from a chosen camera.")
    _model_arguments(camera)
    camera.add_argument(
        "--azimuth",
        type=float,
        required=True,
        help="degrees, 0 = front, 90 = side view with the nose to the left",
    )
    camera.add_argument(
        "--elevation", type=float, default=10.0,
        help="degrees, within the elevations the model was labelled with (%(default)s)",
    )  # fmt: skip
    camera.add_argument(
        "--scale", type=positive, default=1.0,
        help="camera scale, within the scales the model was labelled with (%(default)s)",
    )  # fmt: skip
    add_device_option(camera, after_group=True)
    camera.set_defaults(run=_set_camera)

    swapper = actions.add_parser("swap", help="Give a sample another sample's part.")
    _model_arguments(swapper)
    swapper.add_argument("--source-seed", type=seed, required=True, help="seed of the donor")
    swapper.add_argument("--part", choices=PARTS, required=True, help="what the donor gives")
    add_device_option(swapper, after_group=True)
    swapper.set_defaults(run=_swap)

    mesh = actions.add_parser("mesh", help="Lift a car image to a textured mesh.")
    mesh.add_argument("--model", required=True, help="model file or shipped model's name")
    mesh.add_argument("--checkpoint", default=None, help="GAN (default: the recorded path)")
    mesh.add_argument("--image", required=True, help="photo of a car")
    mesh.add_argument("--out", required=True, help=".obj, .ply or .glb")
    add_limit_arguments(mesh, PHOTO_CAPS)
    add_device_option(mesh, after_group=True)
    mesh.set_defaults(run=_mesh)


def _view_codes_file(text: str) -> str:
    """An --out for view codes: a .safetensors name, as the file is one whatever it is called."""
    if Path(text).suffix.lower() != ".safetensors":
        raise argparse.ArgumentTypeError(
            f"view codes are written as safetensors; give a name ending in .safetensors, got "
            f"'{text}'"
        )
    return text


def _model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="model file or shipped model's name")
    parser.add_argument("--checkpoint", default=None, help="GAN (default: the recorded path)")
    parser.add_argument("--seed", type=seed, default=0, help="of the first sample (%(default)s)")
    parser.add_argument(
        "--count", type=at_least(1, maximum=MAX_SAMPLE_ROWS), default=1,
        help=f"samples, 1 to {MAX_SAMPLE_ROWS} (%(default)s)",
    )  # fmt: skip
    parser.add_argument("--out", required=True, help="image (PNG): before | after, one row each")


def _generator(args: argparse.Namespace):
    return load_checkpoint(args.checkpoint, resolve_device(args.device)).generator


def _model(args: argparse.Namespace):
    device = resolve_device(args.device)
    generator = (
        None if args.checkpoint is None else load_checkpoint(args.checkpoint, device).generator
    )
    return load_styleganr(args.model, generator=generator, device=device)


def _view_layers(args: argparse.Namespace) -> int:
    image_format(output_file(args.out))
    mask_fn = None
    if args.labeller:
        labeller = load_view_labeller(args.labeller, resolve_device(args.device))

        def mask_fn(images: torch.Tensor) -> torch.Tensor:
            return predict_views(labeller, images)[1]

    with tqdm_progress(desc="view-layers") as progress:
        analysis = analyse_view_layers(
            _generator(args), num_pairs=args.pairs, seed=args.seed, mask_fn=mask_fn,
            progress=progress,
        )  # fmt: skip
    save_image(analysis.figure, args.out)
    print("layers  view-transfer  appearance-kept")
    for length, moved, kept in zip(
        analysis.prefix_lengths, analysis.view_transfer, analysis.appearance_kept, strict=True
    ):
        print(f"{length:6d}  {moved:13.3f}  {kept:15.3f}")
    print(f"view layers: {analysis.num_view_layers} (figure: {args.out})")
    return 0


def _view_codes(args: argparse.Namespace) -> int:
    output_file(args.out)  # both outputs checked before either is written
    if args.sheet:
        image_format(output_file(args.sheet))
    generator = _generator(args)
    views = sample_view_codes(generator, args.count, num_view_layers=args.layers, seed=args.seed)
    save_view_codes(views, args.out)
    print(f"{args.count} view codes -> {args.out}")
    if args.sheet:
        with tqdm_progress("view-codes", unit="code") as progress:
            sheet = labelling_sheet(generator, views, seed=args.seed, progress=progress)
        save_image(sheet, args.sheet)
        print(f"labelling sheet (row i = code i) -> {args.sheet}")
    return 0


def _hand_label(args: argparse.Namespace) -> int:
    path = Path(args.labels)
    labels = load_hand_labels(path) if path.exists() else HandLabels()
    if labels.bins and args.bins not in (None, labels.num_bins):
        raise GANliftError(
            f"{path} holds {counted(len(labels.bins), 'label')} in {labels.num_bins} azimuth "
            f"bins, which --bins {args.bins} would turn to other angles; leave out --bins, or "
            "pass a new --labels file."
        )
    views = load_view_codes(args.views)
    fingerprint = views.fingerprint()
    if labels.views not in (None, fingerprint):
        raise GANliftError(
            f"{path} labels other view codes than {args.views}, and its indices would name other "
            "views there; pass the --views file it was made for, or a new --labels file."
        )
    bins = dict(labels.bins)
    for item in args.set:
        index, separator, value = item.partition("=")
        if not separator or not index.strip().isdigit() or not value.strip().isdigit():
            raise GANliftError(f"Label '{item}' is not INDEX=BIN (e.g. 3=2); fix --set.")
        bins[int(index)] = int(value)
    labels = HandLabels(
        num_bins=labels.num_bins if args.bins is None else args.bins,
        bins=bins,
        elevation=labels.elevation if args.elevation is None else args.elevation,
        scale=labels.scale,
        views=fingerprint,
    )
    labelled = labels.cameras(views)
    output_file(args.out)  # before the labels file is written, so a refusal changes nothing
    save_hand_labels(labels, path)
    save_view_codes(labelled, args.out)
    print(f"{counted(len(labels.bins), 'labelled view code')} -> {args.out} (labels: {path})")
    return 0


def _train_labeller(args: argparse.Namespace) -> int:
    config = LabellerConfig(
        steps=args.steps, learning_rate=args.learning_rate, augment=args.augment
    )
    config_path = _config_path(args.out, LabellerConfig)
    with tqdm_progress("labeller") as progress, stop_on_signals() as should_stop:
        train_view_labeller(
            config,
            state_path=args.out,
            image_size=args.size,
            device=resolve_device(args.device),
            progress=progress,
            should_stop=should_stop,
        )
    return _finish_training(config, config_path, should_stop, args.out)


def _auto_label(args: argparse.Namespace) -> int:
    output_file(args.out)  # before the GAN draws the codes' samples
    device = resolve_device(args.device)
    with tqdm_progress("auto-label") as progress:
        views = auto_label(
            _generator(args),
            load_view_codes(args.views),
            load_view_labeller(args.labeller, device),
            keep=args.keep,
            progress=progress,
        )
    save_view_codes(views, args.out)
    for index, camera in enumerate(views.labelled().tolist()):
        print(
            f"view {index}: azimuth {camera[0]:.0f}°, elevation {camera[1]:.0f}°, "
            f"scale {camera[2]:.2f}"
        )
    return 0


def _train_inverse(args: argparse.Namespace) -> int:
    device = resolve_device(args.device)
    perceptual = None
    if args.synthetic:
        if args.views is not None or args.labeller is not None:
            raise GANliftError(
                "--views and --labeller belong with --checkpoint (GAN pairs); synthetic pairs "
                "come with their cameras and masks, so leave them out with --synthetic."
            )
        size, first_seed = args.size, SEED_RANGES["train"].start
        pairs_from = SYNTHETIC_PAIRS

        def source(count: int, rng: torch.Generator):
            start = int(torch.randint(first_seed, 10**8, (), generator=rng))
            seeds = list(range(start, start + count))
            return synthetic_view_pairs(seeds, size=size, generator=rng, device=device)

    else:
        if args.views is None or args.labeller is None:
            raise GANliftError("Training on a GAN needs --views (labelled) and --labeller.")
        labeller = load_view_labeller(args.labeller, device)
        checkpoint = load_checkpoint(args.checkpoint, device)
        pairs_from = generator_fingerprint(checkpoint.generator)
        if checkpoint.discriminator is not None:  # the paper's perceptual term, on D features
            perceptual = DiscriminatorFeatureLoss(checkpoint.discriminator)
        source = gan_view_pairs(
            checkpoint.generator,
            load_view_codes(args.views),
            lambda images: predict_views(labeller, images)[1],
        )
    config = InverseGraphicsTrainConfig(
        network=InverseGraphicsConfig(),
        steps=args.steps,
        batch_size=args.batch_size,
        perceptual_after=_perceptual_after(args.out, args.init_from),
    )
    initial = None
    if args.init_from and not Path(args.out).exists():
        initial = inverse_graphics_weights(args.init_from, config.network)
    config_path = _config_path(args.out, InverseGraphicsTrainConfig)
    with tqdm_progress("inverse graphics") as progress, stop_on_signals() as should_stop:
        train_inverse_graphics(
            source,
            config,
            state_path=args.out,
            device=device,
            perceptual=perceptual,
            progress=progress,
            should_stop=should_stop,
            initial_weights=initial,
            pairs_from=pairs_from,
        )
    return _finish_training(config, config_path, should_stop, args.out)


def _perceptual_after(out: str, init_from: str | None) -> int:
    """The step the perceptual term starts at: a saved run's own; none for a trained start."""
    saved = stored_config(out)
    if saved is not None:
        return saved.perceptual_after
    return 0 if init_from else InverseGraphicsTrainConfig.perceptual_after


def _train_mapping(args: argparse.Namespace) -> int:
    device = resolve_device(args.device)
    config = MappingTrainConfig(steps=args.steps, warmup_steps=args.warmup)
    config_path = _config_path(args.out, MappingTrainConfig)
    with tqdm_progress("mapping") as progress, stop_on_signals() as should_stop:
        train_mapping(
            _generator(args),
            inverse_graphics_of(args.inverse, device),
            load_view_codes(args.views),
            config,
            state_path=args.out,
            generator_path=_recorded_checkpoint(args.checkpoint),
            device=device,
            progress=progress,
            should_stop=should_stop,
        )
    return _finish_training(config, config_path, should_stop, args.out)


def _config_path(out: str, config_type: type) -> Path:
    """Where a training command writes its config: beside --out, as .json. Another kind of
    file already there (a GAN's model.json beside --out model.pt, say) is refused now."""
    path = Path(out).with_suffix(".json")
    if path.exists():
        try:
            load_config(config_type, path, "The config")
        except GANliftError:
            raise GANliftError(
                f"{path} exists and is not a {config_type.__name__}; choose an --out whose "
                ".json name is free (the run's config is written there)."
            ) from None
    return path


def _finish_training(config: object, config_path: Path, should_stop: StopFn, out: str) -> int:
    """Write the config of a run the trainer accepted; say where the result is, or how to go
    on after Ctrl-C."""
    save_config(config, config_path)
    if should_stop():
        print(f"stopped; the state is saved in {out}: run the same command to continue")
        return INTERRUPTED
    print(f"-> {out} (its config: {config_path})")
    return 0


def _recorded_checkpoint(checkpoint: str) -> str:
    """What the model file records: a bundled model's name as is (so the file works in any
    clone), a checkpoint file as its absolute path."""
    path = Path(checkpoint)
    return str(path.resolve()) if path.is_file() else checkpoint


def _export(args: argparse.Namespace) -> int:
    _refuse_replacing_a_run(Path(args.out))
    model = _model(args)
    if args.checkpoint is not None:  # the exported file then finds the GAN where it is now
        model = replace(model, generator_path=_recorded_checkpoint(args.checkpoint))
    if args.segmenter:
        model = replace(model, segmenter=load_view_labeller(args.segmenter, model.device))
    path = save_styleganr(model, args.out, half=True)
    print(f"-> {path} ({path.stat().st_size / 2**20:.1f} MiB)")
    return 0


def _refuse_replacing_a_run(out: Path) -> None:
    """Refuse an --out holding a training run (a train-inverse, train-labeller or train-mapping
    state), which export, writing networks alone, would replace; an exported model may be."""
    if not out.is_file():
        return
    try:
        state = read_torch_file(out, missing="", damaged="")
    except GANliftError:  # not a GANlift state: replaced as any output is
        return
    tag = state.get("format") if isinstance(state, dict) else None
    if tag in STATE_KINDS and not (tag == MODEL_FORMAT and state.get("training") is None):
        raise GANliftError(
            f"--out {out} holds {state_kind(tag)} and its training state, which export "
            "(networks only) would replace; export to another file name."
        )


def _export_views(args: argparse.Namespace) -> int:
    views = load_model_views(args.model)
    path = save_view_codes(views, args.out)
    print(f"-> {path} ({counted(len(views.codes), 'labelled view code')})")
    return 0


def _set_camera(args: argparse.Namespace) -> int:
    image_format(output_file(args.out))
    model = _model(args)
    before = sample(model, args.count, seed=args.seed)
    after = set_camera(
        model, before, azimuth=args.azimuth, elevation=args.elevation, scale=args.scale
    )
    _save_rows(args.out, before.image, after.image)
    return 0


def _swap(args: argparse.Namespace) -> int:
    image_format(output_file(args.out))
    model = _model(args)
    target = sample(model, args.count, seed=args.seed)
    donor = sample(model, 1, seed=args.source_seed)
    _save_rows(args.out, target.image, swap(model, target, donor, part=args.part).image)
    return 0


def _mesh(args: argparse.Namespace) -> int:
    mesh_file(args.out)
    model = _model(args)
    photo = load_photo(args.image, limits_from_arguments(args))  # [1, 3, H, W]
    path = save_mesh(car_to_mesh(model, photo), args.out)
    print(json.dumps({"mesh": str(path)}, ensure_ascii=False))
    return 0


def _save_rows(path: str, before: torch.Tensor, after: torch.Tensor) -> None:
    """Each sample as a row: before | after."""
    rows = torch.cat([before, after], -1)  # [N, 3, H, 2W]
    save_image(torch.cat(list(rows), -2)[None], path)
    print(f"-> {path}")
