"""The GAN2Shape release's own files: its pretrained networks' layout (read off its networks.py:
EDDeconv, Encoder, ResEncoder at 128 px) matches ours key for key, and its view / light
statistics and face networks become the run's preset and start (in the CLI and the app), or
one-sentence errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from app import reconstruct as app_reconstruct
from app.models import ModelChoice, ModelStore
from app.session import AppContext, Session
from app.settings import AppSettings
from app.viewer import TorchViewer
from engine.cli import main
from engine.errors import GANliftError
from engine.gan2shape import (
    Gan2ShapeModel,
    Gan2ShapeNetworks,
    fast_preset,
    get_preset,
    quality_schedule,
    read_release,
    reconstruct,
    sample_input,
)
from engine.perceptual import DiscriminatorFeatureLoss
from engine.stylegan2 import save_checkpoint
from tests.tiny import tiny_gan, tiny_gan2shape_preset

SIZE = 32
STYLE_DIM = 32  # tiny_gan's
TINY_FACE = tiny_gan2shape_preset(SIZE, prior_steps=2, collect_batches=1, inversion_steps=2)
TINY_FACE = TINY_FACE.replace(name="face")  # the release's files are named by its presets
VIEW_MEAN = torch.tensor([0.01, -0.02, 0.03, 0.0, 0.05, 0.0])
VIEW_COV = torch.diag(torch.tensor([0.01, 0.05, 0.002, 0.01, 0.01, 0.0]))
LIGHT_MEAN = torch.tensor([0.1, 0.2, -0.3, 0.4])


def release_layout(image_size: int = 128, width: int = 32) -> dict[str, dict[str, tuple]]:
    """Key -> shape of each network in the release's checkpoints for a face (128 px): its
    nn.Sequential indices, every conv bias-free, group norms with weight and bias."""
    w, z = width, 256
    extra = image_size.bit_length() - 7  # levels past 64 px
    assert extra == 1, "the table below is written out for 128 px"

    def conv(index: int, shape: tuple) -> dict[str, tuple]:
        return {f"network.{index}.weight": shape}

    def norm(index: int, channels: int) -> dict[str, tuple]:
        return {f"network.{index}.weight": (channels,), f"network.{index}.bias": (channels,)}

    def depth_or_albedo(out: int) -> dict[str, tuple]:
        down = [(0, 3, w), (3, w, 2 * w), (6, 2 * w, 4 * w), (9, 4 * w, 8 * w), (12, 8 * w, 16 * w)]
        layout = {}
        for index, source, target in down:
            layout |= conv(index, (target, source, 4, 4))
        for index, channels in ((1, w), (4, 2 * w), (7, 4 * w), (10, 8 * w)):
            layout |= norm(index, channels)
        layout |= conv(14, (z, 16 * w, 4, 4))  # 4x4 -> the 1x1 code
        layout |= conv(16, (z, 16 * w, 4, 4)) | conv(18, (16 * w, 16 * w, 3, 3))  # transposed
        for up, channels in ((20, 16 * w), (26, 8 * w), (32, 4 * w), (38, 2 * w)):
            layout |= conv(up, (channels, channels // 2, 4, 4))  # transposed: (in, out, k, k)
            layout |= norm(up + 1, channels // 2)
            layout |= conv(up + 3, (channels // 2, channels // 2, 3, 3))
            layout |= norm(up + 4, channels // 2)
        layout |= conv(45, (w, w, 3, 3)) | norm(46, w) | conv(48, (w, w, 5, 5)) | norm(49, w)
        return layout | conv(51, (out, w, 5, 5))

    def encoder(out: int) -> dict[str, tuple]:
        channels = [3, w, 2 * w, 4 * w, 8 * w, 16 * w]
        layout = {}
        for level in range(5):
            layout |= conv(2 * level, (channels[level + 1], channels[level], 4, 4))
        return layout | conv(10, (16 * w, 16 * w, 4, 4)) | conv(12, (out, 16 * w, 1, 1))

    def offset_encoder(out: int, base: int = 32) -> dict[str, tuple]:
        layout = conv(0, (base, 3, 4, 4))
        for block in range(1, 5):
            source, target = base * 2 ** (block - 1), base * 2**block
            prefix = f"network.{block}"
            layout |= {
                f"{prefix}.conv1.weight": (target, source, 3, 3),
                f"{prefix}.conv2.weight": (target, target, 3, 3),
                f"{prefix}.conv_sc.weight": (target, source, 1, 1),
                f"{prefix}.conv_sc.bias": (target,),
            }
        return layout | conv(6, (32 * base, 16 * base, 4, 4)) | conv(8, (out, 32 * base, 1, 1))

    return {
        "netD": depth_or_albedo(1),
        "netA": depth_or_albedo(3),
        "netV": encoder(6),
        "netL": encoder(4),
        "netEnc": offset_encoder(512),
    }


def test_the_face_presets_networks_have_the_releases_layout() -> None:
    with torch.device("meta"):  # shapes only
        networks = Gan2ShapeNetworks(get_preset("face").networks, style_dim=512)
    ours = {
        "netD": networks.depth_net, "netA": networks.albedo_net, "netV": networks.view_net,
        "netL": networks.light_net, "netEnc": networks.offset_net,
    }  # fmt: skip
    for name, expected in release_layout().items():
        got = {key: tuple(value.shape) for key, value in ours[name].state_dict().items()}
        assert got == expected, name


def write_release(folder: Path, networks: Gan2ShapeNetworks | None) -> Path:
    """A release `checkpoints/` folder with the face's statistics and, given, networks."""
    (folder / "view_light").mkdir(parents=True)
    torch.save({"mean": VIEW_MEAN, "cov": VIEW_COV}, folder / "view_light/celeba_view_mvn.pth")
    light = {"mean": LIGHT_MEAN, "cov": torch.eye(4) * 0.01}
    torch.save(light, folder / "view_light/celeba_light_mvn.pth")
    if networks is not None:
        (folder / "gan2shape").mkdir()
        release = {
            "netD": networks.depth_net.state_dict(), "netA": networks.albedo_net.state_dict(),
            "netV": networks.view_net.state_dict(), "netL": networks.light_net.state_dict(),
            "netEnc": networks.offset_net.state_dict(),
        }  # fmt: skip
        torch.save(release, folder / "gan2shape/celeba_pretrain.pth")
    return folder


@pytest.fixture(scope="module")
def release_networks() -> Gan2ShapeNetworks:
    torch.manual_seed(5)
    return Gan2ShapeNetworks(TINY_FACE.networks, style_dim=STYLE_DIM)


def test_a_release_folder_gives_the_statistics_and_the_starting_networks(
    tmp_path: Path, release_networks: Gan2ShapeNetworks
) -> None:
    folder = write_release(tmp_path / "checkpoints", release_networks)
    setup = read_release(TINY_FACE, folder, style_dim=STYLE_DIM)
    assert torch.tensor(setup.preset.view_mean) == pytest.approx(VIEW_MEAN)
    assert torch.tensor(setup.preset.view_cov) == pytest.approx(VIEW_COV)
    assert torch.tensor(setup.preset.light_mean) == pytest.approx(LIGHT_MEAN)
    assert (
        setup.preset.replace(
            view_mean=TINY_FACE.view_mean,
            view_cov=TINY_FACE.view_cov,
            light_mean=TINY_FACE.light_mean,
        )
        == TINY_FACE
    )  # nothing else changes
    expected = release_networks.state_dict()
    assert setup.start.keys() == expected.keys()
    assert all(torch.equal(setup.start[key], expected[key]) for key in expected)


def test_runs_of_either_quality_start_from_the_release_networks(
    tmp_path: Path, release_networks: Gan2ShapeNetworks
) -> None:
    G, D = tiny_gan(SIZE)
    folder = write_release(tmp_path / "checkpoints", release_networks)
    setup = read_release(TINY_FACE, folder, style_dim=G.style_dim)
    model = Gan2ShapeModel(G, D, setup.preset, tmp_path / "none.safetensors", setup.start)
    for quality, schedule in (("full", setup.preset), ("fast", fast_preset(setup.preset))):
        chosen = quality_schedule(setup.preset, quality, model.pretrained, start=model.start)
        assert chosen == (schedule, setup.start)
    prepared, latent = sample_input(G, 1)
    perceptual = DiscriminatorFeatureLoss(D)
    done = reconstruct(
        model, prepared, out_dir=tmp_path / "run", latent=latent, perceptual=perceptual
    )
    assert done.recovery.finished
    assert not done.recovery.state.fit_prior  # no ellipsoid fit, as in the release
    without = Gan2ShapeModel(G, D, setup.preset, tmp_path / "none.safetensors")
    with pytest.raises(GANliftError, match=r"another set of starting networks \(--release-dir\)"):
        reconstruct(without, prepared, out_dir=tmp_path / "run", latent=latent)


def test_release_folders_that_cannot_serve_are_one_sentence(
    tmp_path: Path, release_networks: Gan2ShapeNetworks
) -> None:
    style_dim = STYLE_DIM
    with pytest.raises(GANliftError, match=r"belongs with the release.s presets.*--category"):
        read_release(get_preset("default-face"), tmp_path, style_dim=style_dim)
    with pytest.raises(GANliftError, match="does not exist; give the checkpoints/ folder"):
        read_release(TINY_FACE, tmp_path / "nowhere", style_dim=style_dim)
    with pytest.raises(GANliftError, match=r"has no view_light/celeba_view_mvn\.pth"):
        read_release(TINY_FACE, tmp_path, style_dim=style_dim)
    statistics_only = write_release(tmp_path / "no-networks", None)
    with pytest.raises(GANliftError, match=r"has no gan2shape/celeba_pretrain\.pth"):
        read_release(TINY_FACE, statistics_only, style_dim=style_dim)
    car = read_release(TINY_FACE.replace(name="car"), _car_folder(tmp_path), style_dim=style_dim)
    assert car.start is None  # the release fits the prior for cars
    broken = write_release(tmp_path / "broken", release_networks)
    torch.save({"mean": torch.zeros(5)}, broken / "view_light/celeba_view_mvn.pth")
    with pytest.raises(GANliftError, match="is not the release's statistics of 6 values"):
        read_release(TINY_FACE, broken, style_dim=style_dim)
    nan = {"mean": torch.full((6,), float("nan")), "cov": VIEW_COV}  # would make every view nan
    torch.save(nan, broken / "view_light/celeba_view_mvn.pth")
    with pytest.raises(GANliftError, match="a dict of finite 'mean'"):
        read_release(TINY_FACE, broken, style_dim=style_dim)
    partial = write_release(tmp_path / "partial", release_networks)
    torch.save({"netD": {}, "netV": {}, "netL": {}}, partial / "gan2shape/celeba_pretrain.pth")
    with pytest.raises(GANliftError, match="lacks netA, netEnc of the release's five pretrained"):
        read_release(TINY_FACE, partial, style_dim=style_dim)  # unseeded nets: no resume
    wider = TINY_FACE.replace(networks=get_preset("face").networks)
    with pytest.raises(GANliftError, match="netD does not fit this preset's depth_net"):
        read_release(wider, write_release(tmp_path / "other", release_networks), style_dim=512)


def _car_folder(tmp_path: Path) -> Path:
    """A release folder with the car's (shared) statistics only."""
    folder = tmp_path / "car" / "view_light"
    folder.mkdir(parents=True)
    torch.save({"mean": VIEW_MEAN, "cov": VIEW_COV}, folder / "view_mvn.pth")
    torch.save({"mean": LIGHT_MEAN, "cov": torch.eye(4)}, folder / "light_mvn.pth")
    return folder.parent


def test_the_command_refuses_a_missing_release_folder_in_one_line(tmp_path: Path, capsys) -> None:
    G, D = tiny_gan(SIZE)
    checkpoint = save_checkpoint(tmp_path / "tiny", G, discriminator=D)
    preset = tmp_path / "face.json"
    preset.write_text(TINY_FACE.to_json())
    command = [
        "reconstruct", "--seed-sample", "1", "--ckpt", str(checkpoint), "--preset", str(preset),
        "--release-dir", str(tmp_path / "checkpoints"), "--out", str(tmp_path / "out"),
    ]  # fmt: skip
    assert main(command) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "does not exist; give the checkpoints/ folder" in err
    with pytest.raises(SystemExit):  # its networks start runs; pretraining starts from none
        main(["gan2shape-pretrain", "--ckpt", str(checkpoint), "--out", "n", "--release-dir", "x"])
    assert "unrecognized arguments: --release-dir" in capsys.readouterr().err


def test_the_app_samples_and_starts_a_release_checkpoint_as_the_release_does(
    tmp_path: Path, release_networks: Gan2ShapeNetworks
) -> None:
    G, D = tiny_gan(SIZE)
    checkpoint = save_checkpoint(tmp_path / "tiny", G, discriminator=D)
    preset = tmp_path / "face.json"
    preset.write_text(TINY_FACE.to_json())
    folder = write_release(tmp_path / "checkpoints", release_networks)
    store = ModelStore(torch.device("cpu"), release_dir=folder)
    model = store.load(ModelChoice("tiny", checkpoint, str(preset)))
    assert torch.tensor(model.preset.view_mean) == pytest.approx(VIEW_MEAN)
    assert model.start.keys() == release_networks.state_dict().keys()
    assert "as the GAN2Shape release does and starts from its pretrained" in model.describe()
    own = tmp_path / "own.json"  # a preset of this project's: the release has nothing for it
    own.write_text(TINY_FACE.replace(name="tiny-face").to_json())
    plain = store.load(ModelChoice("tiny", checkpoint, str(own)))
    assert plain.start is None and not plain.from_release and "release" not in plain.describe()

    settings = AppSettings(model=str(checkpoint), category=str(preset))
    session = Session(AppContext(settings, store, TorchViewer()))
    app_reconstruct.sample(session, 1)
    app_reconstruct.reconstruct(session, "fast")
    recovery = session.require_recovery()
    assert recovery.finished and not recovery.state.fit_prior  # started from the release's


def test_cars_and_churches_fit_the_prior_from_the_shared_statistics(tmp_path: Path) -> None:
    """The release has pretrained networks for faces and cats only: its car and church runs
    read the shared view_mvn / light_mvn and fit the ellipsoid prior."""
    folder = _car_folder(tmp_path)
    for name in ("car", "church"):
        setup = read_release(TINY_FACE.replace(name=name), folder, style_dim=STYLE_DIM)
        assert setup.start is None, name
        assert torch.tensor(setup.preset.view_mean) == pytest.approx(VIEW_MEAN)
