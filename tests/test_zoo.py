"""Model zoo: registry, offline behaviour, checkpoint loading. Runs with no network."""

import hashlib
from pathlib import Path

import pytest
import torch
import torchvision
from pytorchcv import model_provider
from pytorchcv.models.common.model_store import get_model_metainfo_dict
from safetensors.torch import load_file, save_file

from htsr_utils.models.build import load_model, model_weights_sha256
from htsr_utils.models.files import (
    CheckpointError,
    ChecksumMismatchError,
    WeightsUnavailableError,
    weights_location,
)
from htsr_utils.models.registry import UnknownModelError, get_spec, list_models

PAPER_FAMILIES = {
    "VGG", "ResNet", "DenseNet", "SqueezeNet", "GoogLeNet", "Inception", "ResNeXt", "MobileNetV2",
    "ShuffleNetV2", "AlexNet", "DPN", "MENet", "MobileNet", "FD-MobileNet", "SE-ResNet",
    "SE-ResNeXt", "CondenseNet", "Transformer",
}


pytestmark = pytest.mark.usefixtures("offline")  # no test may try the network


@pytest.fixture
def caches(offline) -> Path:
    """The folder of the empty torch hub and pytorchcv caches."""
    assert Path(torch.hub.get_dir()).is_relative_to(offline)
    return offline


def expected_cache_file(name: str, root: Path) -> tuple[str, Path]:
    """URL and cache path, computed from the libraries' own metadata."""
    if name.startswith("pytorchcv_"):
        arch = name.removeprefix("pytorchcv_")
        _, error, sha1, tag = get_model_metainfo_dict()[arch]
        file_name = f"{arch}-{error}-{sha1[:8]}.pth"
        url = f"https://github.com/osmr/imgclsmob/releases/download/{tag}/{file_name}.zip"
        return url, root / "pytorchcv" / file_name
    url = torchvision.models.get_model_weights(name).IMAGENET1K_V1.url
    return url, root / "torch" / "hub" / "checkpoints" / url.rsplit("/", 1)[1]


def assert_same_weights(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_list_models_covers_paper_families():
    names = list_models()
    assert len(names) == len(set(names))
    assert PAPER_FAMILIES <= {get_spec(n).family for n in names}
    assert list_models("Transformer") == ["minilm-l6"]
    assert {"vgg11", "vgg19_bn"} <= set(list_models("VGG"))
    assert all(n.startswith("pytorchcv_") for n in list_models(library="pytorchcv"))
    with pytest.raises(ValueError):
        list_models("NoSuchFamily")


def test_registry_names_exist_in_their_libraries():
    torchvision_names = set(torchvision.models.list_models())
    metainfo = get_model_metainfo_dict()
    for name in list_models(library="torchvision"):
        spec = get_spec(name)
        assert spec.arch in torchvision_names
        assert torchvision.models.get_weight(spec.weights).url.startswith("https://")
    for name in list_models(library="pytorchcv"):
        spec = get_spec(name)
        assert hasattr(model_provider, spec.arch) and spec.arch in metainfo


@pytest.mark.parametrize("name", ["resnet18", "pytorchcv_resnet10"])
def test_random_init_is_deterministic(name):
    rng = torch.get_rng_state()
    a = load_model(name, "random").state_dict()
    assert_same_weights(a, load_model(name, "random", seed=0).state_dict())
    other = load_model(name, "random", seed=1).state_dict()
    assert not all(torch.equal(a[k], other[k]) for k in a if a[k].is_floating_point())
    assert torch.equal(rng, torch.get_rng_state())  # global RNG untouched


@pytest.mark.parametrize("name", ["vgg11", "pytorchcv_resnet10"])
def test_offline_missing_weights_name_url_and_cache_path(caches, name):
    url, path = expected_cache_file(name, caches)
    with pytest.raises(WeightsUnavailableError) as err:
        load_model(name, "pretrained")
    assert url in str(err.value) and str(path) in str(err.value)
    assert weights_location(name) == (url, path)
    with pytest.raises(WeightsUnavailableError):
        model_weights_sha256(name)


@pytest.mark.parametrize("name", ["resnet18", "pytorchcv_resnet10"])
def test_cached_file_with_wrong_checksum_is_refused(caches, name):
    _, path = expected_cache_file(name, caches)
    torch.manual_seed(123)
    if name.startswith("pytorchcv_"):
        state = model_provider.get_model(name.removeprefix("pytorchcv_")).state_dict()
        algorithm, published = "sha1", get_model_metainfo_dict()[name.removeprefix("pytorchcv_")][2]
    else:
        state = torchvision.models.get_model(name).state_dict()
        algorithm, published = "sha256", path.name.rsplit("-", 1)[1].split(".")[0]
    path.parent.mkdir(parents=True)
    torch.save(state, path)
    actual = hashlib.new(algorithm, path.read_bytes()).hexdigest()
    for call in (load_model, model_weights_sha256):
        with pytest.raises(ChecksumMismatchError) as err:
            call(name, "pretrained")
        assert str(path) in str(err.value) and actual in str(err.value) and published in str(err.value)
    # the explicit opt-in: the same file as a local checkpoint, keyed by its own content
    assert_same_weights(load_model(name, path).state_dict(), state)
    assert model_weights_sha256(name, path) == hashlib.sha256(path.read_bytes()).hexdigest()


def test_corrupt_cached_file_raises_checkpoint_error(caches):
    _, path = expected_cache_file("resnet18", caches)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a checkpoint" * 100)
    with pytest.raises(CheckpointError, match=path.name):
        load_model("resnet18", "pretrained")


def test_checkpoint_roundtrip_pth_and_safetensors(tmp_path):
    state = load_model("resnet18", "random", seed=3).state_dict()
    torch.save(state, tmp_path / "w.pth")
    save_file(state, tmp_path / "w.safetensors")
    for file in ("w.pth", "w.safetensors"):
        assert_same_weights(load_model("resnet18", tmp_path / file).state_dict(), state)
    assert model_weights_sha256("resnet18", tmp_path / "w.pth") == hashlib.sha256(
        (tmp_path / "w.pth").read_bytes()).hexdigest()


def test_corrupt_or_truncated_checkpoints_raise(tmp_path):
    state = load_model("pytorchcv_resnet10", "random").state_dict()
    torch.save(state, tmp_path / "ok.pth")
    save_file(state, tmp_path / "ok.safetensors")
    bad = {
        "truncated.pth": (tmp_path / "ok.pth").read_bytes()[:5000],
        "truncated.safetensors": (tmp_path / "ok.safetensors").read_bytes()[:5000],
        "garbage.pth": b"\x00garbage" * 50,
        "empty.pt": b"",
    }
    for file, data in bad.items():
        (tmp_path / file).write_bytes(data)
        with pytest.raises(CheckpointError, match=file):
            load_model("pytorchcv_resnet10", tmp_path / file)


def test_mismatched_checkpoint_names_file_and_keys(tmp_path):
    torch.save(load_model("resnet18", "random").state_dict(), tmp_path / "r18.pth")
    with pytest.raises(CheckpointError) as err:
        load_model("resnet34", tmp_path / "r18.pth")
    assert "r18.pth" in str(err.value) and "missing keys ['layer1.2." in str(err.value)
    with pytest.raises(FileNotFoundError):
        load_model("resnet18", tmp_path / "absent.pth")


def test_unknown_model_suggests_close_names():
    with pytest.raises(UnknownModelError) as err:
        load_model("resnet51")
    assert isinstance(err.value, KeyError) and "resnet50" in str(err.value)
    with pytest.raises(UnknownModelError, match="pytorchcv_resnet10"):
        get_spec("resnet10")
    assert "htsr list-models" in str(err.value)


def test_list_models_family_is_case_insensitive():
    assert list_models("vgg") == list_models("VGG") == list_models("Vgg")
    assert list_models("fd-mobilenet", library="pytorchcv") == list_models("FD-MobileNet")


def test_minilm_loads_real_weights_offline():
    from transformers import BertModel

    model = load_model("minilm-l6")
    assert isinstance(model, BertModel)
    _, path = weights_location("minilm-l6")
    shipped = load_file(path)
    loaded = model.state_dict()
    assert_same_weights({k: loaded[k] for k in shipped if k in loaded},
                        {k: v for k, v in shipped.items() if k in loaded})
    assert len(loaded) == 103
    random = load_model("minilm-l6", "random").state_dict()
    key = "encoder.layer.0.attention.self.query.weight"
    assert not torch.equal(random[key], loaded[key])
    assert model_weights_sha256("minilm-l6") == hashlib.sha256(path.read_bytes()).hexdigest()


def test_random_weights_hash_is_a_deterministic_spec():
    h0 = model_weights_sha256("vgg11", "random")
    assert h0 == model_weights_sha256("vgg11", "random", seed=0)
    assert h0 != model_weights_sha256("vgg11", "random", seed=1)
    assert h0 != model_weights_sha256("vgg13", "random")
