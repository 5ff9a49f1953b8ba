"""The StyleGAN2 training loop: `train_gan(data_dir, out_dir, config=..., device=...)`.

One step shows `config.batch` real images to D: a D update (logistic loss), every
`d_reg_every` steps an R1 update, a G update (non-saturating loss, style mixing, random
noise), every `g_reg_every` steps a path-length update when enabled, then the G_ema update.
Snapshots replace `training-state.pt` (resume), `model.safetensors/.json` (ours) and
`model.pt` (the common layout) in `out_dir`, and add a sample grid under `samples/`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from engine.atomic import output_folder
from engine.config import config_changes
from engine.device import gradients_on, resolve_device
from engine.distributed import ProcessGroup, current_process_group
from engine.errors import GANliftError
from engine.progress import ProgressFn, StopFn, no_progress
from engine.stylegan2 import Checkpoint, save_checkpoint, save_pt_checkpoint
from engine.stylegan2.training.config import TrainConfig
from engine.stylegan2.training.data import (
    ImageFolder,
    data_identity,
    find_images,
    read_sample_weights,
    to_model_images,
)
from engine.stylegan2.training.ema import ema_beta, update_ema
from engine.stylegan2.training.latents import LatentDraw, generate
from engine.stylegan2.training.log import JsonlLog, RunningMeans, drop_records_after, read_log
from engine.stylegan2.training.losses import (
    d_logistic_loss,
    g_nonsaturating_loss,
    path_lengths,
    r1_penalty,
)
from engine.stylegan2.training.precision import ResolvedPrecision, autocast, resolve_precision
from engine.stylegan2.training.samples import fixed_latents, write_sample_grid
from engine.stylegan2.training.state import TrainingState, check_can_start_from, read_state_file
from engine.versions import software_versions
from engine.wording import counted

STATE_FILE = "training-state.pt"
MODEL_NAME = "model"
MODEL_FILES = (f"{MODEL_NAME}.safetensors", f"{MODEL_NAME}.json", f"{MODEL_NAME}.pt")
"""The model files a snapshot writes, which a new run in the folder would replace."""
CONFIG_FILE = "config.json"
LOG_FILE = "log.jsonl"
SAMPLES_DIR = "samples"
LATENT_AVG_SAMPLES = 4096


@dataclass
class TrainResult:
    """Where a run stopped and what it wrote."""

    out_dir: Path
    step: int
    kimg: float
    images: int
    """Training images in the data folder."""
    precision: ResolvedPrecision
    state_path: Path
    """The resumable training state."""
    model_path: Path
    """G_ema + D + latent_avg in our safetensors format (its .json beside it)."""
    pt_path: Path
    """The same networks in the common StyleGAN2 `.pt` layout."""
    stopped_early: bool
    """True when `should_stop` ended the run before `config.kimg`."""


@gradients_on("GAN training")
def train_gan(
    data_dir: str | Path,
    out_dir: str | Path,
    *,
    config: TrainConfig,
    device: torch.device | str = "cpu",
    resume: bool = False,
    init_from: Checkpoint | None = None,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
) -> TrainResult:
    """Train (or with `resume`, continue) a StyleGAN2 on the images under `data_dir`.

    A new run may start from `init_from`, a trained model with its discriminator (see
    `TrainingState.start_from`); a run already stored in `out_dir` resumes instead (with
    `resume`), and `init_from`, the command that started it given again, must still fit it.
    Under torch.distributed every process calls this with the same arguments; `config.batch`
    is the global batch, and only rank 0 writes files and reports progress.
    """
    device = resolve_device(device)  # "auto", "cpu", "cuda:1", ... before any file is written
    group = current_process_group(device)
    _check_batch(config, group)
    out = Path(out_dir)
    if out.resolve().is_relative_to(Path(data_dir).resolve()):
        raise GANliftError(
            f"--out {out} lies inside the training folder {data_dir}, so the run's own sample "
            "grids would become training images; choose a folder outside it."
        )
    images = find_images(data_dir)
    weights = None  # [N] sampling weights of `images`, read before --out is made
    if config.sample_weights is not None:
        weights = read_sample_weights(config.sample_weights, data_dir, images)
    data = data_identity(data_dir, images, weights)
    output_folder(out_dir)  # as given: Path("") would be the current folder
    state = TrainingState.create(config, device)
    state_path = out / STATE_FILE
    if state_path.exists():
        if init_from is not None:  # the command that started the run, rerun: it must still fit
            check_can_start_from(init_from, config)
        _resume_into(state, state_path, config, resume)
        _check_same_data(state, data, data_dir, out)
        if state.step > config.total_steps():
            raise _past_the_plan(f"The run in {out}", state.step, config)
    else:
        _check_holds_no_model(out)
        if init_from is not None:
            state.start_from(init_from, config)
            if state.step >= config.total_steps():
                raise _past_the_plan("The model given to start from", state.step, config)
    state.data = data
    report = (progress or no_progress) if group.is_main else no_progress
    dataset = ImageFolder(
        data_dir,
        size=config.size,
        cache_limit_mb=config.cache_limit_mb,
        progress=report,
        should_stop=should_stop,
    )
    precision = resolve_precision(config.precision, device)
    trainer = _Trainer(config, state, dataset, weights, group, device, precision, out)
    if group.is_main:
        config.save_json(out / CONFIG_FILE)
        drop_records_after(out / LOG_FILE, state.step)  # the steps this session does again
    trainer.log.write(
        event="start",
        step=state.step,
        data=str(data_dir),
        images=len(dataset),
        cached=dataset.cached,
        device=str(device),
        precision=precision,
        world_size=group.world_size,
        g_params=_count(state.generator),
        d_params=_count(state.discriminator),
        software=software_versions(),
    )
    stopped = trainer.run(report, should_stop or (lambda: False))
    return TrainResult(
        out_dir=out,
        step=state.step,
        kimg=config.kimg_at(state.step),
        images=len(dataset),
        precision=precision,
        state_path=state_path,
        model_path=out / f"{MODEL_NAME}.safetensors",
        pt_path=out / f"{MODEL_NAME}.pt",
        stopped_early=stopped,
    )


def _check_batch(config: TrainConfig, group: ProcessGroup) -> None:
    """The global batch must split evenly over processes and minibatch-stddev groups."""
    local = config.batch // group.world_size
    if config.batch % group.world_size or local % min(4, local):
        raise GANliftError(
            f"Batch {config.batch} does not split into "
            f"{counted(group.world_size, 'process', 'processes')} with a multiple of 4 images "
            "each (or fewer than 4); choose a --batch that does."
        )


def _resume_into(state: TrainingState, path: Path, config: TrainConfig, resume: bool) -> None:
    """Load a previous run's state, after checking that it may be continued with `config`."""
    if not resume:
        raise GANliftError(
            f"{path.parent} already holds a training run; pass --resume to continue it or "
            "choose another --out folder."
        )
    saved_config, data = read_state_file(path)
    changed = config_changes(saved_config, config, config.fixed_differences(saved_config))
    if changed:
        details = ", ".join(changed)
        raise GANliftError(
            f"Cannot resume {path}: it was trained with other settings ({details}); pass the "
            "same settings or choose another --out folder."
        )
    state.load(data, str(path))


def _check_same_data(
    state: TrainingState, data: dict[str, Any], data_dir: str | Path, out: Path
) -> None:
    """A resumed run must go on with the images it was trained on, drawn with the same weights
    (`data_identity`; for a state written before that was recorded, the image count its log's
    last start recorded)."""
    recorded = state.data or _logged_data(out / LOG_FILE)
    if recorded.get("weights_sha256", data.get("weights_sha256")) != data.get("weights_sha256"):
        raise GANliftError(
            f"Cannot resume the run in {out}: its --sample-weights file holds other weights than "
            "the run was trained with; pass the weights it started with, or train its model on "
            f"these in a new --out folder with --init-from {out / MODEL_FILES[0]}."
        )
    keys = [key for key in ("images", "names_sha256") if key in recorded]
    if any(recorded[key] != data[key] for key in keys):
        raise GANliftError(
            f"Cannot resume the run in {out} with --data {data_dir}: it was trained on "
            f"{recorded['images']} images in {recorded.get('folder', 'its data folder')}, and "
            f"the images here differ ({data['images']} of them, or other names); pass the --data "
            "it was trained on, or train its model on these images in a new --out folder with "
            f"--init-from {out / MODEL_FILES[0]}."
        )


def _logged_data(log: Path) -> dict[str, Any]:
    """The data folder and image count of the last start in a run's log (empty if none)."""
    starts = [record for record in read_log(log) if record.get("event") == "start"]
    if not starts or "images" not in starts[-1]:
        return {}
    return {"images": starts[-1]["images"], "folder": starts[-1].get("data", "its data folder")}


def _check_holds_no_model(out: Path) -> None:
    """A new run must not replace a model it cannot resume (one without a training state),
    unless the folder's log shows that no snapshot of that model was ever finished: the files
    of a first snapshot that a full disk or a kill cut off before its state."""
    models = [name for name in MODEL_FILES if (out / name).exists()]
    records = read_log(out / LOG_FILE)
    first_snapshot_cut_off = bool(records) and not any(
        record.get("event") == "snapshot" for record in records
    )
    if models and not first_snapshot_cut_off:
        raise GANliftError(
            f"{out} already holds a model ({', '.join(models)}) but no {STATE_FILE} to resume; "
            f"choose another --out folder (pass --init-from {out / models[0]} to train that "
            "model further)."
        )


def _past_the_plan(what: str, step: int, config: TrainConfig) -> GANliftError:
    """The refusal of `what` (a run or a starting model) already at `step` of a shorter plan."""
    return GANliftError(
        f"{what} already has {config.kimg_at(step):g} kimg of the {config.kimg:g} planned; "
        "raise --kimg to train it further."
    )


def _count(module: nn.Module) -> int:
    """Number of parameters of `module`."""
    return sum(param.numel() for param in module.parameters())


class _Trainer:
    """The step and snapshot logic of one `train_gan` call."""

    def __init__(
        self,
        config: TrainConfig,
        state: TrainingState,
        dataset: ImageFolder,
        weights: torch.Tensor | None,
        group: ProcessGroup,
        device: torch.device,
        precision: ResolvedPrecision,
        out: Path,
    ) -> None:
        self.config = config
        self.state = state
        self.dataset = dataset
        self.weights = weights  # [N] sampling weights of the images, None: uniform
        self.group = group
        self.device = device
        self.precision = precision
        self.out = out
        self.log = JsonlLog(out / LOG_FILE, enabled=group.is_main)
        self.means = RunningMeans()
        self.total_steps = config.total_steps()
        self.snapshot_steps = max(1, round(config.snapshot_kimg * 1000 / config.batch))
        pl_batch = max(1, config.batch // config.pl_batch_shrink // group.world_size)
        self.pl_batch = pl_batch * group.world_size
        self.sample_z = fixed_latents(config.sample_count, config.style_dim)  # [S, D]

    def run(self, progress: ProgressFn, should_stop: StopFn) -> bool:
        """Step until `config.kimg` or until `should_stop()`; True when stopped early. A run
        resumed finished writes its models when they are missing (its state was copied alone,
        such as a committed compact state)."""
        state, config = self.state, self.config
        if state.step >= self.total_steps and not (self.out / f"{MODEL_NAME}.json").exists():
            self._snapshot()
        losses = ""
        while state.step < self.total_steps:
            start = time.perf_counter()
            self._step()
            self.means.add(sec_per_step=time.perf_counter() - start)  # snapshots not included
            state.step += 1
            stop = self.group.any(should_stop())
            done = state.step >= self.total_steps
            if state.step % config.log_every == 0 or done or stop:
                losses = self._log_window()
            if state.step % self.snapshot_steps == 0 or done or stop:
                self._snapshot()
            kimg = config.kimg_at(state.step)
            progress(state.step, self.total_steps, f"kimg {kimg:.2f} {losses}".rstrip())
            if stop and not done:
                return True
        return False

    def _step(self) -> None:
        """One D update, lazy R1, one G update, lazy path length, EMA."""
        state, config = self.state, self.config
        real = self._real_batch()  # [b, 3, S, S]
        self._discriminator_phase(real)
        if state.step % config.d_reg_every == 0:
            self._r1_phase(real)
        self._generator_phase()
        if config.pl_weight > 0 and state.step % config.g_reg_every == 0:
            self._path_length_phase()
        beta = ema_beta(
            batch=config.batch,
            images_seen=state.step * config.batch,
            half_life_kimg=config.ema_kimg,
            rampup=config.ema_rampup,
        )
        update_ema(state.generator_ema, state.generator, beta)

    def _real_batch(self) -> torch.Tensor:
        """This process's shard of a random global batch of (optionally mirrored) real images."""
        rng, batch = self.state.rng, self.config.batch
        if self.weights is None:
            indices = torch.randint(len(self.dataset), (batch,), generator=rng)
        else:
            indices = torch.multinomial(self.weights, batch, replacement=True, generator=rng)
        flip = torch.rand(batch, generator=rng) < (0.5 if self.config.xflip else 0.0)
        images = self.dataset.batch(self.group.shard(indices))  # [b, 3, S, S] uint8
        return to_model_images(images, self.group.shard(flip), self.device)

    def _draw(self, batch: int) -> LatentDraw:
        """This process's shard of the generator inputs of a global batch."""
        draw = LatentDraw.draw(
            self.state.rng,
            batch=batch,
            generator=self.state.generator,
            mixing_prob=self.config.mixing_prob,
        )
        return draw.shard(self.group, self.device)

    def _train_only(self, module: nn.Module) -> None:
        """Let gradients flow into the parameters of `module` and not into the other network."""
        for network in (self.state.generator, self.state.discriminator):
            network.requires_grad_(network is module)

    def _update(
        self, module: nn.Module, optimizer: torch.optim.Optimizer, loss: torch.Tensor
    ) -> None:
        """Back-propagate `loss` into `module`, average the gradients over processes, step."""
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.group.average_gradients(module)
        optimizer.step()

    def _discriminator_phase(self, real: torch.Tensor) -> None:
        """D learns to score real images high and generated ones low."""
        state = self.state
        self._train_only(state.discriminator)
        draw = self._draw(self.config.batch)
        with torch.no_grad(), autocast(self.precision, self.device):
            fake, _ = generate(state.generator, draw)  # [b, 3, S, S]
        with autocast(self.precision, self.device):
            real_logits = state.discriminator(real)  # [b, 1]
            fake_logits = state.discriminator(fake)  # [b, 1]
        loss = d_logistic_loss(real_logits.float(), fake_logits.float())
        self._update(state.discriminator, state.d_optim, loss)
        self.means.add(
            loss_d=loss,
            real_logit=real_logits.detach().mean(),
            fake_logit=fake_logits.detach().mean(),
        )

    def _r1_phase(self, real: torch.Tensor) -> None:
        """Lazy R1: γ/2·|∇D(real)|², scaled by the interval so that its average weight is γ/2."""
        config, state = self.config, self.state
        self._train_only(state.discriminator)
        real = real.detach().requires_grad_(True)
        with autocast(self.precision, self.device):
            logits = state.discriminator(real)  # [b, 1]
        penalty = r1_penalty(real, logits)
        self._update(
            state.discriminator, state.d_optim, penalty * (config.r1_gamma / 2 * config.d_reg_every)
        )
        self.means.add(r1=penalty)

    def _generator_phase(self) -> None:
        """G learns to make D score its images high (non-saturating loss); D is frozen."""
        state = self.state
        self._train_only(state.generator)
        draw = self._draw(self.config.batch)
        with autocast(self.precision, self.device):
            fake, _ = generate(state.generator, draw)  # [b, 3, S, S]
            logits = state.discriminator(fake)  # [b, 1]
        loss = g_nonsaturating_loss(logits.float())
        self._update(state.generator, state.g_optim, loss)
        self.means.add(loss_g=loss)

    def _path_length_phase(self) -> None:
        """Lazy path-length regularisation on a smaller batch, around a running mean length."""
        config, state = self.config, self.state
        self._train_only(state.generator)
        draw = self._draw(self.pl_batch)
        size = config.size
        direction = torch.randn(self.pl_batch, 3, size, size, generator=state.rng)
        with autocast(self.precision, self.device):
            fake, ws = generate(state.generator, draw)  # [p, 3, S, S], [p, L, D]
        lengths = path_lengths(fake, ws, self.group.shard(direction).to(self.device))  # [p]
        batch_mean = self.group.mean(lengths.detach().mean())
        state.pl_mean = state.pl_mean.lerp(batch_mean, config.pl_decay)
        penalty = (lengths - state.pl_mean).square().mean()
        self._update(
            state.generator, state.g_optim, penalty * (config.pl_weight * config.g_reg_every)
        )
        self.means.add(pl=penalty)

    def _log_window(self) -> str:
        """Write the averaged losses and timings of the last steps; return the losses in short."""
        means = self.means.pop()
        self.log.write(
            step=self.state.step,
            kimg=round(self.config.kimg_at(self.state.step), 3),
            images_per_sec=round(self.config.batch / means["sec_per_step"], 2),
            **{name: round(value, 5) for name, value in means.items()},
        )
        return f"D {means['loss_d']:.3f} G {means['loss_g']:.3f}"

    def _snapshot(self) -> None:
        """Replace the exported models, add a sample grid, then replace the resumable state:
        the state goes last, so a run killed while writing resumes from the snapshot before
        and writes every file of this one again (a finished state means finished files)."""
        if not self.group.is_main:
            return
        state = self.state
        g_ema = state.generator_ema
        rng = torch.Generator().manual_seed(self.config.seed)  # the same z on any device
        latent_avg = g_ema.mean_latent(LATENT_AVG_SAMPLES, generator=rng)[0]  # [D]
        kimg = self.config.kimg_at(state.step)
        extra = {"step": state.step, "kimg": kimg, "trained_by": "python -m engine train-gan"}
        save_checkpoint(
            self.out / MODEL_NAME,
            g_ema,
            discriminator=state.discriminator,
            latent_avg=latent_avg,
            extra=extra,
        )
        save_pt_checkpoint(
            self.out / f"{MODEL_NAME}.pt",
            g_ema,
            discriminator=state.discriminator,
            generator=state.generator,
            latent_avg=latent_avg,
        )
        grid_path = self.out / SAMPLES_DIR / f"step_{state.step:07d}.png"
        write_sample_grid(g_ema, self.sample_z, grid_path)
        state.save(self.out / STATE_FILE, self.config, latent_avg)
        self.log.write(
            event="snapshot", step=state.step, kimg=round(kimg, 3), samples=grid_path.name
        )
