"""StyleGAN-R on a trained model: camera control, reprojected silhouettes and part swaps.

Held-out samples (content seeds the trainers never draw from) are moved, swapped and read
back; both azimuth readers are also scored on held-out synthetic renders whose cameras are
known, and on GAN samples under view codes whose axes a person read off a labelling sheet
(bench/data/default-car-view-axes.json; see engine/evaluation/styleganr.py for each
measurement), and the multi-view data itself is checked: how much the content codes change
the samples of each labelled view code. Beside the mask IoU, the 3D check that the IoU alone
is not: the mesh read off one view of a content, drawn where the view nearest a quarter turn
away was taken, against the GAN's drawing of that view. Silhouettes of GAN images
come from the view labeller (the segmenter standing in for the paper's Mask R-CNN); its own
azimuth reading is printed beside the inverse graphics network's as an independent check.
The reference measured in the same run is one generator forward pass on the same batch;
`set_camera` frames are timed against it.

Goals (issue 7): median azimuth error ≤ 10°; mean reprojected mask IoU ≥ 0.95; a texture
swap keeps the target's silhouette (IoU ≥ 0.9) and moves its colour towards the source; a
shape swap moves the silhouette towards the source and keeps the target's colour.

    python -m bench.styleganr [--model assets/models/default-car-styleganr.pt]
                              [--labeller assets/models/default-car-labeller.pt]
                              [--view-axes bench/data/default-car-view-axes.json]
                              [--samples 24] [--azimuth-step 30] [--threads 2]
                              [--figures docs/styleganr]

`--figures DIR` also draws the README's figures from the same samples: `cameras.png` (each
row one sample, each column one requested azimuth) and `swaps.png` (target, source, then the
target with the source's shape, texture and background).

(from the repository root).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import torch

from engine.atomic import output_folder
from engine.cli.arguments import add_threads_option, at_least, run_script, script_parser
from engine.evaluation.styleganr import (
    SwapScores,
    ViewAxes,
    azimuth_ring,
    camera_control_errors,
    content_spread,
    cross_view_silhouettes,
    known_camera_errors,
    known_camera_renders,
    load_view_axes,
    mask_iou,
    read_azimuths,
    reprojected_silhouettes,
    swap_scores,
    turned_views,
    view_axis_errors,
)
from engine.images import make_grid, save_image
from engine.styleganr import (
    PARTS,
    Sample,
    StyleGANR,
    compose,
    load_styleganr,
    load_view_labeller,
    predict_views,
    render_multiview,
    sample,
    set_camera,
    swap,
)
from engine.styleganr.camera import azimuth_difference
from engine.styleganr.view_codes import sample_w
from engine.wording import counted

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "assets" / "models"
VIEW_AXES = ROOT / "bench" / "data" / "default-car-view-axes.json"
HELD_OUT_SEED = 2_000_000_007
"""Content seed of the held-out samples (the trainers draw seeds below 2**31 - 1 at random,
so a clash is possible in principle but has probability ~1e-9 per draw)."""
Segmenter = Callable[[torch.Tensor], torch.Tensor]
"""Images `[N, 3, H, W]` → their car masks `[N, 1, H, W]`."""
Reader = Callable[..., torch.Tensor]
"""`read(network, images, ring)` → the azimuths it reads, degrees `[N]`."""


def timed(
    function: Callable[..., object], *args: object, repeats: int = 3, **kwargs: object
) -> tuple[float, object]:
    """Best wall time of ``repeats`` calls and the last result."""
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function(*args, **kwargs)
        best = min(best, time.perf_counter() - start)
    return best, result


def summary(values: torch.Tensor) -> str:
    """Median (of an even count, the middle pair's mean: torch's `median` takes the lower one),
    mean and 90th percentile of a flat tensor."""
    values = values.flatten().float()
    median, p90 = values.quantile(0.5), values.quantile(0.9)
    return f"median {median:6.3f}  mean {values.mean():6.3f}  p90 {p90:6.3f}"


def main() -> None:
    parser = script_parser(__spec__.name, __doc__)
    parser.add_argument(
        "--model",
        default=str(MODELS / "default-car-styleganr.pt"),
        help="StyleGAN-R model file (default: the shipped default-car-styleganr.pt)",
    )
    parser.add_argument(
        "--labeller",
        default=str(MODELS / "default-car-labeller.pt"),
        help="view labeller file (default: the shipped default-car-labeller.pt)",
    )
    parser.add_argument(
        "--view-axes",
        default=str(VIEW_AXES),
        help="JSON of view codes' hand-read axes (default: bench/data's for default-car)",
    )
    parser.add_argument(
        "--samples", type=at_least(2), default=24, help="held-out samples (%(default)s)"
    )
    parser.add_argument(
        "--azimuth-step",
        type=at_least(1, float, maximum=360),
        default=30.0,
        help="degrees between requested azimuths (%(default)s)",
    )
    add_threads_option(parser, 2)
    parser.add_argument("--figures", help="folder for cameras.png and swaps.png")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    figures = output_folder(args.figures) if args.figures else None
    axes = load_view_axes(args.view_axes)  # a missing or damaged file, refused before the work
    model = load_styleganr(args.model)
    labeller = load_view_labeller(args.labeller)

    def segment(images: torch.Tensor) -> torch.Tensor:
        return predict_views(labeller, images)[1]

    def read_by_labeller(_network, images: torch.Tensor, _candidates) -> torch.Tensor:
        return predict_views(labeller, images)[0][:, 0]

    def read_by_network(network, images: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
        return read_azimuths(network, images, candidates, segment(images))

    count, generator = args.samples, model.generator
    print(
        f"StyleGAN-R {args.model}: GAN {model.generator_path} ({generator.config.size}px), "
        f"{len(model.views.codes)} labelled views, {count} held-out samples, "
        f"{counted(args.threads, 'thread')}"
    )

    samples = sample(model, count, seed=HELD_OUT_SEED)
    report_speed(model, samples)

    azimuths = [float(a) for a in torch.arange(0.0, 360.0, args.azimuth_step)]
    report_camera_control(model, samples, azimuths, read_by_network, read_by_labeller)

    renders, truth = known_camera_renders(count, size=generator.config.size)
    network = model.inverse_graphics
    print(f"\nthe readers on {count} held-out synthetic renders with known cameras, degrees")
    read_known = known_camera_errors(network, renders, truth, read=read_by_network)
    print(f"  inverse graphics: {summary(read_known)}")
    labelled = known_camera_errors(network, renders, truth, read=read_by_labeller)
    print(f"  labeller:         {summary(labelled)}")

    readers = {
        "inverse graphics": lambda images, ring: read_by_network(network, images, ring),
        "labeller": lambda images, ring: read_by_labeller(network, images, ring),
    }
    report_view_axes(model, axes, readers)

    report_content_spread(model, segment)

    report_reprojection(model, count, segment, read_by_network)

    sources = sample(model, count, seed=HELD_OUT_SEED + 2)
    print("\nswaps (target <- source part)")
    print(f"{'part':<12}{'silhouette kept':>17}{'silhouette moved':>18}{'colour moved':>14}")
    for part in PARTS:
        scores: SwapScores = swap_scores(model, samples, sources, part, segment)
        print(
            f"{part:<12}{float(scores.silhouette_kept.mean()):17.3f}"
            f"{float(scores.silhouette_moved.mean()):18.3f}{float(scores.colour_moved.mean()):14.3f}"
        )
    print(
        "goals: texture keeps the silhouette (>= 0.9) and moves colour (> 0); "
        "shape moves the silhouette (> 0) and keeps colour (near 0)"
    )
    if figures is not None:
        draw_figures(model, samples, sources, azimuths, figures)


def report_speed(model: StyleGANR, samples: Sample) -> None:
    """Print set_camera's time on the samples beside the reference, one generator forward pass
    on a batch of the same size, and their ratio."""
    generator, count = model.generator, len(samples.image)
    wplus = generator.mean_latent(64).repeat(count, generator.num_ws, 1)
    reference, _ = timed(lambda: generator.synthesis(wplus))
    frame, _ = timed(set_camera, model, samples, azimuth=90.0, elevation=10.0)
    print(f"reference: G forward at batch {count}: {reference:.3f} s")
    print(f"set_camera at batch {count}: {frame:.3f} s (ratio {frame / reference:.2f})")


def report_camera_control(
    model: StyleGANR,
    samples: Sample,
    azimuths: list[float],
    read_by_network: Reader,
    read_by_labeller: Reader,
) -> None:
    """Print |requested − read| azimuth per requested azimuth and over all, as the inverse
    graphics network and the labeller each read the turned samples."""
    errors = camera_control_errors(model, samples, azimuths, read=read_by_network)  # [A, N]
    labeller_errors = camera_control_errors(model, samples, azimuths, read=read_by_labeller)
    print("\ncamera control: |requested - read| azimuth, degrees (goal: median <= 10)")
    print(f"{'requested':>10}{'inverse graphics':>18}{'labeller':>10}")
    for azimuth, ours, theirs in zip(azimuths, errors, labeller_errors, strict=True):
        ours, theirs = float(ours.quantile(0.5)), float(theirs.quantile(0.5))
        print(f"{azimuth:10.0f}{ours:18.1f}{theirs:10.1f}")
    print(f"{'all':>10}  inverse graphics: {summary(errors)}")
    print(f"{'':>10}  labeller:         {summary(labeller_errors)}")


def report_reprojection(model: StyleGANR, count: int, segment: Segmenter, read: Reader) -> None:
    """Print the reprojected mask IoU of ``count`` held-out samples, the 3D check beside it
    (the meshes drawn where another view of the same contents was taken) and the azimuth
    ``read(network, images, ring)`` finds on them against their view labels."""
    generator, network, labels = model.generator, model.inverse_graphics, model.views.labelled()
    content = sample_w(generator, count, seed=HELD_OUT_SEED + 1)

    def draw(views: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        images = generator.synthesis(compose(model.views.codes[views], content, generator.num_ws))
        return images, labels[views], segment(images)

    chosen = torch.arange(count) % len(labels)
    images, cameras, masks = draw(chosen)
    turned_images, turned_cameras, turned_masks = draw(turned_views(labels[:, 0])[chosen])
    iou = mask_iou(reprojected_silhouettes(network, images, cameras), masks)
    turned = mask_iou(reprojected_silhouettes(network, turned_images, turned_cameras), turned_masks)
    other = mask_iou(
        cross_view_silhouettes(network, images, turned_images, turned_cameras), turned_masks
    )
    print("\nreprojected mask IoU on held-out GAN samples (goal: mean >= 0.95)")
    print(f"  {summary(iou)}")
    print("the 3D check: the same contents under the labelled view nearest a quarter turn away")
    print(f"  that view's own meshes:              {summary(turned)}")
    print(f"  the meshes read off the first view:  {summary(other)}")
    ring = azimuth_ring(5.0, float(cameras[:, 1].mean()), float(cameras[:, 2].mean()))
    read_back = read(network, images, ring)
    print(
        "azimuth read off the first views vs their labels: "
        f"{summary(azimuth_difference(read_back, cameras[:, 0]))}"
    )


def report_content_spread(model: StyleGANR, segment: Segmenter, contents: int = 8) -> None:
    """Print how much held-out contents change the samples of each labelled view code."""
    content = sample_w(model.generator, contents, seed=HELD_OUT_SEED + 3)
    images = render_multiview(model.generator, model.views, content)  # [C, V, 3, H, W]
    masks = segment(images.flatten(0, 1)).unflatten(0, images.shape[:2])
    iou, colour = content_spread(images, masks)
    print(f"\nthe multi-view data: {len(iou)} labelled view codes, each under {contents} contents")
    print(f"  silhouette IoU between contents (1: the view code fixes the outline): {summary(iou)}")
    print(
        f"  colour spread across contents (0: the view code fixes the paint):     {summary(colour)}"
    )


def report_view_axes(
    model: StyleGANR, axes: ViewAxes, readers: dict[str, Callable[..., torch.Tensor]]
) -> None:
    """Print each reader's axis errors on GAN samples under the hand-read view codes `axes`;
    ``readers`` maps a name to ``read(images, candidate cameras) -> azimuths``."""
    if axes.checkpoint != model.generator_path:
        print(f"\nview axes skipped: they read {axes.checkpoint}'s view codes")
        return
    codes, truth = axes.view_codes(model.generator)
    labels = model.views.labelled()
    ring = azimuth_ring(5.0, float(labels[:, 1].mean()), float(labels[:, 2].mean()))
    print(f"\nthe readers on GAN samples under {len(codes)} view codes with hand-read axes")
    print("(azimuth mod 180, degrees; the hand readings are good to about 15-20 degrees)")
    for name, read in readers.items():
        errors = view_axis_errors(model.generator, codes, truth, lambda x, r=read: r(x, ring))
        print(f"  {name + ':':<18}{summary(errors)}")


FIGURE_ROWS = 6


def draw_figures(
    model: StyleGANR, samples: Sample, sources: Sample, azimuths: list[float], folder: Path
) -> None:
    """cameras.png (rows: samples, columns: azimuths) and swaps.png (target, source, then
    the target with each of the source's parts), for the first `FIGURE_ROWS` samples."""
    rows = min(FIGURE_ROWS, len(samples.image))
    targets = Sample(codes=samples.codes.first(rows), image=samples.image[:rows])
    donors = Sample(codes=sources.codes.first(rows), image=sources.image[:rows])
    elevation, scale = model.views.labelled()[:, 1:].mean(0).tolist()  # inside camera_range
    views = [
        set_camera(model, targets, azimuth=a, elevation=elevation, scale=scale).image
        for a in azimuths
    ]
    cameras = torch.stack(views, 1).flatten(0, 1)  # [rows * A, 3, H, W], row-major
    swapped = [swap(model, targets, donors, part=part).image for part in PARTS]
    swaps = torch.stack([targets.image, donors.image, *swapped], 1).flatten(0, 1)
    folder.mkdir(parents=True, exist_ok=True)
    save_image(make_grid(cameras.clamp(-1, 1), len(azimuths)), folder / "cameras.png")
    save_image(make_grid(swaps.clamp(-1, 1), 2 + len(PARTS)), folder / "swaps.png")
    print(f"figures: {folder / 'cameras.png'}, {folder / 'swaps.png'}")


if __name__ == "__main__":
    run_script(main)
