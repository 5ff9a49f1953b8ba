"""Input preparation for GAN2Shape: a face pasted into a larger photo is found and cropped,
GrabCut outlines an object, crops past the border repeat the edge, masks follow the crop."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from engine.errors import GANliftError
from engine.gan2shape import inputs
from engine.gan2shape.inputs import (
    detect_face,
    face_crop_box,
    face_detector_available,
    grabcut_mask,
    load_mask,
    object_mask,
    prepare_input,
    trimming_mask,
)
from engine.images import Box, crop_box, save_image
from engine.synth import SEED_RANGES, render_samples, seed_run
from tests.tiny import disc_on_noise, face_photo

TOP, LEFT, FACE = 50, 140, 128


@pytest.fixture(scope="module")
def photo() -> torch.Tensor:
    return face_photo(TOP, LEFT, FACE)


@pytest.mark.skipif(
    not face_detector_available(), reason="this OpenCV build ships no Haar cascades"
)
def test_a_pasted_face_is_found_and_cropped_around(photo) -> None:
    face = detect_face(photo)
    assert face is not None
    centre_x, centre_y = face.left + face.width / 2, face.top + face.height / 2
    assert LEFT < centre_x < LEFT + FACE and TOP < centre_y < TOP + FACE
    prepared = prepare_input(photo, size=64, find_face=True, needs_mask=False)
    assert prepared.framing.startswith("face detected")
    assert prepared.image.shape == (1, 3, 64, 64) and prepared.mask is None
    assert prepared.box == face_crop_box(face)


@pytest.mark.skipif(
    not face_detector_available(), reason="this OpenCV build ships no Haar cascades"
)
def test_a_small_face_in_a_big_photo_is_found() -> None:
    """A half-body phone photo's face spans about a twelfth of the short side; a minimum of a
    tenth missed it and cropped the photo's centre."""
    top, left, side = 400, 800, 128
    face = detect_face(face_photo(top, left, side, photo=(1200, 1600)))
    assert face is not None
    centre_x, centre_y = face.left + face.width / 2, face.top + face.height / 2
    assert left < centre_x < left + side and top < centre_y < top + side


class _RecordingCascade:
    """The face cascade, recording the image size and smallest face of each search."""

    def __init__(self, cascade) -> None:
        self.cascade, self.searches = cascade, []

    def detectMultiScale(self, gray, **options):
        self.searches.append((min(gray.shape), options["minSize"][0]))
        return self.cascade.detectMultiScale(gray, **options)


@pytest.mark.skipif(
    not face_detector_available(), reason="this OpenCV build ships no Haar cascades"
)
def test_faces_are_searched_portrait_sized_first_in_a_photo_shrunk_to_640(photo, monkeypatch):
    """Small windows also fire on textures: the 25th-of-a-side search runs only where a
    tenth found nothing. A big photo is searched at 640 px, as fast as a small one."""
    recording = _RecordingCascade(inputs._face_cascade())
    monkeypatch.setattr(inputs, "_face_cascade", lambda: recording)
    assert detect_face(photo) is not None  # a 128-px face in a 300x400 photo
    assert recording.searches == [(300, 30)]
    recording.searches.clear()
    assert detect_face(face_photo(400, 800, 128, photo=(1200, 1600))) is not None
    assert recording.searches == [(640, 64), (640, 26)]


def test_without_a_cascade_faces_fall_back_to_a_centre_crop(photo, monkeypatch) -> None:
    monkeypatch.setattr(inputs, "face_detector_available", lambda: False)
    prepared = prepare_input(photo, size=32, find_face=True, needs_mask=False)
    assert prepared.box == Box(50, 0, 300, 300)
    assert prepared.framing.startswith("centre crop (this OpenCV build has no face detector")
    assert prepared.image.shape == (1, 3, 32, 32)


def test_a_square_without_a_face_is_taken_whole_and_named_so(monkeypatch) -> None:
    """The app's face examples are 128-px squares the detector misses: the status line must
    say the whole image was used, not that a centre crop was taken, and not tell the user to
    crop a picture that is right as it is (the status line pins to a phone's screen)."""
    monkeypatch.setattr(inputs, "detect_face", lambda image: None)
    square = torch.rand(1, 3, 128, 128) * 2 - 1
    prepared = prepare_input(square, size=64, find_face=True, needs_mask=False)
    assert prepared.box == Box(0, 0, 128, 128)
    assert prepared.framing == "whole image (no face found; fine for a face that fills it)"


def test_a_square_at_the_models_size_is_taken_whole_without_a_face_search(monkeypatch) -> None:
    monkeypatch.setattr(inputs, "detect_face", lambda image: pytest.fail("searched for a face"))
    square = torch.rand(1, 3, 32, 32) * 2 - 1
    for size in (64, 32):  # smaller than the model's frame, or exactly it
        prepared = prepare_input(square, size=size, find_face=True, needs_mask=False)
        assert prepared.box == Box(0, 0, 32, 32) and prepared.framing.startswith("whole image")
        assert torch.equal(prepared.photo, square)


def test_face_crop_box_is_an_enlarged_square_around_the_face() -> None:
    box = face_crop_box(Box(100, 40, 50, 60))
    assert box.width == box.height == round(inputs.FACE_CROP_SCALE * 60)
    assert box.left + box.width / 2 == pytest.approx(125, abs=0.5)
    assert box.top + box.height / 2 == pytest.approx(
        40 + 60 * (0.5 + inputs.FACE_CROP_SHIFT), abs=0.5
    )


def test_crop_box_past_the_border_repeats_the_edge() -> None:
    image = torch.arange(12.0).view(1, 1, 3, 4)
    cropped = crop_box(image, Box(-1, 1, 3, 3))  # [1, 1, 3, 3]
    expected = torch.tensor([[4.0, 4, 5], [8, 8, 9], [8, 8, 9]])
    assert torch.equal(cropped[0, 0], expected)


def test_grabcut_outlines_a_disc_on_a_textured_background() -> None:
    image, disc = disc_on_noise(48, 64, (24, 32), 15)
    mask = grabcut_mask(image)
    assert mask.shape == (1, 1, 48, 64) and set(mask.unique().tolist()) <= {0.0, 1.0}
    intersection = (mask[0, 0] * disc).sum()
    union = ((mask[0, 0] + disc) > 0).float().sum()
    assert intersection / union > 0.9


def test_object_masks_outline_synthetic_heads() -> None:
    """The masks default-face trains and lifts with: GrabCut from a near-full-frame rectangle."""
    batch = render_samples("face", seed_run(SEED_RANGES["test"].start, 8, split="test"), size=64)
    ious = []
    for image, truth in zip(batch.image, batch.mask > 0.5, strict=True):
        mask = object_mask(image[None])[0, 0] > 0.5
        ious.append(float((mask & truth).sum() / (mask | truth).sum()))
    assert torch.tensor(ious).median() > 0.8


def test_grabcut_gives_an_image_the_same_mask_every_time() -> None:
    """GrabCut's k-means draws from OpenCV's global generator; other calls must not move it."""
    batch = render_samples("face", seed_run(SEED_RANGES["test"].start, 3, split="test"), size=64)
    first = grabcut_mask(batch.image[:1])
    for image in batch.image[1:]:
        grabcut_mask(image[None])
    assert torch.equal(grabcut_mask(batch.image[:1]), first)


def test_grabcut_leaves_the_caller_s_opencv_generator_alone() -> None:
    """Its k-means is seeded with 0, which reseeded a notebook's own `cv2.setRNGSeed(42)`."""
    image, _ = disc_on_noise(48, 64, (24, 32), 15)
    draws = []
    for masked in (False, True):
        cv2.setRNGSeed(42)
        if masked:
            grabcut_mask(image)
        draws.append(cv2.randu(np.zeros(4), 0, 1).copy())
    assert np.array_equal(*draws)


def test_an_unbelievable_grabcut_falls_back_to_the_whole_frame(monkeypatch) -> None:
    flat = torch.full((1, 3, 32, 32), 0.3)  # nothing to tell apart
    assert torch.equal(object_mask(flat), torch.ones(1, 1, 32, 32))
    image = torch.zeros(1, 3, 32, 32)
    for covered in (0.05, 0.95):  # GrabCut's outline too small or too large to believe
        found = (torch.rand(1, 1, 32, 32) < covered).float()
        monkeypatch.setattr(inputs, "grabcut_mask", lambda image, margin, found=found: found)
        assert torch.equal(object_mask(image), torch.ones(1, 1, 32, 32))
    believable = (torch.rand(1, 1, 32, 32) < 0.5).float()
    monkeypatch.setattr(inputs, "grabcut_mask", lambda image, margin: believable)
    assert torch.equal(object_mask(image), believable)


def test_a_user_mask_is_cropped_with_the_image(tmp_path: Path) -> None:
    image = torch.rand(1, 3, 40, 60) * 2 - 1
    mask = torch.zeros(1, 1, 40, 60)
    mask[..., 10:30, 20:40] = 1  # the centre third of the 60×60 frame, a third of each side
    save_image(mask.expand(-1, 3, -1, -1) * 2 - 1, tmp_path / "mask.png")
    prepared = prepare_input(
        image, size=30, find_face=False, needs_mask=True, mask=load_mask(tmp_path / "mask.png")
    )
    assert prepared.box == Box(0, -10, 60, 60)
    assert prepared.mask.shape == (1, 1, 30, 30)
    assert prepared.mask.sum() == 100 and prepared.mask[0, 0, 10:20, 10:20].all()


def test_objects_keep_the_photos_whole_width() -> None:
    """A car photographed side-on in landscape lost both ends to a centre crop."""
    wide = torch.zeros(1, 3, 40, 80)
    wide[..., :10], wide[..., -10:] = 1.0, -1.0  # the car's two ends
    prepared = prepare_input(wide, size=16, find_face=False, needs_mask=False)
    assert prepared.box == Box(0, -20, 80, 80)
    assert prepared.framing == "whole width, top and bottom rows repeated to a square"
    assert (prepared.image[..., 0] > 0.9).all() and (prepared.image[..., -1] < -0.9).all()
    tall = prepare_input(wide.transpose(2, 3), size=16, find_face=False, needs_mask=False)
    assert tall.box == Box(0, 20, 40, 40) and tall.framing == "whole width, centre crop"


def test_masks_a_user_can_get_wrong(tmp_path: Path) -> None:
    with pytest.raises(GANliftError, match="same size as the image"):
        prepare_input(
            torch.rand(1, 3, 40, 60) * 2 - 1, size=20, find_face=False, needs_mask=True,
            mask=torch.ones(1, 1, 10, 10),
        )  # fmt: skip
    speck = torch.zeros(1, 1, 128, 128)
    speck[..., 60:62, 60:62] = 1  # ran the whole reconstruction, then had no surface to mesh
    with pytest.raises(GANliftError, match=r"covers 0\.0% of the model's 64x64 frame, too little"):
        prepare_input(torch.rand(1, 3, 128, 128) * 2 - 1, size=64, find_face=False, needs_mask=True,
                      mask=speck)  # fmt: skip
    save_image(-torch.ones(1, 3, 8, 8), tmp_path / "black.png")
    with pytest.raises(GANliftError, match="all black"):
        load_mask(tmp_path / "black.png")
    with pytest.raises(GANliftError, match="could not be read"):
        load_mask(tmp_path / "missing.png")


def test_a_mask_is_read_under_the_photos_caps(tmp_path: Path, monkeypatch) -> None:
    """The GANLIFT_* environment's, as the photo is: a mask as large as an accepted photo
    was refused at the built-in cap."""
    save_image(torch.ones(1, 3, 20, 20), tmp_path / "white.png")
    monkeypatch.setenv("GANLIFT_MAX_PIXELS", "300")
    with pytest.raises(GANliftError, match="has more than 300 pixels"):
        load_mask(tmp_path / "white.png")
    monkeypatch.setenv("GANLIFT_MAX_PIXELS", "400")
    assert load_mask(tmp_path / "white.png").sum() == 400


def test_a_cut_out_with_a_clear_background_is_its_own_mask(tmp_path: Path) -> None:
    """An object cut out onto transparency (white or any colour) is read by its opacity; it
    used to be composited on white and become all object."""
    cut_out = np.zeros((6, 8, 4), dtype=np.uint8)
    cut_out[2:4, 3:6] = (255, 255, 255, 255)
    Image.fromarray(cut_out).save(tmp_path / "cut.png")
    mask = load_mask(tmp_path / "cut.png")
    assert mask.shape == (1, 1, 6, 8) and mask.sum() == 6 and mask[0, 0, 2:4, 3:6].all()
    clear = np.zeros((6, 8, 4), dtype=np.uint8)
    clear[..., :3] = 255  # white, but nothing of it shows
    Image.fromarray(clear).save(tmp_path / "clear.png")
    with pytest.raises(GANliftError, match=r"clear\.png is fully transparent; paint the object"):
        load_mask(tmp_path / "clear.png")
    opaque = np.full((6, 8, 4), 255, dtype=np.uint8)
    opaque[..., :3] = 0
    opaque[1:3, 1:3, :3] = 255  # an ordinary white-on-black mask that happens to be RGBA
    Image.fromarray(opaque).save(tmp_path / "opaque.png")
    assert load_mask(tmp_path / "opaque.png").sum() == 4


def test_a_palette_cut_out_and_a_soft_edge_are_read_by_opacity(tmp_path: Path) -> None:
    """A quantized cut-out (pngquant, TinyPNG: palette + tRNS) is as much a cut-out as an RGBA
    one; an anti-aliased fringe below half opacity stays out of the mask."""
    cut_out = np.zeros((6, 8, 4), dtype=np.uint8)
    cut_out[2:4, 3:6] = (200, 40, 40, 255)
    cut_out[1, 3:6] = (200, 40, 40, 51)  # a fringe at 0.2
    Image.fromarray(cut_out).save(tmp_path / "soft.png")
    assert load_mask(tmp_path / "soft.png").sum() == 6
    Image.fromarray(cut_out).quantize(4).save(tmp_path / "palette.png")
    with Image.open(tmp_path / "palette.png") as saved:
        assert saved.mode == "P" and "transparency" in saved.info
    mask = load_mask(tmp_path / "palette.png")
    assert mask.sum() == 6 and mask[0, 0, 2:4, 3:6].all()


def test_a_cut_out_is_read_from_disk_and_decoded_once(tmp_path: Path, monkeypatch) -> None:
    """Its alpha was read by opening the file a second time, after the checks had passed on
    the first read (a file replaced in between was read unchecked)."""
    cut_out = np.zeros((6, 8, 4), dtype=np.uint8)
    cut_out[2:4, 3:6] = 255
    Image.fromarray(cut_out).save(tmp_path / "cut.png")
    opened = []
    real_open = Image.open

    def counted_open(file, *args, **kwargs):
        opened.append(file)
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(Image, "open", counted_open)
    assert load_mask(tmp_path / "cut.png").sum() == 6
    assert len(opened) == 1


def test_a_trimming_mask_outlines_a_centred_object_and_nothing_else() -> None:
    for centre, centred in (((24, 24), True), ((12, 12), False)):
        image, disc = disc_on_noise(48, 48, centre, 11)
        assert float(object_mask(image)[0, 0].mean()) < 0.5  # GrabCut finds the disc either way
        mask = trimming_mask(image)[0, 0]
        if centred:
            assert float((mask * disc).sum() / ((mask + disc) > 0).sum()) > 0.9
        else:
            assert torch.equal(mask, torch.ones(48, 48))  # off-centre: not the cropped object


@pytest.mark.parametrize(("covered", "kept"), [(0.7, True), (0.3, False)])
def test_a_trimming_mask_is_kept_where_it_covers_half_the_centre(
    monkeypatch, covered: float, kept: bool
) -> None:
    """GrabCut's mask is believed where it covers half the frame's central ninth or more."""
    found = torch.zeros(1, 1, 30, 30)
    found[..., 10:20, 10 : 10 + round(10 * covered)] = 1  # the centre ninth, partly
    monkeypatch.setattr(inputs, "object_mask", lambda image: found)
    mask = trimming_mask(torch.zeros(1, 3, 30, 30))
    assert torch.equal(mask, found if kept else torch.ones_like(found))


def test_a_mask_picture_without_alpha_is_read_by_its_brightness(tmp_path: Path) -> None:
    """White on a dark grey (90 of 255): only the white half is inside."""
    pixels = np.full((8, 8, 3), 90, np.uint8)
    pixels[:, :4] = 255
    Image.fromarray(pixels).save(tmp_path / "mask.png")
    mask = load_mask(tmp_path / "mask.png")[0, 0]
    assert mask[:, :4].all() and not mask[:, 4:].any()
