"""The model card: a Markdown page with the data recipe, the training run, the sample grid
and every evaluation figure with pass / fail against issue 5's goals."""

from __future__ import annotations

from pathlib import Path

from engine.evaluation.coverage import COVERAGE_GOAL, azimuth_reading
from engine.evaluation.evaluate import GanEvaluation, shown_path
from engine.evaluation.inversion_psnr import PSNR_GOAL_DB
from engine.evaluation.view_swap import SCORE_GOAL
from engine.synth import SEED_RANGES

FIGURE_FILES = {
    "samples": "samples.png",
    "inversion": "inversion.png",
    "view_swap": "view_swap.png",
    "view_layers": "view_layers.png",
}
"""File name of each figure, relative to the card."""


def model_card(evaluation: GanEvaluation, out_dir: Path) -> str:
    """The card of `evaluation`, written into `out_dir`, as Markdown; figures are linked by
    `FIGURE_FILES` names, and its command writes the card to `out_dir` again."""
    sections = [
        _title(evaluation),
        _data(evaluation),
        _training(evaluation),
        _samples(),
        _goals(evaluation),
        _coverage(evaluation),
        _figures(evaluation),
        _settings(evaluation, out_dir),
        _limitations(evaluation),
    ]
    return "\n\n".join(section.strip() for section in sections) + "\n"


def _verdict(passed: bool) -> str:
    return "**pass**" if passed else "**FAIL**"


def _title(evaluation: GanEvaluation) -> str:
    training, size = evaluation.training, evaluation.generator_size
    name = training.run_dir.name if training.run_dir is not None else evaluation.checkpoint.stem
    lines = [
        f"# Model card: {name} ({evaluation.config.category}, StyleGAN2 {size}×{size})",
        "",
        f"Checkpoint `{shown_path(evaluation.checkpoint)}`, {evaluation.num_ws} W+ layers.",
    ]
    if training.stopped_early:
        lines += [
            "",
            f"> **Stopped early.** The run was stopped at {training.snapshot_kimg:g} of the "
            f"{training.target_kimg:g} kimg it planned (the CPU time went elsewhere); resuming "
            "it continues from this snapshot.",
        ]
    if training.still_training:
        planned = f"{training.target_kimg:g}" if training.target_kimg is not None else "?"
        lines += [
            "",
            f"> **Work in progress.** These figures come from a snapshot at "
            f"{training.snapshot_kimg:g} kimg of a run planned for {planned} kimg that is still "
            "training; they will change when the final model is evaluated.",
        ]
    return "\n".join(lines)


def _data(evaluation: GanEvaluation) -> str:
    category, dataset = evaluation.config.category, evaluation.training.dataset
    test = SEED_RANGES["test"]
    lines = [
        "## Data",
        "",
        f"Procedural synthetic {category}s from `engine.synth`: random identity, view, light "
        "and background per seed, rendered through GAN2Shape's camera with Lambertian shading.",
        "",
    ]
    if dataset is not None:
        last = dataset.first_seed + dataset.count - 1
        lines += [
            f"- {dataset.count} images at {dataset.size}×{dataset.size}, {dataset.split} seeds "
            f"{dataset.first_seed}–{last}, from `{evaluation.training.data_dir}`",
            f"- recipe: `python -m engine synth --category {category} --n {dataset.count} "
            f"--seed {dataset.first_seed} --size {dataset.size} --out "
            f"{_dataset_root(evaluation)}`",
        ]
    else:
        lines.append("- data set: not found beside the run (no synth.json)")
    lines.append(
        f"- every evaluation image uses test seeds ({test.start}–{test.stop - 1}), never trained on"
    )
    return "\n".join(lines)


def _dataset_root(evaluation: GanEvaluation) -> str:
    data_dir = evaluation.training.data_dir or ""
    return data_dir.removesuffix("/images")


def _training(evaluation: GanEvaluation) -> str:
    training = evaluation.training
    if training.run_dir is None:
        return (
            "## Training\n\nNo run folder (config.json, log.jsonl) was found for this checkpoint."
        )
    hours = training.wall_time_s / 3600 if training.wall_time_s is not None else None
    planned = f" of {training.target_kimg:g} planned" if training.target_kimg is not None else ""
    lines = [
        f"- command: `{training.train_command}`"
        + (
            f" (what `scripts/train_default.sh {evaluation.config.category}` runs)"
            if training.run_dir.name == f"default-{evaluation.config.category}"
            else ""
        ),
        (
            f"- snapshot: step {training.snapshot_step}, {training.snapshot_kimg:g} kimg{planned}"
            if training.snapshot_kimg is not None
            else f"- snapshot: not recorded in the checkpoint (a `.pt` keeps no step){planned}"
        ),
        f"- wall time to this snapshot: {hours:.2f} h" if hours is not None else "",
        f"- device: {training.device}, precision {training.precision}, "
        f"{training.sessions} session(s)",
    ]
    if training.latest_kimg is not None and training.snapshot_kimg is None:
        lines.append(f"- the run's log reaches {training.latest_kimg:g} kimg")
    elif training.latest_kimg is not None and training.still_training:
        lines.append(f"- the run's log has reached {training.latest_kimg:g} kimg since")
    return "## Training\n\n" + "\n".join(line for line in lines if line)


def _samples() -> str:
    return (
        "## Samples\n\n"
        f"![samples]({FIGURE_FILES['samples']})\n\n"
        "Goal: recognisable objects, varied in identity, colour, viewpoint and lighting — "
        "judged by a person from this grid (untruncated samples)."
    )


def _goals(evaluation: GanEvaluation) -> str:
    inversion, view_swap = evaluation.inversion, evaluation.view_swap
    transfer, kept = view_swap.chosen_scores
    space = "W+" if inversion.w_plus else "W"
    rows = [
        "## Goals",
        "",
        "| Goal | Measured | Target | Result |",
        "| --- | --- | --- | --- |",
        f"| Inversion PSNR in {space}, {len(inversion.psnr)} held-out renders, "
        f"{inversion.num_steps} steps | {inversion.mean_psnr:.2f} ± {inversion.std_psnr:.2f} dB "
        f"| ≥ {PSNR_GOAL_DB:g} dB | {_verdict(inversion.passed)} |",
    ]
    rows += [
        f"| Coverage: GAN / data std of {label.name} | {label.ratio:.2f} | "
        f"≥ {COVERAGE_GOAL:g} | {_verdict(label.passed)} |"
        for label in evaluation.coverage.labels
        if label.gated
    ]
    rows.append(
        f"| Viewpoint in early W+ layers | first {view_swap.num_view_layers} of "
        f"{view_swap.num_ws} layers; view transfer {transfer:.2f}, appearance kept {kept:.2f} "
        f"| ≤ {view_swap.num_ws // 2} layers, both ≥ {SCORE_GOAL:g} | "
        f"{_verdict(view_swap.passed)} |"
    )
    rows.append("| Samples recognisable and varied | see the grid | a person's judgement | — |")
    return "\n".join(rows)


def _coverage(evaluation: GanEvaluation) -> str:
    coverage = evaluation.coverage
    rows = [
        "## Coverage",
        "",
        f"A small CNN learnt the labels from {coverage.n_train} training renders, then read "
        f"them off {coverage.n_gan} untruncated GAN samples and {coverage.n_data} held-out "
        "renders. R² is the regressor's accuracy on the held-out renders' true labels.",
        "",
        "| Label | Data mean ± std | GAN mean ± std | GAN / data std | Regressor R² |",
        "| --- | --- | --- | --- | --- |",
    ]
    rows += [
        f"| {label.name}{' (goal)' if label.gated else ''} | {label.data_mean:.3g} ± "
        f"{label.data_std:.3g} | {label.gan_mean:.3g} ± {label.gan_std:.3g} | "
        f"{label.ratio:.2f} | {label.heldout_r2:.2f} |"
        for label in coverage.labels
    ]
    angle = azimuth_reading(coverage)
    if angle is not None:
        rows += [
            "",
            f"Read as an angle (the direction of each (cos, sin) reading), the GAN's azimuths "
            f"spread {angle.angle_ratio:.2f} as widely as the renders'. The length of a reading "
            f"is the regressor's certainty: median {angle.gan_length:.2f} on GAN samples, "
            f"{angle.data_length:.2f} on renders; a shorter one shrinks the cos / sin spread "
            "above without narrowing the views (a car whose front is not told from its back).",
        ]
    return "\n".join(rows)


def _figures(evaluation: GanEvaluation) -> str:
    return (
        "## Figures\n\n"
        "Inversion — held-out renders (top) and their reconstructions from W (bottom):\n\n"
        f"![inversion]({FIGURE_FILES['inversion']})\n\n"
        f"View swap — each cell is the sample on the left with the first "
        f"{evaluation.view_swap.num_view_layers} W+ layers of the sample above:\n\n"
        f"![view swap]({FIGURE_FILES['view_swap']})\n\n"
        "View-layer analysis — per row: content, view donor, then the mix for every number "
        "of swapped layers (the chosen one underlined in green):\n\n"
        f"![view layers]({FIGURE_FILES['view_layers']})"
    )


def _settings(evaluation: GanEvaluation, out_dir: Path) -> str:
    config = evaluation.config
    lines = [
        "## Evaluation settings",
        "",
        f"`python -m engine evaluate-gan {shown_path(evaluation.checkpoint)} "
        f"--category {config.category} --out {shown_path(out_dir)} "
        f"--n-samples {config.n_samples} --n-invert {config.n_invert} "
        f"--steps {config.inversion_steps} --train-renders {config.n_train_renders} "
        f"--regressor-steps {config.regressor_steps} --seed {config.seed}`",
        "",
        "Wall time: "
        + ", ".join(f"{name} {seconds:g} s" for name, seconds in evaluation.seconds.items()),
    ]
    if not config.follows_protocol:
        lines += [
            "",
            "> **Short settings.** Fewer samples or inversions than the issue's protocol "
            "(1000 samples, 50 inversions); treat the figures as a smoke test.",
        ]
    return "\n".join(lines)


def _limitations(evaluation: GanEvaluation) -> str:
    lines = [
        "## Known limitations",
        "",
        "- Trained only on this project's procedural world: photographs are out of domain, "
        "and inverting them will reach far lower PSNR than the synthetic renders here.",
        f"- {evaluation.generator_size}×{evaluation.generator_size} pixels: fine detail "
        "(hair strands, eyes, car badges) is absent.",
        "- Coverage is read by a regressor trained on renders; on GAN samples that look unlike "
        "any render its readings are less certain than its held-out R² suggests, and an "
        "unconverged GAN's noise can read as a wide spread (a ratio above 1 with a shifted "
        "mean): judge the ratios together with the sample grid.",
        "- The view-swap criterion reads viewpoints with the coverage regressor (so it inherits "
        "its R² above) and appearance as colour statistics; it is a relative test (is the mix's "
        "view nearer the donor's or the content's?), not a camera measured in degrees.",
    ]
    if evaluation.config.category == "car":
        lines.append(
            "- Cars look alike from front and back at this size, so azimuth readings fold "
            "towards the side views for both the GAN and the data."
        )
    if evaluation.training.still_training:
        lines.append("- The snapshot is from a run that is still training.")
    return "\n".join(lines)
