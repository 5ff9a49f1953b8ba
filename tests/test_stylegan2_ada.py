"""StyleGAN2-ADA `.pkl` snapshots: mapped onto our modules and checked against NVIDIA's outputs,
unpickled without executing the module source they carry.

tests/data/stylegan2_ada_tiny.* hold a tiny seeded G_ema and D made with NVlabs'
stylegan2-ada-pytorch: module classes and attributes (.json), tensors and the outputs NVIDIA's
own code computed from them (.safetensors). The tests rebuild a snapshot with the same pickle
structure as NVIDIA's persistence module (the reconstructor global with a meta dict per module).
"""

from __future__ import annotations

import collections
import io
import json
import math
import os
import pickle
import re
import struct
import sys
import tracemalloc
import types
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import safetensors.torch
import torch
import torch.nn.functional as F

from engine.errors import GANliftError
from engine.stylegan2 import load_checkpoint, save_pt_checkpoint
from engine.stylegan2.safe_pickle import load_ada_pickle

DATA = Path(__file__).parent / "data"
BUFFER_NAMES = {"resample_filter", "noise_const", "w_avg"}


class PersistentModule:
    """Pickles like an NVIDIA persistent module: reconstructor(meta) with the module source."""

    def __init__(self, reconstruct: Callable[[dict], Any], meta: dict[str, Any]) -> None:
        self.reconstruct = reconstruct
        self.meta = meta

    def __reduce__(self):
        return (self.reconstruct, (self.meta,))


@pytest.fixture
def ada_globals(monkeypatch: pytest.MonkeyPatch) -> types.SimpleNamespace:
    """Stand-ins for torch_utils.persistence and dnnlib.util, importable only while pickling."""

    def _reconstruct_persistent_obj(meta: dict) -> Any:
        raise AssertionError("the loader must never call the real reconstructor")

    class EasyDict(dict):
        pass

    persistence = types.ModuleType("torch_utils.persistence")
    _reconstruct_persistent_obj.__module__ = persistence.__name__
    _reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"
    persistence._reconstruct_persistent_obj = _reconstruct_persistent_obj
    util = types.ModuleType("dnnlib.util")
    EasyDict.__module__, EasyDict.__qualname__ = util.__name__, "EasyDict"
    util.EasyDict = EasyDict
    for name, module in (
        ("torch_utils", types.ModuleType("torch_utils")),
        ("torch_utils.persistence", persistence),
        ("dnnlib", types.ModuleType("dnnlib")),
        ("dnnlib.util", util),
    ):
        monkeypatch.setitem(sys.modules, name, module)
    return types.SimpleNamespace(reconstruct=_reconstruct_persistent_obj, easydict=EasyDict)


@pytest.fixture(scope="module")
def reference() -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    spec = json.loads((DATA / "stylegan2_ada_tiny.json").read_text())
    return spec, safetensors.torch.load_file(DATA / "stylegan2_ada_tiny.safetensors")


def build_module(path: str, spec: dict, tensors: dict, ada: types.SimpleNamespace, source: str):
    """The persistent record of module `path` and, recursively, its children."""
    depth = path.count(".") + 1
    children = [p for p in spec if p.startswith(f"{path}.") and p.count(".") == depth]
    own = {
        key[len(path) + 1 :]: value
        for key, value in tensors.items()
        if key.rsplit(".", 1)[0] == path
    }
    attrs = dict(spec[path]["attrs"])
    if "bias_gain" in attrs:  # NVIDIA stores these as numpy float64
        attrs["bias_gain"] = np.float64(attrs["bias_gain"])
    state = {
        **attrs,
        "_parameters": collections.OrderedDict(
            (name, torch.nn.Parameter(value) if value.dtype.is_floating_point else value)
            for name, value in own.items()
            if name not in BUFFER_NAMES
        ),
        "_buffers": collections.OrderedDict((n, v) for n, v in own.items() if n in BUFFER_NAMES),
        "_non_persistent_buffers_set": set(),
        "_modules": collections.OrderedDict(
            (child.rsplit(".", 1)[1], build_module(child, spec, tensors, ada, source))
            for child in children
        ),
        "_init_kwargs": ada.easydict(source="tests"),
    }
    meta = {
        "type": "class",
        "version": 6,
        "module_src": source,
        "class_name": spec[path]["class_name"],
        "state": state,
    }
    return PersistentModule(ada.reconstruct, meta)


def write_snapshot(
    path: Path, reference, ada, source: str = "", edit=None, protocol: int = 4, drop=()
) -> Path:
    """Pickle {'G', 'D', 'G_ema', ...} in the stylegan2-ada-pytorch snapshot layout (less the
    networks named in `drop`)."""
    spec, tensors = reference
    spec = json.loads(json.dumps(spec))
    if edit is not None:
        edit(spec)
    networks = {
        name: build_module(
            name,
            spec[name],
            {k: v for k, v in tensors.items() if k.startswith(f"{name}.")},
            ada,
            source,
        )
        for name in ("G_ema", "D")
    }
    snapshot = {
        "G": networks["G_ema"],
        "G_ema": networks["G_ema"],
        "D": networks["D"],
        "augment_pipe": None,
    }
    snapshot["training_set_kwargs"] = ada.easydict(resolution=32)
    snapshot = {key: value for key, value in snapshot.items() if key not in drop}
    path.write_bytes(pickle.dumps(snapshot, protocol=protocol))
    return path


@pytest.mark.parametrize("impl", ["fast", "reference"])
@torch.no_grad()
def test_snapshot_matches_nvidia_outputs(reference, ada_globals, tmp_path: Path, impl: str) -> None:
    marker = tmp_path / "source-was-executed"
    source = f"import pathlib\npathlib.Path({str(marker)!r}).touch()\n"
    checkpoint = load_checkpoint(
        write_snapshot(tmp_path / "tiny.pkl", reference, ada_globals, source)
    )
    assert not marker.exists()
    assert checkpoint.format == "StyleGAN2-ADA snapshot"
    config = checkpoint.generator.config
    assert (config.size, config.style_dim, config.n_mlp, config.conv_clamp) == (32, 32, 2, 2.0)
    assert config.channels == {4: 32, 8: 32, 16: 16, 32: 8}
    assert checkpoint.discriminator.config.mbstd_group_size == 2

    out = {key[4:]: value for key, value in reference[1].items() if key.startswith("out.")}
    G = checkpoint.generator.set_impl(impl)
    D = checkpoint.discriminator.set_impl(impl)
    assert (G.mapping(out["z"]) - out["w"]).abs().max() < 1e-4
    assert (G(out["z"]) - out["img"]).abs().max() < 1e-4
    assert (G(out["z"], truncation=0.7) - out["img_trunc07"]).abs().max() < 1e-4
    assert (G.synthesis(out["wplus"]) - out["img_wplus"]).abs().max() < 1e-4
    assert (D(out["img"]) - out["d_out"]).abs().max() < 1e-4


@torch.no_grad()
def test_old_protocol_and_generator_only_snapshots_load(reference, ada_globals, tmp_path) -> None:
    """Protocol 2 names builtins as Python 2 did and writes bytes through _codecs.encode: such a
    snapshot was refused as one that could run code. A snapshot holding only the training
    generator G was refused as no snapshot at all."""
    z = torch.randn(2, 32, generator=torch.Generator().manual_seed(0))
    usual = load_checkpoint(write_snapshot(tmp_path / "p4.pkl", reference, ada_globals))
    old = load_checkpoint(write_snapshot(tmp_path / "p2.pkl", reference, ada_globals, protocol=2))
    assert torch.equal(old.generator(z), usual.generator(z))
    g_only = write_snapshot(tmp_path / "g.pkl", reference, ada_globals, drop=("G_ema", "D"))
    trained = load_checkpoint(g_only)  # the fixture's G is its G_ema
    assert torch.equal(trained.generator(z), usual.generator(z))
    assert trained.format == "StyleGAN2-ADA snapshot without G_ema (its training generator G)"
    assert trained.discriminator is None


def test_a_tensorflow_snapshot_is_named_with_its_conversion(tmp_path: Path) -> None:
    """NVIDIA's original stylegan2-ffhq-config-f.pkl was called a pickle that could run code."""
    path = tmp_path / "stylegan2-ffhq-config-f.pkl"
    path.write_bytes(b"\x80\x02cdnnlib.tflib.network\nNetwork\n)\x81.")  # its first network
    with pytest.raises(GANliftError, match=r"TensorFlow StyleGAN2 snapshot, .* legacy\.py"):
        load_checkpoint(path)


def test_tensors_that_view_part_of_a_storage_load_with_their_offset(tmp_path: Path) -> None:
    """A snapshot may hold tensors sharing one storage (views with an offset and a stride)."""
    storage = torch.arange(12.0)
    views = {"tail": storage[5:9], "strided": storage.view(3, 4)[:, 1]}
    path = tmp_path / "views.pkl"
    path.write_bytes(pickle.dumps(views, protocol=4))
    loaded = load_ada_pickle(path)
    assert loaded["tail"].tolist() == [5.0, 6.0, 7.0, 8.0]
    assert loaded["strided"].tolist() == [1.0, 5.0, 9.0]


def nvidia_mapping(tensors: dict[str, torch.Tensor], z: torch.Tensor, gain: float) -> torch.Tensor:
    """stylegan2-ada-pytorch's mapping network written out for the fixture's two layers, with
    learning-rate multiplier `gain` (its layers' bias_gain; weight_gain = gain / √fan-in)."""
    x = z * (z.square().mean(dim=1, keepdim=True) + 1e-8).rsqrt()
    for layer in ("fc0", "fc1"):
        weight = tensors[f"G_ema.mapping.{layer}.weight"]  # [out, in]
        bias = tensors[f"G_ema.mapping.{layer}.bias"]
        x = x @ (weight * gain / math.sqrt(weight.shape[1])).T + bias * gain
        x = F.leaky_relu(x, 0.2) * math.sqrt(2)
    return x


@torch.no_grad()
def test_the_mapping_learning_rate_multiplier_is_read(reference, ada_globals, tmp_path) -> None:
    """A snapshot trained with another --map-lr multiplier (bias_gain) maps z as NVIDIA's code
    does (the fixture's 0.01 alone could not tell a read value from a hard-coded one)."""
    tensors = reference[1]
    z = tensors["out.z"]
    assert torch.allclose(nvidia_mapping(tensors, z, 0.01), tensors["out.w"], atol=1e-4)

    def other_multiplier(spec: dict) -> None:
        for layer in ("fc0", "fc1"):
            attrs = spec["G_ema"][f"G_ema.mapping.{layer}"]["attrs"]
            attrs["bias_gain"], attrs["weight_gain"] = 0.1, 0.1 / math.sqrt(32)

    path = write_snapshot(tmp_path / "map-lr.pkl", reference, ada_globals, edit=other_multiplier)
    G = load_checkpoint(path).generator
    assert G.config.lr_mlp == pytest.approx(0.1)
    assert torch.allclose(G.mapping(z), nvidia_mapping(tensors, z, 0.1), atol=1e-4)


@torch.no_grad()
def test_snapshot_and_its_common_layout_copy_give_the_same_images(
    reference, ada_globals, tmp_path: Path
) -> None:
    ada = load_checkpoint(write_snapshot(tmp_path / "tiny.pkl", reference, ada_globals))
    copy = save_pt_checkpoint(
        tmp_path / "tiny.pt",
        ada.generator,
        discriminator=ada.discriminator,
        latent_avg=ada.latent_avg,
    )
    common = load_checkpoint(copy)
    z = torch.randn(4, 32, generator=torch.Generator().manual_seed(0))
    assert torch.equal(common.generator(z, truncation=0.5), ada.generator(z, truncation=0.5))
    assert ada.discriminator.config.mbstd_group_size != 4  # not the common layout's default
    assert common.discriminator.config == ada.discriminator.config
    images = ada.generator(z)
    assert torch.equal(common.discriminator(images), ada.discriminator(images))


def test_snapshot_carrying_a_command_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "marker"

    class RunsCommand:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"G_ema": RunsCommand()}))
    with pytest.raises(GANliftError, match=r"refers to posix\.system"):
        load_checkpoint(path)
    assert not marker.exists()
    encoded = b"\x80\x02c_codecs\nencode\nX\x03\x00\x00\x00abcX\x05\x00\x00\x00rot13\x86R."
    path.write_bytes(encoded)  # protocol 2's bytes codec, asked for another encoding
    with pytest.raises(GANliftError, match="encodes text in a way pickled bytes never are"):
        load_checkpoint(path)


class _StorageCarryingACommand:
    """Pickles as torch's storage reconstructor over bytes that call os.system: a global
    hidden one level down, inside a tensor's storage."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        inner = io.BytesIO()
        torch.save(RunsCommand(self.command), inner)
        return (torch.storage._load_from_bytes, (inner.getvalue(),))


class _CompressedStorage:
    """Pickles as torch's storage reconstructor over a zip whose entries are compressed: a
    small snapshot that unpacks to far more."""

    def __reduce__(self):
        plain, packed = io.BytesIO(), io.BytesIO()
        torch.save(torch.zeros(250_000).untyped_storage(), plain)
        with (
            zipfile.ZipFile(plain) as source,
            zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED) as target,
        ):
            for entry in source.infolist():
                target.writestr(entry.filename, source.read(entry))
        return (torch.storage._load_from_bytes, (packed.getvalue(),))


class RunsCommand:
    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def test_a_command_inside_a_storage_and_an_expanded_tensor_are_refused(tmp_path: Path) -> None:
    """The nested global read as a damaged file; a tensor of one value expanded to 4096 x 4096
    became 64 MB (any size) when the converter made it contiguous."""
    marker = tmp_path / "marker"
    path = tmp_path / "nested.pkl"
    path.write_bytes(pickle.dumps({"G_ema": _StorageCarryingACommand(f"touch {marker}")}))
    with pytest.raises(GANliftError, match=r"a tensor in it refers to posix\.system"):
        load_checkpoint(path)
    assert not marker.exists()
    path.write_bytes(pickle.dumps({"G_ema": _CompressedStorage()}))
    assert path.stat().st_size < 20_000
    with pytest.raises(GANliftError, match=r"this snapshot's tensor storage: its archive compre"):
        load_checkpoint(path)
    path.write_bytes(pickle.dumps({"weight": torch.zeros(1).expand(4096, 4096)}, protocol=4))
    with pytest.raises(GANliftError, match=r"declares a tensor of shape \[4096, 4096\] but stores"):
        load_ada_pickle(path)


def test_unsupported_or_broken_snapshots(reference, ada_globals, tmp_path: Path) -> None:
    def orig_architecture(spec):
        spec["G_ema"]["G_ema.synthesis.b8"]["attrs"]["architecture"] = "orig"

    path = write_snapshot(tmp_path / "orig.pkl", reference, ada_globals, edit=orig_architecture)
    with pytest.raises(GANliftError, match="b8 uses a synthesis architecture other than 'skip'"):
        load_checkpoint(path)

    def conditional(spec):
        spec["G_ema"]["G_ema"]["attrs"]["c_dim"] = 10

    path = write_snapshot(tmp_path / "cond.pkl", reference, ada_globals, edit=conditional)
    with pytest.raises(GANliftError, match="is class-conditional"):
        load_checkpoint(path)

    data = write_snapshot(tmp_path / "ok.pkl", reference, ada_globals).read_bytes()
    (tmp_path / "cut.pkl").write_bytes(data[: len(data) // 3])
    with pytest.raises(GANliftError, match="truncated or not a StyleGAN2-ADA snapshot"):
        load_checkpoint(tmp_path / "cut.pkl")

    (tmp_path / "list.pkl").write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(GANliftError, match="has no G_ema or G network"):
        load_checkpoint(tmp_path / "list.pkl")


def test_stylegan3_and_odd_filters_are_named(reference, ada_globals, tmp_path: Path) -> None:
    def stylegan3_layer(spec):  # StyleGAN3 layers keep numpy arrays such as their input size
        spec["G_ema"]["G_ema.synthesis"]["attrs"]["in_size"] = np.broadcast_to(np.asarray(36), 2)

    path = write_snapshot(tmp_path / "sg3.pkl", reference, ada_globals, edit=stylegan3_layer)
    with pytest.raises(GANliftError, match=r"holds numpy arrays, .* \(StyleGAN3's do\)"):
        load_checkpoint(path)

    spec, tensors = reference
    binomial = torch.tensor([1.0, 2.0, 1.0])
    three_taps = torch.outer(binomial, binomial) / 16
    tensors = {
        key: three_taps if key.endswith("resample_filter") else value
        for key, value in tensors.items()
    }
    path = write_snapshot(tmp_path / "filter.pkl", (spec, tensors), ada_globals)
    with pytest.raises(GANliftError, match=r"resampling filter other than \[1, 3, 3, 1\]"):
        load_checkpoint(path)
    box = torch.full((4, 4), 1 / 16)  # the standard filter's shape, not its taps
    tensors = {
        key: box if key.endswith("resample_filter") else value for key, value in tensors.items()
    }
    path = write_snapshot(tmp_path / "box.pkl", (spec, tensors), ada_globals)
    with pytest.raises(GANliftError, match=r"resampling filter other than \[1, 3, 3, 1\]"):
        load_checkpoint(path)


class _BigEndianScalar:
    """Pickles as numpy does a float64 scalar of big-endian byte order (a snapshot written on
    such a machine)."""

    def __init__(self, value: float) -> None:
        self.value = value

    def __reduce__(self):
        scalar = np.float64(0).__reduce__()[0]  # numpy's scalar reconstructor, whatever its module
        return (scalar, (np.dtype(">f8"), struct.pack(">d", self.value)))


def test_numpy_scalars_are_read_in_their_byte_order(tmp_path: Path) -> None:
    path = tmp_path / "scalars.pkl"
    path.write_bytes(pickle.dumps({"big": _BigEndianScalar(0.01), "native": np.float64(0.25)}))
    assert load_ada_pickle(path) == {"big": 0.01, "native": 0.25}


@pytest.mark.parametrize("meta", [{"type": "function", "state": {}}, {"type": "class"}, [1]])
def test_a_persistent_object_of_another_kind_is_refused(ada_globals, tmp_path, meta) -> None:
    """Only persistent classes (modules) carry network state; a pickled function is not read
    as one."""
    path = tmp_path / "function.pkl"
    path.write_bytes(pickle.dumps({"G_ema": PersistentModule(ada_globals.reconstruct, meta)}))
    with pytest.raises(GANliftError, match="persistent object in an unknown format"):
        load_ada_pickle(path)


def test_a_discriminator_with_two_stddev_channels_loads(reference, ada_globals, tmp_path) -> None:
    """ADA's `mbstd_num_channels` option: the final convolution reads C + 2 channels."""
    spec, tensors = reference

    def two_channels(spec: dict) -> None:
        spec["D"]["D.b4.mbstd"]["attrs"]["num_channels"] = 2

    weight = tensors["D.b4.conv.weight"]  # [32, 33, 3, 3]
    tensors = {**tensors, "D.b4.conv.weight": torch.cat([weight, weight[:, -1:]], dim=1)}
    path = write_snapshot(tmp_path / "two.pkl", (spec, tensors), ada_globals, edit=two_channels)
    discriminator = load_checkpoint(path).discriminator
    assert discriminator is not None and discriminator.config.mbstd_channels == 2
    with torch.no_grad():
        assert discriminator(torch.zeros(2, 3, 32, 32)).shape == (2, 1)


def _attribute(network: str, modules: str, names: str, value: Any) -> Callable[[dict], None]:
    """An edit of the snapshot's spec: each of `names` set to `value` in each of `modules`
    of `network` (both separated by spaces)."""

    def edit(spec: dict) -> None:
        for module in modules.split():
            for name in names.split():
                spec[network][module]["attrs"][name] = value

    return edit


@pytest.mark.parametrize(
    ("edit", "refusal"),
    [
        (_attribute("G_ema", "G_ema.synthesis", "img_resolution", 0), "img_resolution"),
        (_attribute("G_ema", "G_ema G_ema.synthesis", "img_resolution", 7), "cannot build"),
        (_attribute("G_ema", "G_ema.synthesis", "img_resolution", 16), "disagree with its img"),
        (
            _attribute("G_ema", "G_ema G_ema.synthesis", "img_resolution", 16),
            "disagree with its img",
        ),  # both say 16 px, but a 32-px block is there
        (_attribute("G_ema", "G_ema", "img_resolution", "abc"), "'abc', not a whole number"),
        (_attribute("G_ema", "G_ema.mapping", "num_layers", None), "num_layers None, not a who"),
        (_attribute("G_ema", "G_ema.mapping", "num_layers", 1), "more layers than its num_la"),
        (_attribute("G_ema", "G_ema", "w_dim", "abc"), "w_dim 'abc', not a whole number"),
        (_attribute("G_ema", "G_ema", "w_dim", 10**9), "z_dim different from w_dim"),
        (_attribute("G_ema", "G_ema", "z_dim w_dim", 10**9), "cannot build (The generator"),
        (_attribute("G_ema", "G_ema", "c_dim", torch.ones(2)), "c_dim tensor"),
        (_attribute("G_ema", "G_ema.mapping.fc0", "bias_gain", None), "bias_gain nan, not a"),
        (_attribute("G_ema", "G_ema.synthesis.b4.conv1", "conv_clamp", "abc"), "conv_clamp 'ab"),
        (_attribute("G_ema", "G_ema.synthesis.b8.conv0", "use_noise", None), "use_noise None"),
        (_attribute("D", "D", "img_resolution", None), "img_resolution None"),
        (_attribute("D", "D.b4.mbstd", "group_size", math.nan), "group_size nan, not a whole"),
    ],
)
def test_a_snapshot_s_odd_attributes_are_one_sentence_naming_it(
    reference, ada_globals, tmp_path: Path, edit, refusal: str
) -> None:
    """They raised KeyError, TypeError or ValueError tracebacks from the converter, and a
    network the common layout cannot hold was refused naming no file (an image size of 7);
    an img_resolution of 16 beside a 32-px block loaded a 16-px generator without a word."""
    path = write_snapshot(tmp_path / "odd.pkl", reference, ada_globals, edit=edit)
    with pytest.raises(GANliftError, match=re.escape(refusal)) as refused:
        load_checkpoint(path)
    assert str(path) in str(refused.value) and "\n" not in str(refused.value)


@pytest.mark.parametrize(
    ("name", "damage", "refusal"),
    [
        ("G_ema.synthesis.b8.conv0.weight", lambda t: t.sum(), "not a supported StyleGAN2-ADA"),
        ("G_ema.synthesis.b8.conv0.noise_strength", lambda t: t.new_zeros(0), "not a supp"),
        ("G_ema.synthesis.b4.const", lambda t: t.sum(), "not a supported StyleGAN2-ADA"),
        ("D.b32.conv0.weight", lambda t: t.sum(), "not a supported StyleGAN2-ADA"),
        ("G_ema.mapping.fc0.weight", lambda t: t.long(), "fc0 holds weight as torch.int64, not"),
        ("G_ema.mapping.fc0.weight", lambda t: t.bool(), "holds weight as torch.bool, not"),
        ("G_ema.mapping.fc0.weight", lambda t: t.to(torch.complex64), "as torch.complex64"),
    ],
)
def test_a_snapshot_s_odd_tensors_are_one_sentence_naming_it(
    reference, ada_globals, tmp_path: Path, name: str, damage, refusal: str
) -> None:
    """A 0-d weight raised IndexError, an empty noise strength RuntimeError; integer and
    bool weights were cast to floats without a word and complex ones lost their imaginary
    part (a .pt checkpoint refuses both)."""
    spec, tensors = reference
    tensors = {**tensors, name: damage(tensors[name])}
    path = write_snapshot(tmp_path / "odd.pkl", (spec, tensors), ada_globals)
    with pytest.raises(GANliftError, match=re.escape(refusal)) as refused:
        load_checkpoint(path)
    assert str(path) in str(refused.value) and "\n" not in str(refused.value)


def test_a_layer_without_noise_is_not_sized_by_its_file(reference, ada_globals, tmp_path) -> None:
    """A layer without noise got a zero noise of the size its file stated: 16384 allocated a
    gigabyte before the layout check refused it, and 10**6 was reported as the machine's
    memory."""

    def no_noise(spec: dict) -> None:
        for layer in ("b4.conv1", "b8.conv0"):
            attrs = spec["G_ema"][f"G_ema.synthesis.{layer}"]["attrs"]
            attrs["use_noise"], attrs["resolution"] = False, 10**6

    path = write_snapshot(tmp_path / "quiet.pkl", reference, ada_globals, edit=no_noise)
    generator = load_checkpoint(path).generator
    for index, side in ((0, 4), (1, 8)):
        noise = getattr(generator.noises, f"noise_{index}")
        assert noise.shape == (1, 1, side, side) and not noise.any()
    assert generator.conv1.noise.weight.item() == generator.convs[0].noise.weight.item() == 0


def test_declared_lengths_and_memo_indices_cost_no_memory(tmp_path: Path) -> None:
    """9 bytes asked for 1.3 GB: the C unpickler grows its memo array to any index a file
    names; a declared length of 2**50 was read as the machine running out of memory, as was a
    pickle-5 byte array of that size."""
    cases = {
        b"\x80\x02Nr" + struct.pack("<I", 2**26) + b".": "has no G_ema or G network",
        b"\x80\x04\x8e" + struct.pack("<Q", 2**50) + b"x.": "declares more data than the file",
        b"\x80\x05\x96" + struct.pack("<Q", 2**50) + b"x.": "holds a pickle-5 byte array",
    }
    for index, (data, refusal) in enumerate(cases.items()):
        path = tmp_path / f"bomb{index}.pkl"
        path.write_bytes(data)
        tracemalloc.start()
        try:
            with pytest.raises(GANliftError, match=refusal):
                load_checkpoint(path)
            assert tracemalloc.get_traced_memory()[1] < 2**24
        finally:
            tracemalloc.stop()


def test_a_snapshot_cannot_change_the_loader_for_later_files(
    reference, ada_globals, tmp_path: Path
) -> None:
    """BUILD on the EasyDict stand-in class set its __setitem__ to `set`: every snapshot the
    process read afterwards failed as truncated, until the app restarted."""
    hostile = tmp_path / "hostile.pkl"
    setter = b"X\x0b\x00\x00\x00__setitem__c__builtin__\nset\n"
    hostile.write_bytes(b"\x80\x02cdnnlib.util\nEasyDict\nN}" + setter + b"s\x86b0N.")
    with pytest.raises(GANliftError, match="changes a class or function"):
        load_checkpoint(hostile)
    defaults = b"X\x0e\x00\x00\x00__kwdefaults__N"  # the loader's own function, re-defaulted
    hostile.write_bytes(b"\x80\x02c_codecs\nencode\nN}" + defaults + b"s\x86b0N.")
    with pytest.raises(GANliftError, match="changes a class or function"):
        load_checkpoint(hostile)
    assert load_checkpoint(write_snapshot(tmp_path / "ok.pkl", reference, ada_globals))


def test_a_zip_entry_named_in_bad_utf8_is_a_damaged_file(tmp_path: Path) -> None:
    """zipfile raised UnicodeDecodeError (a traceback) for an entry flagged UTF-8 whose name
    is not; a zip of other files named a torch C++ source line in its refusal."""
    buffer = io.BytesIO()
    torch.save({"g_ema": {}}, buffer)
    data = bytearray(buffer.getvalue())
    entry = data.index(b"PK\x01\x02")
    data[entry + 8] |= 0x08  # general-purpose flags, bit 11: the name is UTF-8
    data[entry + 46] = 0xFF
    path = tmp_path / "bad-name.pt"
    path.write_bytes(bytes(data))
    with pytest.raises(GANliftError, match="its zip archive is damaged"):
        load_checkpoint(path)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("notes.txt", "hello")
    with pytest.raises(GANliftError) as refused:
        load_checkpoint(path)
    assert "enforce fail" not in str(refused.value)
    assert "(file in archive is not in a subdirectory: notes.txt)" in str(refused.value)
