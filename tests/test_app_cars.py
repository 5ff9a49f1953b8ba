"""The Cars tab's handlers on a tiny StyleGAN-R: samples by seed or upload, cameras, part
swaps, car to mesh, and the message while no StyleGAN-R model is installed."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import gradio as gr
import numpy as np
import open3d as o3d
import pytest
import torch
from PIL import Image

from app import cars
from app.models import ModelStore
from app.session import AppContext, Session
from app.settings import AppSettings
from app.viewer import TorchViewer
from engine.styleganr import CameraRange, Sample, sample
from tests.e2e.tiny_model import tiny_app_context, write_tiny_cars_model, write_tiny_model


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory) -> AppContext:
    checkpoint, preset = write_tiny_model(tmp_path_factory.mktemp("tiny-cars"))
    return tiny_app_context(checkpoint, preset, cars_model=str(write_tiny_cars_model(checkpoint)))


def test_draws_are_deterministic_per_seed_and_fill_their_slot(context: AppContext) -> None:
    session = Session(context)
    a, b, c = cars.draw_car(session, 4, "B")
    assert a is None and c is None and b is not None and b.dtype == np.uint8
    again = cars.draw_car(Session(context), 4, "A")[0]
    other = cars.draw_car(session, 5, "A")[0]
    assert np.array_equal(again, b) and not np.array_equal(other, b)
    engine_draw = sample(session.cars_model(), 1, seed=4)  # the seed typed is the seed drawn
    assert np.array_equal(session.cars["B"].image, engine_draw.image)
    with pytest.raises(gr.Error, match="Seed A must be a whole number from 0 to 4294967295"):
        cars.draw_car(session, float("nan"), "A")


def test_upload_reads_a_car_photo_into_its_slot(context: AppContext, tmp_path: Path) -> None:
    session = Session(context)
    drawn = cars.draw_car(session, 3, "A")[0]
    photo = tmp_path / "car.png"
    Image.fromarray(np.pad(drawn, ((4, 4), (10, 10), (0, 0)), mode="edge")).save(photo)
    a, b, c = cars.upload_car(session, str(photo), "B")
    assert b is not None and b.shape == drawn.shape and np.array_equal(a, drawn) and c is None
    camera = session.cars["B"].codes.camera  # [1, 3]
    assert camera.shape == (1, 3) and torch.isfinite(camera).all() and camera[0, 2] > 0
    assert np.array_equal(cars.upload_car(session, None, "B")[1], b)


def test_bad_upload_is_refused_in_one_sentence(context: AppContext, tmp_path: Path) -> None:
    session = Session(context)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image at all")
    unreadable = r"broken\.png' is not a readable image .*; re-export it as PNG or JPEG\."
    with pytest.raises(gr.Error, match=unreadable):
        cars.upload_car(session, str(broken), "A")
    assert "A" not in session.cars
    with pytest.raises(gr.Error, match="Unknown sample slot 'D'"):
        cars.upload_car(session, str(broken), "D")
    tiny = tmp_path / "tiny.png"
    Image.new("RGB", (8, 8)).save(tiny)
    with pytest.raises(gr.Error, match=r"tiny\.png' is only 8x8 pixels"):
        cars.upload_car(session, str(tiny), "A")


def test_camera_moves_only_the_chosen_sample(context: AppContext) -> None:
    session = Session(context)
    cars.draw_car(session, 0, "A")
    before = cars.draw_car(session, 1, "B")
    after = cars.car_camera(session, "A", 120, 20, 1.2)
    assert not np.array_equal(before[0], after[0]) and np.array_equal(before[1], after[1])
    assert session.cars["A"].codes.camera.tolist() == [[120, 20, pytest.approx(1.2)]]


def test_texture_swap_takes_the_source_code_and_keeps_the_rest(context: AppContext) -> None:
    session = Session(context)
    cars.draw_car(session, 0, "A")
    cars.draw_car(session, 1, "B")
    original = session.cars["A"]
    pictures = cars.swap_cars(session, "A", "B", "texture")
    swapped = session.cars["A"]
    assert torch.equal(swapped.codes.texture, session.cars["B"].codes.texture)
    assert torch.equal(swapped.codes.shape, original.codes.shape)
    assert torch.equal(swapped.codes.camera, original.codes.camera)
    assert not np.array_equal(pictures[0], cars.slot_pictures(Session(context))[0])


def test_car_to_mesh_writes_a_textured_glb(context: AppContext) -> None:
    session = Session(context)
    cars.draw_car(session, 2, "C")
    path = cars.car_mesh(session, "C")
    assert Path(path).read_bytes()[:4] == b"glTF"
    mesh = o3d.io.read_triangle_mesh(path)
    assert len(mesh.vertices) > 0 and len(mesh.triangles) == 1280
    assert cars.mesh_after_change(session, "A") == gr.update()  # another car changed: kept
    assert cars.mesh_after_upload(session, None, "C") == gr.update()  # its box cleared: kept
    assert cars.mesh_after_change(session, "C") is None  # its car changed: cleared
    assert cars.mesh_after_change(session, "C") == gr.update()  # nothing shown any more


def test_errors_name_the_fix(context: AppContext, tmp_path: Path) -> None:
    session = Session(context)
    cars.draw_car(session, 0, "A")
    with pytest.raises(gr.Error, match="Sample B is empty; draw a car for it first"):
        cars.swap_cars(session, "A", "B", "shape")
    cars.draw_car(session, 0, "B")
    with pytest.raises(gr.Error, match="Unknown part 'wheels'"):
        cars.swap_cars(session, "A", "B", "wheels")
    with pytest.raises(gr.Error, match="two different samples"):
        cars.swap_cars(session, "A", "A", "shape")
    missing = AppContext(
        AppSettings(models_dir=tmp_path), ModelStore(torch.device("cpu")), TorchViewer()
    )
    with pytest.raises(gr.Error, match=r"default-car-styleganr\.pt is not installed yet"):
        cars.draw_car(Session(missing), 0, "A")
    with pytest.raises(gr.Error, match="Unknown sample slot 'D'; use one of A, B, C"):
        cars.draw_car(session, 1, "D")
    assert sorted(session.cars) == ["A", "B"]


def test_the_sliders_show_the_chosen_samples_own_camera(
    context: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    def camera(slot: str) -> tuple[float, ...]:
        updates = cars.camera_sliders(session, slot)
        assert all(update["interactive"] == (slot in session.cars) for update in updates)
        return tuple(update["value"] for update in updates)

    session = Session(context)
    assert camera("B") == cars.DEFAULT_CAMERA  # an empty slot, its sliders locked
    cars.draw_car(session, 4, "A")
    cars.car_camera(session, "A", 290, 20, 1.2)  # the tiny model's highest labelled camera
    cars.draw_car(session, 5, "B")
    azimuth, elevation, scale = camera("A")
    assert azimuth == pytest.approx(-70) and (elevation, scale) == (20, 1.2)
    ranges = [
        (update["minimum"], update["maximum"]) for update in cars.camera_sliders(session, "A")[1:]
    ]
    assert ranges == [(5, 20), (0.9, 1.2)]  # the model's labelled cameras, not 0-40 and 0.6-1.6
    with pytest.raises(gr.Error, match=r"draws cars at elevations from 5° to 20° .* got 40°"):
        cars.car_camera(session, "A", 0, 40, 1.0)  # default-car drew a background blur there
    stored = session.cars["B"].codes.camera[0].tolist()
    wrapped = camera("B")
    assert np.cos(np.radians(wrapped[0])) == pytest.approx(np.cos(np.radians(stored[0])), abs=1e-3)
    assert -180 <= wrapped[0] < 180
    assert wrapped == tuple(
        round(value, digits) for value, digits in zip(wrapped, (1, 1, 2), strict=True)
    )
    own = session.cars["A"]  # a car read off a photo may sit just outside the labelled range
    session.cars["A"] = Sample(
        codes=replace(own.codes, camera=torch.tensor([[30.0, 25.63, 0.876]])), image=own.image
    )
    updates = cars.camera_sliders(session, "A")[1:]
    assert [(u["value"], u["minimum"], u["maximum"]) for u in updates] == [
        (25.6, 5, 25.6),
        (0.88, 0.88, 1.2),
    ]  # fmt: skip  (shown as it is: clamped, the first touch of any slider moved the car)
    cars.car_camera(session, "A", 40, 25.6, 0.88)  # the azimuth alone moves
    assert session.cars["A"].codes.camera.tolist() == [pytest.approx([40, 25.6, 0.88])]
    with pytest.raises(gr.Error, match="got 26"):
        cars.car_camera(session, "A", 40, 26, 0.88)
    hand_labelled = CameraRange(elevation=(10.0, 10.0), scale=(1.0, 1.0))  # one guess for all
    monkeypatch.setattr(cars, "camera_range", lambda model: hand_labelled)
    assert [update["interactive"] for update in cars.camera_sliders(session, "A")] == [
        True, False, False
    ]  # fmt: skip


def test_swap_and_mesh_unlock_once_the_samples_they_take_hold_cars(context: AppContext) -> None:
    """Both were clickable with every sample empty, and Swap with one sample twice, only to be
    refused."""
    session = Session(context)

    def unlocked(target: str, source: str, mesh: str) -> list[bool]:
        return [u["interactive"] for u in cars.action_buttons(session, target, source, mesh)]

    assert unlocked("A", "B", "A") == [False, False]
    cars.draw_car(session, 1, "A")
    assert unlocked("A", "B", "A") == [False, True]
    cars.draw_car(session, 2, "B")
    assert unlocked("A", "B", "C") == [True, False]
    assert unlocked("C", "B", "B") == [False, True]
    assert unlocked("B", "B", "B") == [False, True]  # a swap with itself: refused
