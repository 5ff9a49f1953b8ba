"""A stopped or killed evaluation keeps its scored inversions and fitted coverage reader, and
the same evaluation goes on from them to the figures an uninterrupted one gives."""

from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path

import pytest
import torch

from engine.cli import main
from engine.cli.evaluate import WORK_FILE
from engine.errors import GANliftError, StoppedEarly
from engine.evaluation import CoverageReader, InversionEvaluation, evaluate_inversion
from engine.evaluation.evaluate import EvaluationConfig, evaluate_gan
from engine.evaluation.saved_work import WORK_VERSION, EvaluationWork
from engine.progress import ProgressFn, StopFn
from engine.stylegan2 import save_checkpoint
from engine.synth import SEED_RANGES
from tests.tiny import tiny_generator

CONFIG = EvaluationConfig(
    "face", n_samples=4, n_invert=3, inversion_steps=2, n_train_renders=8, regressor_steps=3,
    grid_samples=2, view_pairs=2,
)  # fmt: skip


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("resume")
    return save_checkpoint(folder / "model", tiny_generator(16, style_dim=16, n_mlp=2))


def _stop_at(marker: str) -> tuple[ProgressFn, StopFn]:
    """A progress function that turns `should_stop` true once a message contains `marker`."""
    stopped = [False]

    def progress(done: int, total: int, message: str) -> None:
        stopped[0] = stopped[0] or marker in message

    return progress, lambda: stopped[0]


def test_continued_inversions_score_as_one_run_and_report_each_finished_image() -> None:
    generator = tiny_generator(16, style_dim=16, n_mlp=2).eval()
    whole = evaluate_inversion(generator, "face", n_images=3, num_steps=2)
    handed: list[list[float]] = []
    first = evaluate_inversion(
        generator, "face", n_images=1, num_steps=2, on_image=lambda s: handed.append(s.psnr)
    )
    rest = evaluate_inversion(
        generator, "face", n_images=3, num_steps=2, done=first,
        on_image=lambda s: handed.append(s.psnr),
    )  # fmt: skip
    assert rest.seeds == whole.seeds and rest.psnr == pytest.approx(whole.psnr)
    torch.testing.assert_close(rest.figure, whole.figure)
    assert handed == [whole.psnr[:1], whole.psnr[:2], whole.psnr]
    assert first.psnr == whole.psnr[:1]  # continuing leaves the given scores alone
    with pytest.raises(GANliftError, match="start it afresh"):
        evaluate_inversion(generator, "face", n_images=3, num_steps=5, done=first)


def _scored(seed: int, size: int) -> InversionEvaluation:
    """One inversion scored in W with 2 steps on test seed `seed`, its figure at `size` px."""
    return InversionEvaluation(
        seeds=[seed], psnr=[20.0], num_steps=2, w_plus=False, optimize_noise=False,
        targets=torch.zeros(1, 3, size, size), reconstructions=torch.zeros(1, 3, size, size),
    )  # fmt: skip


def test_scores_made_on_other_seeds_or_at_another_size_are_not_continued() -> None:
    """Same settings are not enough: continued scores must be of the first seeds asked for, at
    the generator's size, else the run would mix images (or fail in torch.cat)."""
    generator = tiny_generator(16, style_dim=16, n_mlp=2).eval()
    first = SEED_RANGES["test"].start
    for done, message in (
        (
            _scored(first + 5, 16),
            rf"on seeds \[{first + 5}\]\.\.\. at 16 px; .* on seeds \[{first},",
        ),
        (_scored(first, 32), r"at 32 px; this evaluation asks for .* at 16 px: start it afresh"),
    ):
        with pytest.raises(GANliftError, match=message):
            evaluate_inversion(generator, "face", n_images=3, num_steps=2, done=done)


def test_an_image_cut_short_is_scored_but_not_handed_on() -> None:
    generator = tiny_generator(16, style_dim=16, n_mlp=2).eval()
    handed: list[int] = []
    stopped = evaluate_inversion(
        generator, "face", n_images=3, num_steps=2, should_stop=lambda: True,
        on_image=lambda s: handed.append(len(s.psnr)),
    )  # fmt: skip
    assert len(stopped.psnr) == 1 and handed == []


def test_a_coverage_reader_state_reads_as_the_reader_did() -> None:
    generator = tiny_generator(16, style_dim=16, n_mlp=2).eval()
    reader = CoverageReader.fit("car", n_heldout=4, n_train=8, regressor_steps=3)
    again = CoverageReader.from_state(reader.state())
    first, second = reader.read(generator, seed=1), again.read(generator, seed=1)
    torch.testing.assert_close(first.gan_readings, second.gan_readings)
    assert [asdict(label) for label in first.labels] == [asdict(label) for label in second.labels]


def test_saved_work_is_taken_up_only_under_its_key(tmp_path: Path) -> None:
    generator = tiny_generator(16, style_dim=16, n_mlp=2).eval()
    path = tmp_path / "work.pt"
    work = EvaluationWork(path, {"generator": "abc", "settings": {"n": 1}})
    work.inversion = evaluate_inversion(generator, "face", n_images=1, num_steps=1)
    work.seconds["inversion"] = 1.5
    work.save()
    again = EvaluationWork.load(path, {"generator": "abc", "settings": {"n": 1}})
    assert again.inversion.psnr == work.inversion.psnr and again.seconds == {"inversion": 1.5}
    torch.testing.assert_close(again.inversion.figure, work.inversion.figure)
    other = EvaluationWork.load(path, {"generator": "def", "settings": {"n": 1}})
    assert other.inversion is None and other.reader is None and other.seconds == {}
    path.write_bytes(b"not a torch file")
    with pytest.raises(GANliftError, match="is not an evaluation's saved work; remove it"):
        EvaluationWork.load(path, work.key)


def test_an_evaluation_stopped_in_its_inversions_goes_on_to_the_uninterrupted_figures(
    checkpoint: Path, tmp_path: Path
) -> None:
    whole = evaluate_gan(checkpoint, CONFIG).summary()
    first = SEED_RANGES["test"].start
    assert whole["inversion"]["seeds"] == [first, first + 2]  # first and last of 3
    work_file = tmp_path / "work.pt"
    progress, should_stop = _stop_at("inversion 2/3")
    with pytest.raises(StoppedEarly, match=f"kept in {work_file} \\(1 scored inversion\\)"):
        evaluate_gan(checkpoint, CONFIG, work_file=work_file, progress=progress,
                     should_stop=should_stop)  # fmt: skip
    progress_seen: list[str] = []
    again = evaluate_gan(
        checkpoint, CONFIG, work_file=work_file,
        progress=lambda done, total, message: progress_seen.append(message),
    ).summary()  # fmt: skip
    assert not any(message.startswith("inversion 1/3") for message in progress_seen)
    assert again["inversion"]["psnr_db"] == pytest.approx(whole["inversion"]["psnr_db"])
    assert again["coverage"]["labels"] == whole["coverage"]["labels"]


def test_an_evaluation_stopped_in_its_coverage_keeps_the_inversions_only(
    checkpoint: Path, tmp_path: Path
) -> None:
    work_file = tmp_path / "work.pt"
    progress, should_stop = _stop_at("coverage regressor")
    with pytest.raises(StoppedEarly, match=r"regressor's fit; .* \(3 scored inversions\)"):
        evaluate_gan(checkpoint, CONFIG, work_file=work_file, progress=progress,
                     should_stop=should_stop)  # fmt: skip
    evaluate_gan(checkpoint, CONFIG, work_file=work_file)  # fits the reader and saves it
    with_reader = torch.load(work_file, weights_only=True)
    assert with_reader["reader"] is not None and len(with_reader["inversion"]["psnr"]) == 3
    assert set(with_reader["seconds"]) == {"inversion", "coverage"}


def test_evaluate_gan_goes_on_from_its_work_file_and_removes_it_when_done(
    checkpoint: Path, tmp_path: Path
) -> None:
    out = tmp_path / "eval"
    progress, should_stop = _stop_at("inversion 3/3")
    with pytest.raises(StoppedEarly):
        evaluate_gan(checkpoint, CONFIG, work_file=out / WORK_FILE, progress=progress,
                     should_stop=should_stop)  # fmt: skip
    kept = torch.load(out / WORK_FILE, weights_only=True)["inversion"]["psnr"]
    settings = ["--n-samples", "4", "--n-invert", "3", "--steps", "2", "--train-renders", "8",
                "--regressor-steps", "3"]  # fmt: skip
    code = main(["evaluate-gan", str(checkpoint), "--category", "face", "--out", str(out),
                 *settings])  # fmt: skip
    assert code == 0 and not (out / WORK_FILE).exists()
    summary = (out / "evaluation.json").read_text()
    assert len(kept) == 2 and all(f"{value}" in summary for value in kept)


@pytest.mark.parametrize(
    ("marker", "stage", "kept"),
    [
        ("train renders", "the coverage regressor's fit", "3 scored inversions"),
        ("GAN samples", "the coverage;", "3 scored inversions and the fitted coverage reader"),
        ("view layers", "the view-swap analysis", "and the fitted coverage reader"),
    ],
)
def test_a_stop_in_any_later_stage_ends_the_evaluation_keeping_its_work(
    checkpoint: Path, tmp_path: Path, marker: str, stage: str, kept: str
) -> None:
    """Renders, the GAN samples' reading and the view swap all heed a stop (the renders of
    the regressor's training set take minutes at the protocol's 64,000)."""
    config = replace(CONFIG, n_train_renders=300)  # three batches of renders
    progress, should_stop = _stop_at(marker)
    seen: list[str] = []

    def watched(done: int, total: int, message: str) -> None:
        seen.append(message)
        progress(done, total, message)

    with pytest.raises(StoppedEarly, match=f"stopped during {stage}.*{kept}"):
        evaluate_gan(checkpoint, config, work_file=tmp_path / "work.pt", progress=watched,
                     should_stop=should_stop)  # fmt: skip
    if marker == "train renders":  # stopped after its first batch, not after all of them
        assert sum(message.startswith("coverage train renders") for message in seen) == 1


def test_time_spent_before_a_stop_stays_counted(checkpoint: Path, tmp_path: Path) -> None:
    work_file = tmp_path / "work.pt"
    progress, should_stop = _stop_at("inversion 3/3")
    with pytest.raises(StoppedEarly):
        evaluate_gan(checkpoint, CONFIG, work_file=work_file, progress=progress,
                     should_stop=should_stop)  # fmt: skip
    kept = torch.load(work_file, weights_only=True)
    kept["seconds"]["inversion"] = 1000.0  # as if the first two images had taken that long
    torch.save(kept, work_file)
    summary = evaluate_gan(checkpoint, CONFIG, work_file=work_file).summary()
    assert 1000.0 <= summary["seconds"]["inversion"] < 1100.0


def test_work_of_another_key_replaces_the_file_when_it_saves(tmp_path: Path) -> None:
    """An evaluation under a new key starts afresh and its saves replace the old key's work."""
    path = tmp_path / "work.pt"
    old = EvaluationWork(path, {"generator": "abc"})
    old.seconds["inversion"] = 1.5
    old.save()
    new = EvaluationWork.load(path, {"generator": "def"})
    assert new.path == path and new.seconds == {}
    new.seconds["coverage"] = 2.0
    new.save()
    assert EvaluationWork.load(path, {"generator": "def"}).seconds == {"coverage": 2.0}
    assert EvaluationWork.load(path, {"generator": "abc"}).seconds == {}


def test_a_torch_file_of_another_kind_or_version_is_refused_as_saved_work(tmp_path: Path) -> None:
    """Only a saved work of this version is taken up; any other torch dict is named, not read."""
    path = tmp_path / "work.pt"
    key = {"generator": "abc"}
    work = EvaluationWork(path, key)
    work.save()
    newer = torch.load(path, weights_only=True) | {"version": WORK_VERSION + 1}
    for kept in ({"step": 3}, newer):
        torch.save(kept, path)
        with pytest.raises(GANliftError, match="is not an evaluation's saved work; remove it"):
            EvaluationWork.load(path, key)


def test_work_with_nothing_finished_says_nothing_was_written(tmp_path: Path) -> None:
    """A stop before any stage finished keeps nothing, and the message says so."""
    assert EvaluationWork(tmp_path / "work.pt", {"generator": "abc"}).kept() == (
        "nothing was written."
    )
    assert EvaluationWork(None, {"generator": "abc"}).kept() == "nothing was written."
