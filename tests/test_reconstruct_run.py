"""GAN2Shape end to end on a tiny model: every output file exists and reads back, a stopped
run continues where it stopped, a folder of another run is refused, fast mode starts from
pretrained networks or else a short prior fit, and the `reconstruct` command writes its
outputs and reports errors on one line."""

from __future__ import annotations

import dataclasses
import importlib
import json
import math
import re
from pathlib import Path
from types import SimpleNamespace

import imageio.v3 as iio
import numpy as np
import open3d as o3d
import pytest
import torch

from engine.cli import main
from engine.errors import GANliftError, StoppedEarly
from engine.gan2shape import (
    FAST_FRACTION,
    Gan2ShapeModel,
    OutputSettings,
    ViewSpec,
    load_model,
    outputs,
    pipeline,
    quality_schedule,
    read_depth_png,
    reconstruct,
    sample_input,
    write_maps,
    write_outputs,
)
from engine.gan2shape.outputs import OUTPUT_NAMES
from engine.gan2shape.pipeline import RUN_FILE, STATE_FILE
from engine.gan2shape.presets import PRESETS
from engine.gan2shape.views import render_view
from engine.images import save_image, to_uint8
from engine.perceptual import DiscriminatorFeatureLoss
from engine.stylegan2 import save_checkpoint
from engine.stylegan2.checkpoint import MODELS_DIR
from engine.versions import software_versions
from tests.polls import stop_after, stop_on_signals_after
from tests.tiny import tiny_gan, tiny_gan2shape_preset

SIZE = 32
PRESET = tiny_gan2shape_preset(SIZE, prior_steps=2, collect_batches=2, inversion_steps=2)
ITERATIONS = 2 + 6
FRAMES = 4
VIEWS = (ViewSpec(20.0, 0.0), ViewSpec(0.0, 0.0, (0.5, -0.2)))


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Gan2ShapeModel:
    """A tiny G and D with the tiny preset; fast mode's weights would sit in tmp."""
    G, D = tiny_gan(SIZE)
    pretrained = tmp_path_factory.mktemp("weights") / "tiny-gan2shape.safetensors"
    return Gan2ShapeModel(G, D, PRESET, pretrained)


def run(model: Gan2ShapeModel, out: Path, seed: int = 1, **kwargs):
    """`reconstruct` on the GAN sample of `seed`, with discriminator features as perceptual."""
    prepared, latent = sample_input(model.generator, seed)
    perceptual = DiscriminatorFeatureLoss(model.discriminator)
    return reconstruct(model, prepared, out_dir=out, latent=latent, perceptual=perceptual, **kwargs)


@pytest.fixture(scope="module")
def finished(model, tmp_path_factory: pytest.TempPathFactory):
    """A full run with all its outputs written: (reconstruction, files)."""
    out = tmp_path_factory.mktemp("run")
    result = run(model, out)
    settings = OutputSettings(views=VIEWS, frames=FRAMES)
    files = write_outputs(result.recovery, model.generator, out, settings=settings)
    return result, files


def test_every_output_file_is_written(finished) -> None:
    result, files = finished
    names = {path.relative_to(result.out_dir).as_posix() for path in files.values()}
    expected = {
        "depth.npy", "depth.png", "normal.png", "albedo.png", "shading.png", "canonical.png",
        "input.png", "inversion.png", "summary.json", "rotation.gif", "rotation.mp4",
        "relight.gif", "relight.mp4", "mesh.obj", "mesh.ply", "mesh.glb",
        "views/render_az+20_el+0.png", "views/projected_az+20_el+0.png",
        "views/render_az+0_el+0_light+0.5-0.2.png", "views/projected_az+0_el+0_light+0.5-0.2.png",
    }  # fmt: skip
    assert names == expected
    assert all(path.is_file() and path.stat().st_size > 0 for path in files.values())
    assert (result.out_dir / "mesh.mtl").is_file() and (
        result.out_dir / "mesh_albedo.png"
    ).is_file()
    assert not list(result.out_dir.rglob("*.tmp"))


def test_depth_reads_back_from_npy_and_16_bit_png(finished, tmp_path: Path) -> None:
    result, files = finished
    depth = result.recovery.depth[0].numpy()  # [S, S]
    np.testing.assert_array_equal(np.load(files["depth_npy"]), depth)
    low, high = PRESET.camera.min_depth, PRESET.camera.max_depth
    decoded = read_depth_png(files["depth_png"], (low, high))
    assert decoded.shape == (SIZE, SIZE)
    assert np.abs(decoded - depth).max() <= 1e-4 * (high - low)
    assert iio.imread(files["depth_png"]).dtype == np.uint16
    beyond = np.array([[0.85, 1.2]], dtype=np.float32)  # past both ends: clipped, not wrapped
    path = outputs.write_depth_png(tmp_path / "beyond.png", beyond, (0.9, 1.1))
    np.testing.assert_allclose(read_depth_png(path, (0.9, 1.1)), [[0.9, 1.1]], atol=1e-6)


def test_images_read_back_at_the_networks_size(finished) -> None:
    _, files = finished
    for label in ("normal", "albedo", "shading", "canonical", "input", "inversion"):
        assert iio.imread(files[label]).shape == (SIZE, SIZE, 3), label
    shading = iio.imread(files["shading"])
    assert (shading[..., 0] == shading[..., 1]).all()  # grey
    assert iio.imread(files["projected_az+20_el+0"]).shape == (SIZE, SIZE, 3)


def test_shading_map_is_the_light_directions_term_alone(finished) -> None:
    """shading.png is max(0, n·l) (0 black, 1 white), without the ambient and diffuse weights,
    and so is normal.png's normal dotted with summary.json's direction towards the light."""
    result, files = finished
    recovery = result.recovery
    direction = torch.cat([recovery.light[0, 2:], torch.ones(1)])
    direction = direction / direction.norm()
    expected = (recovery.normal[0] * direction[:, None, None]).sum(0).clamp(min=0)  # [S, S]
    written = iio.imread(files["shading"])[..., 0] / 255.0
    assert np.abs(written - expected.numpy()).max() <= 1 / 255 + 1e-6
    normal = iio.imread(files["normal"]) / 255.0 * 2 - 1  # [S, S, 3]
    towards = json.loads(files["summary"].read_text())["light"]["towards_light"]
    from_files = (normal @ np.array(towards)).clip(min=0)
    assert np.abs(from_files - written).max() < 0.02  # two 8-bit roundings
    outward = recovery.normal[0].permute(1, 2, 0).numpy() * [-1, 1, 1]  # red right, green up
    assert np.abs(normal - outward).max() <= 1 / 127.5 + 1e-6


def test_relit_views_keep_the_recovered_ambient_and_diffuse(finished) -> None:
    result, files = finished
    recovery = result.recovery
    ambient, diffuse = recovery.light[0, :2].tolist()
    light = torch.tensor([ambient, diffuse, 0.5, -0.2])
    expected = to_uint8(render_view(recovery, azimuth=0.0, elevation=0.0, light=light))
    written = iio.imread(files["render_az+0_el+0_light+0.5-0.2"])
    assert np.abs(written.astype(int) - expected.astype(int)).max() <= 1


def test_view_specs_read_back_from_their_text() -> None:
    for view in (*VIEWS, ViewSpec(-35.5, 12.0, (0.3, 0.9)), ViewSpec(0.0, -5.0)):
        assert ViewSpec.parse(view.text) == view
    assert ViewSpec.parse("10,5,0.3,-0.7").light_direction == (0.3, -0.7)
    for text in ("10", "10,5,0.3", "10,5,0.3,-0.7,1", "10,nan"):
        with pytest.raises(GANliftError, match=f"View '{text}' is not AZIMUTH,ELEVATION or"):
            ViewSpec.parse(text)


def test_summary_holds_view_light_psnr_and_files(finished) -> None:
    result, files = finished
    summary = json.loads(files["summary"].read_text())
    recovery = result.recovery
    assert summary["finished"] is True and summary["preset"] == PRESET.name
    assert summary["software"] == software_versions()  # what made the figures
    pitch, yaw, roll = torch.rad2deg(recovery.view[0, :3]).tolist()
    assert [summary["view"][f"{angle}_degrees"] for angle in ("pitch", "yaw", "roll")] == (
        pytest.approx([pitch, yaw, roll], abs=1e-4)
    )
    assert summary["view"]["translation"] == pytest.approx(recovery.view[0, 3:].tolist())
    assert summary["light"]["ambient"] == pytest.approx(float(recovery.light[0, 0]), abs=1e-6)
    dx, dy = recovery.light[0, 2:].tolist()
    assert (summary["light"]["dx"], summary["light"]["dy"]) == pytest.approx((dx, dy), abs=1e-6)
    towards = summary["light"]["towards_light"]
    assert np.linalg.norm(towards) == pytest.approx(1.0) and towards[2] > 0  # from the front
    side_lit = dataclasses.replace(recovery, light=torch.tensor([[0.3, 0.6, 0.5, -0.2]]))
    towards = outputs._summary(side_lit, {}, Path())["light"]["towards_light"]  # in normal.png's
    expected = np.array([-0.5, -0.2, 1.0]) / math.hypot(0.5, 0.2, 1)  # axes: x mirrored
    assert towards == pytest.approx(expected.tolist())
    assert summary["inversion_psnr_db"] is None  # a GAN sample: its latent is exact
    assert summary["redraw_psnr_db"] == pytest.approx(recovery.redraw_psnr)
    assert summary["depth_png_range"] == [PRESET.camera.min_depth, PRESET.camera.max_depth]
    assert summary["files"]["mesh_glb"] == "mesh.glb"


def test_animations_have_every_frame(finished) -> None:
    _, files = finished
    for label in ("rotation_gif", "relight_gif", "rotation_mp4", "relight_mp4"):
        frames = iio.imread(files[label], index=None)
        assert frames.shape[0] == FRAMES and frames.shape[-1] == 3, label


def test_animations_swing_to_the_set_azimuth_and_keep_the_recovered_light(
    finished, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rotation swings to ±swing_degrees (degrees, not radians), and the relighting keeps
    the recovered ambient and diffuse strengths in their places."""
    recovery = finished[0].recovery
    ambient, diffuse = recovery.light[0, :2].tolist()
    assert ambient != diffuse  # a swap would show
    outputs = importlib.import_module("engine.gan2shape.outputs")
    calls: list[dict] = []

    def recorded(recovery, **angles):
        calls.append(angles)
        return render_view(recovery, **angles)

    monkeypatch.setattr(outputs, "render_view", recorded)
    settings = OutputSettings(frames=FRAMES, swing_degrees=25.0)
    outputs._write_animations(recovery, tmp_path, settings)
    turns = [call for call in calls if call.get("light") is None]
    lights = [call["light"] for call in calls if call.get("light") is not None]
    assert len(turns) == len(lights) == FRAMES
    assert max(abs(call["azimuth"]) for call in turns) == pytest.approx(25.0)
    assert next(call["azimuth"] for call in turns if call["azimuth"]) > 0  # as swing_angles turns
    assert all(torch.equal(light[0, :2], recovery.light[0, :2]) for light in lights)


def test_the_inversion_map_is_the_gans_image_of_the_input(finished, tmp_path: Path) -> None:
    """inversion.png is the GAN's image of the input, not the input (for a GAN sample the two
    look alike, so the test makes them differ)."""
    recovery = finished[0].recovery
    gan_image = -recovery.image  # an inversion unlike its input
    target = dataclasses.replace(recovery.state.target, gan_image=gan_image)
    state = dataclasses.replace(recovery.state, target=target)
    files = write_maps(dataclasses.replace(recovery, state=state), tmp_path)
    assert np.array_equal(iio.imread(files["inversion"]), to_uint8(gan_image))


def test_meshes_load_in_open3d(finished) -> None:
    _, files = finished
    counts = set()
    for label in ("mesh_obj", "mesh_ply", "mesh_glb"):
        mesh = o3d.io.read_triangle_mesh(str(files[label]))
        assert len(mesh.triangles) > 0, label
        counts.add(len(mesh.triangles))
        extent = mesh.get_axis_aligned_bounding_box().get_extent()
        assert max(extent) == pytest.approx(1.0, abs=1e-4)
    assert len(counts) == 1
    assert o3d.io.read_triangle_mesh(str(files["mesh_obj"])).has_triangle_uvs()


def test_outputs_written_again_with_other_views_leave_no_stale_view(
    model, finished, tmp_path: Path
) -> None:
    recovery = finished[0].recovery
    write_outputs(recovery, model.generator, tmp_path, settings=OutputSettings(views=VIEWS))
    later = OutputSettings(views=(ViewSpec(-15.0, 0.0),), frames=FRAMES)
    files = write_outputs(recovery, model.generator, tmp_path, settings=later)
    on_disk = {path.name for path in (tmp_path / "views").iterdir()}
    assert on_disk == {"render_az-15_el+0.png", "projected_az-15_el+0.png"}
    assert set(json.loads(files["summary"].read_text())["files"]) >= {"render_az-15_el+0"}


def test_outputs_cut_short_leave_no_summary_of_other_files(
    model, finished, tmp_path: Path, monkeypatch
) -> None:
    """A rewrite stopped by Ctrl-C after the views left the earlier summary listing views that
    were gone (and the figure script failed on the folder)."""
    recovery = finished[0].recovery
    write_outputs(recovery, model.generator, tmp_path, settings=OutputSettings(views=VIEWS))
    outputs = importlib.import_module("engine.gan2shape.outputs")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(outputs, "_write_animations", interrupted)
    later = OutputSettings(views=(ViewSpec(-15.0, 0.0),), frames=FRAMES)
    with pytest.raises(KeyboardInterrupt):
        write_outputs(recovery, model.generator, tmp_path, settings=later)
    assert not (tmp_path / "summary.json").exists()


def test_outputs_are_not_written_into_a_file(model, finished, tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("")
    refusals = {"taken": "is a file; choose a folder", "taken/sub": "Cannot create the output"}
    for out, refusal in refusals.items():
        with pytest.raises(GANliftError, match=refusal):
            write_outputs(finished[0].recovery, model.generator, tmp_path / out)
    assert (tmp_path / "taken").read_text() == ""


def test_a_stopped_run_continues_where_it_stopped(model, finished, tmp_path: Path) -> None:
    stopped = run(model, tmp_path, should_stop=stop_after(5))
    assert not stopped.recovery.finished and not stopped.resumed
    assert (tmp_path / "state.pt").is_file()

    reports: list[int] = []
    resumed = run(model, tmp_path, progress=lambda done, total, message: reports.append(done))
    assert resumed.resumed and resumed.recovery.finished
    assert reports[0] == 6 and reports[-1] == ITERATIONS  # 5 done before, none redone
    assert torch.allclose(resumed.recovery.depth, finished[0].recovery.depth, atol=1e-5)

    more: list[int] = []
    again = run(model, tmp_path, progress=lambda done, total, message: more.append(done))
    assert again.resumed and again.recovery.finished and more == []  # nothing redone


def test_a_stop_during_the_inversion_keeps_nothing_and_the_rerun_inverts_fully(
    model, tmp_path: Path
) -> None:
    prepared, _ = sample_input(model.generator, 2)  # lifted as a photo: inverted first
    perceptual = DiscriminatorFeatureLoss(model.discriminator)
    with pytest.raises(StoppedEarly, match="during the GAN inversion"):
        reconstruct(
            model, prepared, out_dir=tmp_path / "stopped", perceptual=perceptual,
            should_stop=stop_after(1),
        )  # fmt: skip
    assert not (tmp_path / "stopped" / "state.pt").exists()
    rerun = reconstruct(model, prepared, out_dir=tmp_path / "stopped", perceptual=perceptual)
    fresh = reconstruct(model, prepared, out_dir=tmp_path / "fresh", perceptual=perceptual)
    assert not rerun.resumed and rerun.recovery.finished
    assert rerun.recovery.psnr == pytest.approx(fresh.recovery.psnr)


def test_a_folder_holding_files_of_the_outputs_names_is_refused(model, tmp_path: Path) -> None:
    """They would be overwritten (a user's summary.json); other files, such as the latent
    `invert` wrote there, are the user's inputs and stay beside the outputs."""
    (tmp_path / "summary.json").write_text("my notes")
    (tmp_path / "latent.pt").write_text("an inversion")
    with pytest.raises(GANliftError, match=r"holds summary\.json but no GANlift run"):
        run(model, tmp_path)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["latent.pt", "summary.json"]
    assert (tmp_path / "summary.json").read_text() == "my notes"
    (tmp_path / "summary.json").unlink()
    assert run(model, tmp_path).recovery.finished


def test_the_output_names_are_every_name_a_run_writes(finished) -> None:
    """The names the refusal above guards are the names written (STATE_FILE and RUN_FILE
    belong to the run itself)."""
    written = {path.name for path in finished[0].out_dir.iterdir()}
    assert written - {STATE_FILE, RUN_FILE} == OUTPUT_NAMES


def test_a_folder_with_another_run_is_refused(model, finished) -> None:
    """The refusal names what differs (an edited preset was told "another input, model,
    quality or precision")."""
    out_dir = finished[0].out_dir

    def refusal(differences: str) -> str:
        return f"^{re.escape(f'{out_dir} holds a run of another {differences}; choose a new')}"

    with pytest.raises(GANliftError, match=refusal("input (image or mask), latent (--latent)")):
        run(model, out_dir, seed=2)
    with pytest.raises(GANliftError, match=refusal("quality")):
        run(model, out_dir, quality="fast")
    other_weights = Gan2ShapeModel(*tiny_gan(SIZE, seed=7), PRESET, model.pretrained)
    with pytest.raises(
        GANliftError, match=refusal("input (image or mask), generator, latent (--latent)")
    ):
        run(other_weights, out_dir)  # same sizes and preset name as the saved run
    edited = dataclasses.replace(model, preset=PRESET.replace(lr=PRESET.lr / 2))
    with pytest.raises(GANliftError, match=refusal("preset setting")):
        run(edited, out_dir)
    prepared, latent = sample_input(model.generator, 1)
    with pytest.raises(GANliftError, match=refusal("latent (--latent)")):
        reconstruct(model, prepared, out_dir=out_dir, latent=latent * 1.01)
    with pytest.raises(GANliftError, match=refusal("precision (--fp32)")):
        run(model, out_dir, bf16=True)  # went on in another precision unsaid
    recorded = (out_dir / "run.json").read_text()
    (out_dir / "run.json").write_text("{")
    try:
        with pytest.raises(GANliftError, match=r"holds a run whose run\.json cannot be read"):
            run(model, out_dir)
    finally:
        (out_dir / "run.json").write_text(recorded)  # the run other tests read


def test_a_run_saved_before_more_was_recorded_still_continues(model, tmp_path: Path) -> None:
    run(model, tmp_path, should_stop=stop_after(3))
    recorded = json.loads((tmp_path / "run.json").read_text())
    older = {key: recorded[key] for key in ("input_sha256", "preset", "quality")}
    (tmp_path / "run.json").write_text(json.dumps(older))
    assert run(model, tmp_path).resumed


def test_fast_mode_without_pretrained_networks_starts_from_a_short_prior_fit(
    model, tmp_path
) -> None:
    preset, init = quality_schedule(model.preset, "fast", model.pretrained)
    assert init is None and preset.num_stages == 1
    assert preset.prior_steps == math.ceil(FAST_FRACTION * PRESET.prior_steps)
    assert run(model, tmp_path, quality="fast").recovery.finished


def test_fast_mode_runs_a_fraction_of_the_inversion_and_the_cache() -> None:
    """The car preset's 500 inversion steps and 100 cached batches are cut like its steps."""
    car = PRESETS["car"]
    fast, _ = quality_schedule(car, "fast", Path("no-networks.safetensors"))
    assert fast.inversion_steps == math.ceil(FAST_FRACTION * car.inversion_steps) < 100
    assert fast.collect_batches == math.ceil(FAST_FRACTION * car.collect_batches) < 20


def test_a_run_of_the_same_image_with_another_mask_is_another_run(model) -> None:
    """Its state would have been continued for a mask it was not made with."""
    image = torch.rand(1, 3, SIZE, SIZE) * 2 - 1
    left, right = torch.zeros(1, 1, SIZE, SIZE), torch.zeros(1, 1, SIZE, SIZE)
    left[..., : SIZE // 2], right[..., SIZE // 2 :] = 1, 1
    digests = {
        pipeline._describe_run(model, model.prepare(image, mask), "fast", None)["input_sha256"]
        for mask in (None, left, right)
    }
    assert len(digests) == 3


def test_full_mode_is_the_preset_itself_and_unknown_qualities_are_refused(model) -> None:
    assert quality_schedule(model.preset, "full", model.pretrained) == (model.preset, None)
    with pytest.raises(GANliftError, match="Unknown quality 'best'"):
        quality_schedule(model.preset, "best", model.pretrained)


@pytest.fixture(scope="module")
def checkpoint_files(model, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The tiny model as a checkpoint file, its preset as JSON, and a photo-sized image."""
    folder = tmp_path_factory.mktemp("cli")
    checkpoint = save_checkpoint(
        folder / "tiny", model.generator, discriminator=model.discriminator
    )
    preset = folder / "preset.json"
    preset.write_text(PRESET.to_json())
    image = save_image(torch.rand(1, 3, 40, 52) * 2 - 1, folder / "photo.png")
    return {"checkpoint": checkpoint, "preset": preset, "image": image}


def cli(files: dict[str, Path], out: Path, *extra: str) -> int:
    """`python -m engine reconstruct` on the tiny checkpoint."""
    return main(
        ["reconstruct", "--views", "10,5", "--ckpt", str(files["checkpoint"]), "--preset",
         str(files["preset"]), "--out", str(out), "--frames", "3", "--device", "cpu", "--fp32",
         *extra]
    )  # fmt: skip


def test_command_lifts_a_photo_and_writes_the_outputs(checkpoint_files, tmp_path, capsys) -> None:
    assert cli(checkpoint_files, tmp_path, str(checkpoint_files["image"])) == 0
    printed = capsys.readouterr().out
    assert "input: centre crop" in printed  # noise has no face
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["finished"] and summary["inversion_psnr_db"] > 0
    assert (tmp_path / "views" / "projected_az+10_el+5.png").is_file()
    assert iio.imread(tmp_path / "rotation.gif", index=None).shape[0] == 3
    # the 40 x 52 photo's 40-px centre crop textures the mesh; the maps stay at the networks' 32
    assert iio.imread(tmp_path / "mesh_albedo.png").shape == (40, 40, 3)
    assert iio.imread(tmp_path / "albedo.png").shape[:2] == (32, 32)


@pytest.mark.parametrize(("flags", "bf16"), [([], True), (["--fp32"], False)])
@pytest.mark.parametrize("command", ["reconstruct", "gan2shape-pretrain"])
def test_fp32_turns_bfloat16_off_where_the_device_has_it(
    checkpoint_files, tmp_path, monkeypatch, command: str, flags: list[str], bf16: bool
) -> None:
    """reconstruct and gan2shape-pretrain run under bfloat16 where the device has it, unless
    --fp32."""
    module = importlib.import_module("engine.cli.reconstruct")
    asked: list[bool] = []

    def record(*args, **kwargs):
        asked.append(kwargs["bf16"])
        raise GANliftError("recorded")

    monkeypatch.setattr(module, "bf16_supported", lambda device: True)
    monkeypatch.setattr(module, "reconstruct", record)
    monkeypatch.setattr(module, "pretrain", record)
    files = checkpoint_files
    given = {
        "reconstruct": [str(files["image"]), "--out", str(tmp_path)],
        "gan2shape-pretrain": ["--out", str(tmp_path / "n.safetensors")],
    }[command]
    arguments = [command, *given, "--ckpt", str(files["checkpoint"]), "--preset",
                 str(files["preset"]), "--device", "cpu", *flags]  # fmt: skip
    assert main(arguments) == 2
    assert asked == [bf16]


@pytest.mark.parametrize("model", ["default-face", "default-car"])
def test_the_check_of_a_shipped_model_reads_renders_of_its_category(
    model: str, monkeypatch, capsys
) -> None:
    command = importlib.import_module("engine.cli.reconstruct")
    categories: list[str] = []

    def record(networks, preset, category: str, **options) -> SimpleNamespace:
        categories.append(category)
        return SimpleNamespace(table=lambda: "checked", to_json=lambda: "{}")

    monkeypatch.setattr(command, "check_networks", record)
    assert main(["gan2shape-check", "--model", model, "--device", "cpu"]) == 0
    assert categories == [model.removeprefix("default-")]


@pytest.mark.parametrize(("progress", "noted"), [((5, 5), False), ((2, 5), True)])
def test_fast_mode_notes_a_pretraining_that_stopped_early_only(
    tmp_path, monkeypatch, capsys, progress: tuple[int, int], noted: bool
) -> None:
    command = importlib.import_module("engine.cli.reconstruct")
    networks = tmp_path / "nets.safetensors"
    networks.write_bytes(b"")
    monkeypatch.setattr(command, "pretraining_progress", lambda path: progress)
    command.note_fast_start(SimpleNamespace(start=None, pretrained=networks), "fast")
    assert ("stopped at iteration" in capsys.readouterr().err) == noted


def test_command_takes_an_inversion_only_of_the_same_crop_and_generator(
    checkpoint_files, tmp_path, capsys
) -> None:
    image, latent = str(checkpoint_files["image"]), tmp_path / "latent.pt"
    invert = ["invert", str(checkpoint_files["checkpoint"]), "--steps", "2", "--perceptual", "none"]
    assert main([*invert, image, "--out", str(latent)]) == 0
    assert cli(checkpoint_files, tmp_path / "same", image, "--latent", str(latent)) == 0
    assert "GAN inversion" not in capsys.readouterr().err  # the latent was taken

    other = save_image(torch.rand(1, 3, 40, 52) * 2 - 1, tmp_path / "other.png")
    assert main([*invert, str(other), "--out", str(tmp_path / "other.pt")]) == 0
    other_gan = save_checkpoint(tmp_path / "other-gan", tiny_gan(SIZE, seed=5)[0])
    assert main(["invert", str(other_gan), image, "--steps", "2", "--perceptual", "none",
                 "--out", str(tmp_path / "other-gan.pt")]) == 0  # fmt: skip
    written = torch.load(latent, weights_only=True)  # as invert wrote it before its records
    torch.save({key: written[key] for key in written if key not in ("target", "generator")},
               tmp_path / "older.pt")  # fmt: skip
    capsys.readouterr()
    for name, message in (("other.pt", "inverts another crop"),
                          ("other-gan.pt", "inverted with another generator"),
                          ("older.pt", "records neither the generator nor the image")):  # fmt: skip
        assert (
            cli(checkpoint_files, tmp_path / "runs", image, "--latent", str(tmp_path / name)) == 2
        )
        error = capsys.readouterr().err
        assert error.count("\n") == 1 and message in error
        assert not (tmp_path / "runs" / "run.json").exists()  # refused before the run began


def test_command_draws_a_given_latent_with_its_noise_maps(tmp_path, capsys) -> None:
    """With noise that matters (every strength 1), `reconstruct --latent` starts from exactly
    what `invert` fitted: the same PSNR, not the latent under the generator's stored noise.
    A latent file whose noise maps fit another generator is refused."""
    G, D = tiny_gan(SIZE)
    with torch.no_grad():
        for name, weight in G.named_parameters():
            if name.endswith("noise.weight"):
                weight.fill_(1.0)
    checkpoint = save_checkpoint(tmp_path / "noisy", G, discriminator=D)
    files = {"checkpoint": checkpoint, "preset": tmp_path / "preset.json"}
    files["preset"].write_text(PRESET.to_json())
    image = str(save_image(torch.rand(1, 3, SIZE, SIZE) * 2 - 1, tmp_path / "photo.png"))
    latent = tmp_path / "latent.pt"
    assert main(["invert", str(checkpoint), image, "--steps", "3", "--perceptual", "none",
                 "--out", str(latent)]) == 0  # fmt: skip
    inverted = float(capsys.readouterr().out.split("PSNR ")[1].split(" dB")[0])
    assert cli(files, tmp_path / "run", image, "--latent", str(latent)) == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["inversion_psnr_db"] == pytest.approx(inverted, abs=0.006)
    run_json = tmp_path / "run" / "run.json"
    recorded = json.loads(run_json.read_text())
    assert "noise_sha256" in recorded
    del recorded["noise_sha256"]  # as a run written before noise maps were used records it
    run_json.write_text(json.dumps(recorded))
    capsys.readouterr()
    assert cli(files, tmp_path / "run", image, "--latent", str(latent)) == 0
    assert "continued the run saved in" in capsys.readouterr().out

    saved = torch.load(latent, weights_only=True)
    saved["noise_0"] = torch.zeros(1, 1, 8, 8)
    del saved["generator"]
    torch.save(saved, tmp_path / "foreign.pt")
    capsys.readouterr()
    assert cli(files, tmp_path / "foreign", image, "--latent", str(tmp_path / "foreign.pt")) == 2
    assert "inverted with another generator" in capsys.readouterr().err


def test_command_continues_a_finished_run_without_redoing_it(checkpoint_files, tmp_path, capsys):
    assert cli(checkpoint_files, tmp_path, "--seed-sample", "4") == 0
    assert "inversion PSNR exact" in capsys.readouterr().out  # a sample is its own inversion
    assert cli(checkpoint_files, tmp_path, "--seed-sample", "4") == 0
    assert "continued the run saved in" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["missing.png"], "does not exist"),
        (["--seed-sample", "1", "--mask", "mask.png"], "--mask applies to an IMAGE"),
        ([], "Give either an IMAGE"),
        (["IMAGE", "--mask", "black.png"], "is all black"),
        (["IMAGE", "--mask", "small.png"], "--mask small.png is 8x8 px but the image"),
        (["IMAGE", "--mask", "junk.png"], "The mask could not be read"),
        (["IMAGE", "--views", "30"], "is not AZIMUTH,ELEVATION"),
        (["IMAGE", "--views", "10,100"], "has elevation 100°; use -90 to 90"),
        (["--seed-sample", "1", "--frames", "2"], "--frames on the command line), got 2."),
        (["--seed-sample", "1", "--frames", "100000000"], "to 1440 (a minute at 24 frames"),
        (["--views", "30,0", "IMAGE"], "put IMAGE before --views"),
    ],
)
def test_command_errors_are_one_line(
    checkpoint_files, tmp_path, capsys, monkeypatch, arguments, message
) -> None:
    monkeypatch.chdir(tmp_path)
    save_image(-torch.ones(1, 3, 40, 52), tmp_path / "black.png")
    save_image(torch.ones(1, 3, 8, 8), tmp_path / "small.png")
    (tmp_path / "junk.png").write_bytes(b"not an image")
    arguments = [str(checkpoint_files["image"]) if item == "IMAGE" else item for item in arguments]
    assert cli(checkpoint_files, tmp_path / "out", *arguments) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: ") and message in error and error.count("\n") == 1


def test_the_mask_is_read_under_the_command_s_photo_caps(
    checkpoint_files, tmp_path, capsys, monkeypatch
) -> None:
    """--max-pixels raised the photo's cap, but the mask was read under GANLIFT_MAX_PIXELS."""
    monkeypatch.setenv("GANLIFT_MAX_PIXELS", "1000")  # below the 52x40 photo and its mask
    mask = save_image(torch.ones(1, 3, 41, 52), tmp_path / "mask.png")  # one row too many
    image = str(checkpoint_files["image"])
    assert cli(checkpoint_files, tmp_path / "out", image, "--mask", str(mask),
               "--max-pixels", "5000") == 2  # fmt: skip
    assert "is 52x41 px but the image" in capsys.readouterr().err  # read, then compared


def test_an_out_that_cannot_be_a_folder_is_refused_before_any_work(
    checkpoint_files, tmp_path, capsys
) -> None:
    (tmp_path / "taken").write_text("a file, not a folder")
    for out, message in (
        (tmp_path / "taken", "is a file; choose a folder"),
        (tmp_path / "taken" / "run", "Cannot create the output folder"),
    ):
        assert cli(checkpoint_files, out, "--seed-sample", "1") == 2
        error = capsys.readouterr().err
        assert error.startswith("error: ") and error.count("\n") == 1 and message in error


def test_the_photos_own_folder_is_refused_as_out(tmp_path, capsys, monkeypatch) -> None:
    """Its outputs (input.png among them) would overwrite the photo and those beside it, however
    either path is written, and for a linked photo in either folder."""
    (tmp_path / "photos").mkdir()
    photo = save_image(torch.zeros(1, 3, 40, 40), tmp_path / "photos" / "input.png")
    (tmp_path / "links").mkdir()
    (tmp_path / "links" / "input.png").symlink_to(photo)
    before = photo.read_bytes()
    monkeypatch.chdir(tmp_path)
    for image, out in (
        ("photos/input.png", str(tmp_path / "photos")),
        (str(photo), "photos/../photos"),
        ("links/input.png", "links"),
        ("links/input.png", "photos"),
    ):
        assert main(["reconstruct", image, "--out", out]) == 2
        error = capsys.readouterr().err
        assert error.count("\n") == 1 and "is the folder" in error and "of their own" in error
    assert photo.read_bytes() == before
    assert sorted(path.name for path in tmp_path.rglob("*")) == ["input.png"] * 2 + [
        "links", "photos"
    ]  # fmt: skip


def test_the_photo_caps_come_from_the_environment_or_the_flags(
    checkpoint_files, tmp_path, capsys, monkeypatch
) -> None:
    """As the app's and reconstruct-batch's do (GANLIFT_* variables, engine.limits); the
    flags, as reconstruct-batch's, win."""
    monkeypatch.setenv("GANLIFT_MIN_IMAGE_SIDE", "48")
    assert cli(checkpoint_files, tmp_path / "small", str(checkpoint_files["image"])) == 2
    assert (
        "is only 40 pixels high (52x40); use an image at least 48 pixels" in capsys.readouterr().err
    )
    monkeypatch.setenv("GANLIFT_MIN_IMAGE_SIDE", "16")
    image = str(checkpoint_files["image"])
    assert cli(checkpoint_files, tmp_path / "flag", image, "--min-image-side", "41") == 2
    assert "is only 40 pixels high (52x40); use an image at least 41" in capsys.readouterr().err
    monkeypatch.setenv("GANLIFT_MAX_PIXELS", "2000")
    assert cli(checkpoint_files, tmp_path / "large", str(checkpoint_files["image"])) == 2
    assert "has more than 2,000 pixels; downscale it" in capsys.readouterr().err


def test_a_category_for_another_image_size_is_refused_before_any_work(
    checkpoint_files, tmp_path, capsys
) -> None:
    for option in ("--category", "--preset"):  # --preset takes a name too (was 'no file face')
        code = main(["reconstruct", str(checkpoint_files["image"]), "--ckpt",
                     str(checkpoint_files["checkpoint"]), option, "face", "--out",
                     str(tmp_path)])  # fmt: skip
        assert code == 2 and "Preset 'face' is for 128-px generators" in capsys.readouterr().err
        assert not (tmp_path / "run.json").exists()


def test_a_seed_out_of_range_is_an_argument_error(tmp_path, capsys) -> None:
    with pytest.raises(SystemExit) as exit_code:
        main(["reconstruct", "--seed-sample", str(2**64), "--out", str(tmp_path)])
    assert exit_code.value.code == 2
    assert "a seed is a whole number from 0 to 4294967295" in capsys.readouterr().err


def test_a_view_past_vertical_is_refused_however_it_is_made() -> None:
    with pytest.raises(GANliftError, match=r"View '30,-95' has elevation -95°; use -90 to 90"):
        ViewSpec(30.0, -95.0)
    assert ViewSpec(30.0, -90.0).elevation == -90.0


def test_unknown_model_and_missing_category_are_one_line(
    checkpoint_files, tmp_path, capsys
) -> None:
    assert (
        main(["reconstruct", "--seed-sample", "1", "--model", "nope", "--out", str(tmp_path)]) == 2
    )
    assert "No model named 'nope'" in capsys.readouterr().err
    checkpoint = str(checkpoint_files["checkpoint"])
    code = main(["reconstruct", "--seed-sample", "1", "--ckpt", checkpoint, "--out", str(tmp_path)])
    assert code == 2
    error = capsys.readouterr().err
    assert "needs a category; name its GAN2Shape preset (car, cat, church" in error
    assert error.count("\n") == 1
    named_like_a_preset = tmp_path / "car.safetensors"  # a user's, not the bundled car model
    for suffix in (".safetensors", ".json"):
        source = checkpoint_files["checkpoint"].with_suffix(suffix)
        named_like_a_preset.with_suffix(suffix).write_bytes(source.read_bytes())
    code = main(["reconstruct", "--seed-sample", "1", "--ckpt", str(named_like_a_preset),
                 "--out", str(tmp_path / "out")])  # fmt: skip
    assert code == 2 and "car.safetensors needs a category" in capsys.readouterr().err
    text = tmp_path / "notes.pt"
    text.write_text("not a checkpoint")  # told so at once, not after passing --category
    code = main(["reconstruct", "--seed-sample", "1", "--ckpt", str(text), "--out", str(tmp_path)])
    assert code == 2 and "notes.pt is not a StyleGAN2 checkpoint" in capsys.readouterr().err


def test_a_shipped_models_file_keeps_its_own_preset() -> None:
    """The app takes assets/models/default-car.safetensors as default-car; so does the CLI."""
    model = load_model(MODELS_DIR / "default-car.safetensors")
    assert model.preset.name == "default-car"
    assert model.pretrained == MODELS_DIR / "default-car-gan2shape.safetensors"


def test_output_settings_refuse_what_write_outputs_cannot_draw() -> None:
    """frames=0 divided by zero half-way through write_outputs (maps written, no summary or
    mesh), negative frames failed in torch.arange, 24.0 in range(); all are refused before any
    file."""
    for frames in (0, 2, -5, 1441, 2.5, 24.0, True, "24"):
        with pytest.raises(
            GANliftError, match=r"^Animations take a whole number of frames from 3 "
        ):
            OutputSettings(frames=frames)
    for field in ("fps", "mesh_size"):
        for value in (0.0, -1.0, math.nan, "12"):
            with pytest.raises(GANliftError, match=rf"OutputSettings\.{field} must be a number"):
                OutputSettings(**{field: value})
    for fps in (0.001, 101.0, math.inf):  # 0.001 failed in the GIF writer, after the maps
        with pytest.raises(GANliftError, match=r"fps must be a number from 0\.01 to 100 fps"):
            OutputSettings(fps=fps)
    for value in (math.inf, math.nan, None):
        with pytest.raises(GANliftError, match=r"OutputSettings\.swing_degrees must be a finite"):
            OutputSettings(swing_degrees=value)
    with pytest.raises(GANliftError, match=r"swing_degrees must be from -90 to 90 .* got 120"):
        OutputSettings(swing_degrees=120)  # the animation would turn to the surface's back
    assert OutputSettings(frames=3, swing_degrees=-20.0).frames == 3  # a swing to the other side


def test_reconstruct_given_a_raw_image_says_to_prepare_it(model, tmp_path: Path) -> None:
    """A library user passing load_image's tensor met AttributeError: no attribute 'image'."""
    image = torch.zeros(1, 3, SIZE, SIZE)
    with pytest.raises(GANliftError, match=r"got a Tensor; call model\.prepare first\.$"):
        reconstruct(model, image, out_dir=tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_command_stopped_during_the_inversion_says_so_once(
    checkpoint_files, tmp_path, monkeypatch, capsys
) -> None:
    """Ctrl-C in the inversion ends with 130 and the stop's own sentence (it was printed as
    'stopped: Stopped during ...'), and leaves no run to continue."""
    monkeypatch.setattr("engine.cli.reconstruct.stop_on_signals", stop_on_signals_after(1))
    assert cli(checkpoint_files, tmp_path / "run", str(checkpoint_files["image"])) == 130
    printed = capsys.readouterr().out.splitlines()
    assert printed[-1].startswith("Stopped during the GAN inversion (step 1 of "), printed
    assert not (tmp_path / "run" / STATE_FILE).exists()
