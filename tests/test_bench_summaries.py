"""The benchmarks' summary lines say what they name: a median of an even count is the mean of
its middle pair (the StyleGAN-R camera goal is a median of 288 errors)."""

from __future__ import annotations

import contextlib
import json
import math
import sys
import tempfile
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

import bench.app
import bench.coverage
import bench.gan2shape
import bench.load
import bench.render
import bench.stylegan2
import bench.styleganr
import bench.synth
import bench.train
import bench.upload
import engine.benchmarks.gan2shape_rows as gan2shape_rows_module
from bench.styleganr import summary
from engine.benchmarks.gan2shape_rows import without_symmetry
from engine.benchmarks.shape import ShapeBenchmarkSettings
from engine.gan2shape import fast_preset, get_preset
from tests.tiny import tiny_generator


def test_the_camera_summary_s_median_of_an_even_count_is_the_middle_pair_s_mean() -> None:
    line = summary(torch.tensor([[1.0, 9.0], [3.0, 5.0]]))
    assert line.startswith("median  4.000  mean  4.500  p90 ")


class FakeClock:
    """A `time` stand-in whose clocks advance by scripted steps: each call to a clock returns
    the next value of its list."""

    def __init__(self, perf: list[float], process: list[float] | None = None) -> None:
        self._perf, self._process = iter(perf), iter(process or [])

    def perf_counter(self) -> float:
        return next(self._perf)

    def process_time(self) -> float:
        return next(self._process)

    def monotonic(self) -> float:
        return 0.0


def spans(durations: list[float]) -> list[float]:
    """Start/stop readings of consecutive timed runs lasting `durations`."""
    readings, now = [], 0.0
    for duration in durations:
        readings += [now, now + duration]
        now += duration + 1
    return readings


def run_main(module, monkeypatch, argv: list[str]) -> None:
    """`module.main()` under `argv`, leaving torch's thread count as it was."""
    monkeypatch.setattr(sys, "argv", ["prog", *argv])
    monkeypatch.setattr(torch, "set_num_threads", lambda threads: None)
    module.main()


def test_synth_timings_are_the_fastest_wall_and_cpu_runs_after_a_warm_up(monkeypatch) -> None:
    """bench.synth's best time: the minimum wall and CPU seconds of the runs after the warm-up."""
    calls = []
    monkeypatch.setattr(
        bench.synth, "time", FakeClock(spans([3.0, 1.0, 2.0]), spans([6.0, 5.0, 4.0]))
    )
    timing = bench.synth._best_time(lambda: calls.append(1), 3)
    assert len(calls) == 4
    assert (timing.wall, timing.cpu) == (1.0, 4.0)


def test_synth_rows_divide_by_the_batch_and_the_raster_cpu_time(monkeypatch, capsys) -> None:
    """bench.synth's row: images/s of wall time, CPU ms per image, ratio = end-to-end / raster."""
    total, raster = bench.synth.Timing(wall=0.5, cpu=1.0), bench.synth.Timing(wall=0.25, cpu=0.25)
    monkeypatch.setattr(bench.synth, "measure", lambda *args: (total, raster))
    run_main(bench.synth, monkeypatch, ["--batch", "4", "--sizes", "16", "--threads", "1"])
    row = capsys.readouterr().out.splitlines()[2].split()
    assert row == ["face", "16", "8.0", "250.00", "16.0", "62.50", "4.00"]


def test_synth_reference_rasterizes_the_same_scenes_at_the_same_size(monkeypatch) -> None:
    """bench.synth's raster reference draws the batch render_samples renders, at its size."""
    seen: dict[str, object] = {}
    monkeypatch.setattr(bench.synth, "_best_time", lambda action, repeats: action())
    monkeypatch.setattr(
        bench.synth, "render_samples",
        lambda category, seeds, size: seen.update(seeds=list(seeds), size=size),
    )  # fmt: skip
    monkeypatch.setattr(
        bench.synth, "rasterize",
        lambda clip, faces, resolution: seen.update(clip=clip.shape, resolution=resolution),
    )  # fmt: skip
    bench.synth.measure("face", 16, 3, 1)
    assert seen["seeds"] == [0, 1, 2] and seen["size"] == 16
    assert seen["clip"][0] == 3 and seen["resolution"] == (16, 16)


def test_stylegan2_time_is_the_median_of_the_runs_after_a_warm_up(monkeypatch) -> None:
    """bench.stylegan2's time_ms: the median in ms of the timed calls, the warm-up left out."""
    calls = []
    monkeypatch.setattr(bench.stylegan2, "time", FakeClock(spans([0.001, 0.004, 0.002])))
    assert bench.stylegan2.time_ms(lambda: calls.append(1), 3) == pytest.approx(2.0)
    assert len(calls) == 4


def test_stylegan2_steps_backpropagate_only_when_asked() -> None:
    """A fwd+bwd step of bench.stylegan2 leaves gradients on the weights; a forward one none."""
    G = tiny_generator(8)
    bench.stylegan2.make_step(G, 2, backward=False, bf16=False)()
    assert all(p.grad is None for p in G.parameters())
    bench.stylegan2.make_step(G, 2, backward=True, bf16=False)()
    assert any(p.grad is not None for p in G.parameters())


def test_stylegan2_rows_are_per_image_and_reference_over_fast(monkeypatch, capsys) -> None:
    """bench.stylegan2 times the reference ops against the fast ones, per image, ratio ref/fast."""
    monkeypatch.setattr(bench.stylegan2, "bf16_supported", lambda device: False)
    monkeypatch.setattr(
        bench.stylegan2, "make_step", lambda G, batch, backward, bf16: (G.impl, batch)
    )
    per_image = {"reference": 8.0, "fast": 2.0}
    monkeypatch.setattr(
        bench.stylegan2, "time_ms", lambda step, repeats: per_image[step[0]] * step[1]
    )
    run_main(bench.stylegan2, monkeypatch, ["--size", "8"])
    rows = capsys.readouterr().out.splitlines()[2:]
    assert len(rows) == 4
    assert all(row.split()[-3:] == ["8.0", "2.0", "4.00x"] for row in rows)


def test_render_timed_returns_the_median_then_the_best(monkeypatch) -> None:
    """bench.render's timed: (median, best) milliseconds of the runs after a warm-up."""
    calls = []
    monkeypatch.setattr(bench.render, "time", FakeClock(spans([0.001, 0.004, 0.002])))
    assert bench.render.timed(lambda: calls.append(1), 3) == pytest.approx((2.0, 1.0))
    assert len(calls) == 4


def test_render_rows_are_medians_over_open3d_s_median_on_the_same_mesh(monkeypatch) -> None:
    """bench.render's ratio column is a row's median / Open3D's median, Open3D casting the
    whole mesh that is rasterized."""
    cast: dict[str, int] = {}
    times = iter([(10.0, 5.0), (20.0, 1.0), (30.0, 2.0), (40.0, 3.0)])

    def fake_timed(function, repeats):
        function()
        return next(times)

    monkeypatch.setattr(bench.render, "timed", fake_timed)
    monkeypatch.setattr(
        bench.render, "open3d_cast", lambda points, faces, rays: cast.update(faces=len(faces))
    )
    table = bench.render.depth_map_rows(8, 1)
    assert [row[1:] for row in table] == [
        (10.0, 5.0, 1.0), (20.0, 1.0, 2.0), (30.0, 2.0, 3.0), (40.0, 3.0, 4.0),
    ]  # fmt: skip
    assert cast["faces"] == len(bench.render.grid_faces(8, 8))


def test_render_main_measures_both_resolutions(monkeypatch, capsys) -> None:
    """bench.render prints the depth-map rows of 128² and of 256²."""
    sizes = []
    monkeypatch.setattr(
        bench.render, "depth_map_rows", lambda size, repeats: sizes.append(size) or []
    )
    monkeypatch.setattr(bench.render, "throughput_rows", lambda repeats: [])
    run_main(bench.render, monkeypatch, ["--repeats", "1"])
    assert sizes == [128, 256]


def test_app_report_prints_the_median_and_the_90th_percentile(capsys) -> None:
    """bench.app's report: median and p90 of the frame times, returning the median."""
    times = [float(value) for value in range(1, 12)]  # p90 of 1..11: 10.8
    assert bench.app.report("case", times) == 6.0
    assert capsys.readouterr().out.split()[-5:-1] == ["6.00", "ms", "p90", "10.80"]


def test_app_times_each_frame_after_two_warm_ups(monkeypatch) -> None:
    """bench.app's time_frames: ms of each of `frames` calls, two untimed calls first."""
    calls = []
    monkeypatch.setattr(bench.app, "time", FakeClock(spans([0.001, 0.003, 0.002])))
    assert bench.app.time_frames(calls.append, 3) == pytest.approx([1.0, 3.0, 2.0])
    assert calls == [0, 1, 0, 1, 2]


def test_app_engine_reference_draws_the_handler_s_views_and_ratio_is_handler_over_engine(
    monkeypatch, capsys
) -> None:
    """bench.app's engine reference renders the slider frames' azimuth, elevation and light,
    and the printed ratio is handler / engine."""
    recovery = SimpleNamespace(depth=torch.zeros(1, 8, 8))
    session = SimpleNamespace(require_recovery=lambda: recovery)
    handler, engine = [], []
    monkeypatch.setattr(bench.app, "build_session", lambda folder: session)
    monkeypatch.setattr(
        bench.app.reconstruct, "render",
        lambda session, azimuth, elevation, x, y, ambient, diffuse, gan: handler.append(
            (azimuth, elevation, ambient, diffuse, x, y)
        ),
    )  # fmt: skip
    monkeypatch.setattr(
        bench.app, "render_view",
        lambda recovery, azimuth, elevation, light: engine.append(
            (azimuth, elevation, *light[0].tolist())
        ),
    )  # fmt: skip
    medians = iter([[30.0], [10.0], [5.0]])
    monkeypatch.setattr(
        bench.app,
        "time_frames",
        lambda frame, frames: [frame(i) for i in range(frames)] and next(medians),
    )
    monkeypatch.setattr(bench.app, "report", lambda name, times: times[0])
    run_main(bench.app, monkeypatch, ["--frames", "12", "--threads", "1"])
    torch.testing.assert_close(torch.tensor(engine), torch.tensor(handler[:12]))
    assert "handler / engine: 3.00x" in capsys.readouterr().out


def test_upload_times_from_the_file_s_load_to_the_first_view(monkeypatch) -> None:
    """bench.upload's seconds run from loading the upload, through a fast reconstruction, to
    the first rendered frame."""
    events = []
    clock = iter([10.0, 25.0])

    class Clock:
        @staticmethod
        def perf_counter() -> float:
            events.append("clock")
            return next(clock)

    class FakeSession:
        def __init__(self, context) -> None:
            pass

        def status(self) -> str:
            return "done"

    monkeypatch.setattr(bench.upload, "time", Clock)
    monkeypatch.setattr(bench.upload, "Session", FakeSession)
    monkeypatch.setattr(bench.upload.reconstruct, "load_input", lambda *a: events.append("load"))
    monkeypatch.setattr(
        bench.upload.reconstruct, "reconstruct", lambda s, mode: events.append(mode)
    )
    monkeypatch.setattr(bench.upload.reconstruct, "render", lambda *a: events.append("render"))
    assert bench.upload.upload_seconds(None, Path("photo.png")) == (15.0, "done")
    assert events == ["clock", "load", "fast", "render", "clock"]


def test_upload_ratios_are_each_upload_over_the_reference(monkeypatch, capsys) -> None:
    """bench.upload prints each upload's seconds and seconds / the reference's."""
    monkeypatch.setattr(bench.upload, "load_model", lambda name, preset: None)
    monkeypatch.setattr(bench.upload, "reference_seconds", lambda model, bf16: 2.0)
    monkeypatch.setattr(bench.upload, "ModelStore", lambda device: None)
    monkeypatch.setattr(bench.upload, "TorchViewer", lambda: None)
    monkeypatch.setattr(bench.upload, "AppContext", lambda *args: None)
    monkeypatch.setattr(bench.upload, "portrait", lambda path: path)
    uploads = iter([(9.0, "first"), (5.0, "second")])
    monkeypatch.setattr(bench.upload, "upload_seconds", lambda context, photo: next(uploads))
    run_main(bench.upload, monkeypatch, ["--threads", "1"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[3].split()[-2:] == ["9.00", "4.5"] and lines[4].split()[-2:] == ["5.00", "2.5"]
    assert lines[5] == "second"


def test_train_drops_the_first_log_window(monkeypatch, tmp_path) -> None:
    """bench.train's windows are the log's sec_per_step records but the first (warm-up)."""
    log = [{"sec_per_step": 9.0}, {"kimg": 1}, {"sec_per_step": 1.0}, {"sec_per_step": 2.0}]

    def fake_train(data, out, config, device) -> None:
        out.mkdir()
        (out / "log.jsonl").write_text("\n".join(json.dumps(record) for record in log))

    monkeypatch.setattr(bench.train, "train_gan", fake_train)
    assert bench.train.seconds_per_step(tmp_path, tmp_path / "run", None) == [1.0, 2.0]


def test_train_runs_each_precision_long_enough_and_reports_the_median(
    monkeypatch, tmp_path, capsys
) -> None:
    """bench.train trains warm-up + steps (whole windows) at --batch, and prints the median
    s/step, img/s and fp32 / precision."""
    configs = []
    windows = {"fp32": [1.0, 1.0, 4.0], "bf16": [0.5, 0.5, 2.0]}

    def fake_seconds(data, out, config):
        configs.append(config)
        return windows[config.precision]

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(bench.train, "write_random_images", lambda *args: None)
    monkeypatch.setattr(bench.train, "seconds_per_step", fake_seconds)
    run_main(bench.train, monkeypatch, ["--steps", "5", "--warmup", "2", "--batch", "4"])
    assert [(c.batch, c.log_every) for c in configs] == [(4, 2), (4, 2)]
    assert configs[0].kimg * 1000 == pytest.approx(8 * 4)  # 2 warm-up + 3 windows of 2 steps
    rows = capsys.readouterr().out.splitlines()[2:]
    assert [row.split() for row in rows] == [
        ["fp32", "1.000", "4.0", "1.00x"], ["bf16", "0.500", "8.0", "2.00x"],
    ]  # fmt: skip


def test_styleganr_timed_keeps_the_best_call(monkeypatch) -> None:
    """bench.styleganr's timed: the fastest of its calls, and the last result."""
    results = iter(["a", "b", "c"])
    monkeypatch.setattr(bench.styleganr, "time", FakeClock(spans([2.0, 1.0, 3.0])))
    assert bench.styleganr.timed(lambda: next(results)) == (1.0, "c")


def test_load_percentiles_and_request_count() -> None:
    """bench.load's table: requests over every endpoint, inclusive p50 / p90 per endpoint."""
    report = bench.load.LoadReport(
        sessions=2, seconds=1.0, errors=[], leaks=0, rss_start=0, rss_end=0,
        latencies={"/a": [0.001 * v for v in range(1, 12)], "/b": [0.005]},
    )  # fmt: skip
    assert report.requests == 12
    assert bench.load._percentile([1.0, 2.0, 3.0, 4.0, 5.0], 90) == pytest.approx(4.6)
    lines = report.table().splitlines()
    assert lines[0] == "2 sessions, 1 s: 12 requests, 0 errors, 0 leaks"
    assert lines[3].split() == ["/a", "11", "6.0", "10.0"]
    assert lines[4].split() == ["/b", "1", "5.0", "5.0"]


def test_load_totals_add_every_session_s_leaks_and_count_crashed_ones(
    monkeypatch, tmp_path
) -> None:
    """bench.load's run_load sums the sessions' leaks and reports a session that crashed."""

    def fake_session(url, index, sessions, folder, *, deadline, renders):
        if index == 2:
            raise RuntimeError("crash")
        return bench.load.SessionLog(latencies={"/x": [0.1]}, leaks=index + 1)

    server = SimpleNamespace(url="http://x/", rss_bytes=lambda: 0)
    monkeypatch.setattr(bench.load, "run_session", fake_session)
    monkeypatch.setattr(threading, "excepthook", lambda args: None)
    report = bench.load.run_load(server, tmp_path, sessions=3, seconds=0, renders=0)
    assert report.leaks == 3 and report.errors == ["session 2 crashed"]
    assert report.latencies == {"/x": [0.1, 0.1]}


def test_gan2shape_reference_is_the_best_pass_at_the_preset_s_batch(monkeypatch) -> None:
    """bench.gan2shape's reference: the fastest G forward+backward on preset.batch_size latents."""
    batches = []

    def synthesis(latents: torch.Tensor) -> torch.Tensor:
        batches.append(latents.shape[0])
        return latents * 2

    generator = SimpleNamespace(mean_latent=lambda n: torch.zeros(1, 4), synthesis=synthesis)
    model = SimpleNamespace(generator=generator, preset=SimpleNamespace(batch_size=3))
    monkeypatch.setattr(bench.gan2shape, "time", FakeClock(spans([5.0, 2.0, 1.0, 3.0])))
    assert bench.gan2shape.reference_seconds(model, bf16=False, repeats=3) == 1.0
    assert batches == [3, 3, 3, 3]


def test_gan2shape_reference_leaves_out_its_warm_up_pass(monkeypatch) -> None:
    """A warm-up pass faster than every timed one (a cache already warm) is still not counted."""
    generator = SimpleNamespace(mean_latent=lambda n: torch.zeros(1, 4), synthesis=lambda w: w)
    model = SimpleNamespace(generator=generator, preset=SimpleNamespace(batch_size=1))
    monkeypatch.setattr(bench.gan2shape, "time", FakeClock(spans([0.5, 2.0, 1.0, 3.0])))
    assert bench.gan2shape.reference_seconds(model, bf16=False, repeats=3) == 1.0


def test_gan2shape_times_the_fast_schedule_and_adds_up_each_phase(monkeypatch) -> None:
    """bench.gan2shape times recover under the fast preset, summing the seconds per phase from
    the moment recover starts (setting up the perceptual loss is in neither)."""
    preset = get_preset("face")
    seen, now = {}, [0.0]

    def fake_perceptual(*args, **kwargs) -> None:
        now[0] += 100.0  # building the loss: before the timed run

    def fake_recover(G, D, image, *, preset, init, perceptual, bf16, progress):
        seen.update(preset=preset, bf16=bf16)
        for message, seconds in (("inversion: 1", 2.0), ("refine: 1", 3.0), ("inversion: 2", 4.0)):
            now[0] += seconds
            progress(0, 1, message)
        now[0] += 1.0

    monkeypatch.setattr(bench.gan2shape, "time", SimpleNamespace(perf_counter=lambda: now[0]))
    monkeypatch.setattr(bench.gan2shape, "recover", fake_recover)
    monkeypatch.setattr(bench.gan2shape, "load_pretrained", lambda *args: {})
    monkeypatch.setattr(bench.gan2shape, "perceptual_loss", fake_perceptual)
    monkeypatch.setattr(
        bench.gan2shape, "render_samples", lambda *args, **kwargs: SimpleNamespace(image=None)
    )
    generator = SimpleNamespace(config=SimpleNamespace(size=32), style_dim=8)
    model = SimpleNamespace(
        preset=preset, generator=generator, discriminator=None, pretrained=Path("x")
    )
    total, phases, pretrained = bench.gan2shape.time_fast_mode(model, bf16=True)
    assert seen == {"preset": fast_preset(preset), "bf16": True} and pretrained
    assert (total, phases) == (10.0, {"inversion": 6.0, "refine": 3.0})


@pytest.mark.parametrize(("option", "bf16"), [([], True), (["--fp32"], False)])
def test_gan2shape_reference_and_fast_mode_run_in_the_same_precision(
    monkeypatch, capsys, option: list[str], bf16: bool
) -> None:
    """bench.gan2shape honours --fp32, in the reference and the timed fast mode alike."""
    precisions = []
    preset = SimpleNamespace(name="p", batch_size=2)
    model = SimpleNamespace(
        preset=preset, generator=SimpleNamespace(config=SimpleNamespace(size=32))
    )
    monkeypatch.setattr(bench.gan2shape, "load_model", lambda name, preset: model)
    monkeypatch.setattr(bench.gan2shape, "bf16_supported", lambda device: True)
    monkeypatch.setattr(
        bench.gan2shape, "reference_seconds", lambda model, bf16: precisions.append(bf16) or 2.0
    )
    monkeypatch.setattr(
        bench.gan2shape, "time_fast_mode",
        lambda model, bf16: precisions.append(bf16) or (5.0, {"a": 3.0}, True),
    )  # fmt: skip
    run_main(bench.gan2shape, monkeypatch, ["--threads", "1", *option])
    assert precisions == [bf16, bf16]
    lines = capsys.readouterr().out.splitlines()
    assert lines[-2].split()[-2:] == ["3.00", "1.5"] and lines[-1].split()[-2:] == ["5.00", "2.5"]


def test_the_no_symmetry_rows_recover_with_every_flip_off(monkeypatch) -> None:
    """The '(no symmetry)' rows run the preset without flips; the others the preset itself."""
    schedules = []
    monkeypatch.setattr(
        gan2shape_rows_module, "quality_schedule",
        lambda preset, quality, *args, **kwargs: schedules.append(preset) or (preset, None),
    )  # fmt: skip
    preset = get_preset("face")
    model = SimpleNamespace(preset=preset, pretrained=Path("x"), generator=None, start=None)
    rows = gan2shape_rows_module.Gan2ShapeRows(names=[], prior="prior")
    settings = ShapeBenchmarkSettings("face", 16, torch.device("cpu"), 1, 1)
    for symmetric in (True, False):
        factory = gan2shape_rows_module._factory(model, rows, "row", "full", symmetric, None, False)
        factory(settings)
    assert schedules == [preset, without_symmetry(preset)]


def test_seconds_per_image_is_the_mean_of_a_row_s_times() -> None:
    """A GAN2Shape row's seconds per image: the mean over its images, NaN before it ran."""
    rows = gan2shape_rows_module.Gan2ShapeRows(
        names=["a"], prior="p", seconds={"a": [1.0, 5.0, 6.0]}
    )
    assert rows.seconds_per_image("a") == 4.0
    assert math.isnan(rows.seconds_per_image("b"))


def test_coverage_reads_each_model_at_each_sample_seed_asked_for(monkeypatch, capsys) -> None:
    """bench.coverage fits one regressor per setting and reads every model at every --seeds."""
    fits, reads = [], []
    label = SimpleNamespace(name="yaw", gated=False, ratio=0.5, heldout_r2=0.9)

    class FakeReader:
        @staticmethod
        def fit(category, *, n_train, regressor_steps):
            fits.append((category, n_train, regressor_steps))
            return FakeReader()

        def read(self, generator, *, seed):
            reads.append((generator, seed))
            return SimpleNamespace(labels=[label])

    monkeypatch.setattr(bench.coverage, "CoverageReader", FakeReader)
    monkeypatch.setattr(
        bench.coverage, "load_checkpoint", lambda name: SimpleNamespace(generator=name)
    )
    monkeypatch.setattr(bench.coverage, "azimuth_reading", lambda result: None)
    run_main(
        bench.coverage,
        monkeypatch,
        ["--model", "a", "b", "--settings", "10:3", "--seeds", "3", "5"],
    )
    assert fits == [("face", 10, 3)]
    assert reads == [("a", 3), ("a", 5), ("b", 3), ("b", 5)]
    assert capsys.readouterr().out.count("|  0.50 | 0.900 |") == 4


def test_gan2shape_scores_the_shape_rows_on_as_many_renders_as_asked(monkeypatch, capsys) -> None:
    """bench.gan2shape --shape-rows N scores the prior and the GAN2Shape rows on N renders."""
    calls = {}
    preset = SimpleNamespace(name="p", batch_size=2, prior_box="car")
    model = SimpleNamespace(
        preset=preset, generator=SimpleNamespace(config=SimpleNamespace(size=32))
    )
    rows = SimpleNamespace(prior="prior", names=["GAN2Shape full"], seconds_per_image=lambda n: 4)
    monkeypatch.setattr(bench.gan2shape, "load_model", lambda name, preset: model)
    monkeypatch.setattr(bench.gan2shape, "check_shape_rows", lambda model, qualities: None)
    monkeypatch.setattr(bench.gan2shape, "reference_seconds", lambda model, bf16: 1.0)
    monkeypatch.setattr(bench.gan2shape, "time_fast_mode", lambda model, bf16: (1.0, {}, True))
    monkeypatch.setattr(
        bench.gan2shape, "gan2shape_rows",
        lambda model, qualities, bf16: contextlib.nullcontext(calls.update(q=qualities) or rows),
    )  # fmt: skip
    monkeypatch.setattr(
        bench.gan2shape, "run_shape_benchmark",
        lambda category, **kwargs: calls.update(category=category, **kwargs)
        or SimpleNamespace(table=lambda: "table"),
    )  # fmt: skip
    argv = ["--threads", "1", "--shape-rows", "3", "--shape-quality", "full"]
    run_main(bench.gan2shape, monkeypatch, argv)
    assert (calls["category"], calls["n"], calls["size"], calls["q"]) == ("car", 3, 32, ("full",))
    assert calls["methods"] == ["const. null depth", "ellipsoid prior", "prior", "GAN2Shape full"]
    assert capsys.readouterr().out.endswith("table\nGAN2Shape full: 4.0 s per image\n")


def test_styleganr_speed_is_set_camera_over_a_forward_pass_at_the_same_batch(
    monkeypatch, capsys
) -> None:
    """bench.styleganr's ratio: set_camera's best time over the generator's on as many codes as
    there are samples."""
    batches = []

    def synthesis(wplus: torch.Tensor) -> torch.Tensor:
        batches.append(wplus.shape[0])
        return wplus

    generator = SimpleNamespace(
        mean_latent=lambda n: torch.zeros(1, 4), num_ws=3, synthesis=synthesis
    )
    samples = SimpleNamespace(image=torch.zeros(5, 3, 8, 8))
    monkeypatch.setattr(bench.styleganr, "set_camera", lambda *args, **kwargs: None)
    clock = FakeClock(spans([3.0, 2.0, 4.0, 5.0, 6.0, 7.0]))  # reference runs, then set_camera's
    monkeypatch.setattr(bench.styleganr, "time", clock)
    bench.styleganr.report_speed(SimpleNamespace(generator=generator), samples)
    assert batches == [5, 5, 5]
    printed = capsys.readouterr().out
    assert "G forward at batch 5: 2.000 s" in printed and "5.000 s (ratio 2.50)" in printed


def test_styleganr_camera_control_columns_are_each_reader_s(monkeypatch, capsys) -> None:
    """The inverse graphics column holds the network reader's errors, the labeller's its own."""

    def by_network(*args):
        return None

    def by_labeller(*args):
        return None

    errors = {by_network: 1.0, by_labeller: 5.0}
    monkeypatch.setattr(
        bench.styleganr,
        "camera_control_errors",
        lambda model, samples, azimuths, read: torch.full((len(azimuths), 4), errors[read]),
    )
    bench.styleganr.report_camera_control(None, None, [0.0, 90.0], by_network, by_labeller)
    rows = capsys.readouterr().out.splitlines()[3:5]
    assert [row.split() for row in rows] == [["0", "1.0", "5.0"], ["90", "1.0", "5.0"]]


def test_coverage_marks_a_model_path_cut_to_its_column() -> None:
    """A long path keeps its end (the run's folder and file) behind an ellipsis, in the column's
    width; a short name is padded to it."""
    path = "/root/experiments/runs/default-face/model.safetensors"
    cut = bench.coverage.model_column(path, width=20)
    assert cut == "…e/model.safetensors" and len(cut) == 20
    assert bench.coverage.model_column("default-face", width=20) == "default-face".ljust(20)
    assert bench.coverage.model_column("x" * 20, width=20) == "x" * 20
