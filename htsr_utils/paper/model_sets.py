"""Which zoo models the paper's notebooks analyze: the quick subsets and the paper's families.

* :data:`QUICK_MODELS` - the quick subset of each family notebook (01-06), the one home of
  these lists: CI and ``htsr reproduce --quick`` run them, notebooks 07 and 08 read their union.
* :data:`PAPER_FAMILIES` - the zoo families of notebooks 01-06, in notebook order.
* :func:`family_models` - every zoo model of some families, in order.
* :func:`paper_models` - the models of notebooks 01-06 together (what 07 and 08 analyze).

A family notebook names its full set of models itself (its families); only the quick subsets
live here, so that a notebook and those reading it back cannot disagree.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..models.registry import list_models

__all__ = ["PAPER_FAMILIES", "QUICK_MODELS", "family_models", "paper_models"]

#: Quick subset of each family notebook (file name without ``.ipynb``): a few small models.
QUICK_MODELS: dict[str, tuple[str, ...]] = {
    "01_vgg": ("vgg11", "vgg11_bn"),
    "02_resnet": ("resnet18", "resnet34", "resnet50",
                  "pytorchcv_resnet10", "pytorchcv_resnet12", "pytorchcv_resnet14"),
    "03_densenet_squeezenet": ("densenet121", "densenet169", "densenet201", "squeezenet1_0", "squeezenet1_1"),
    "04_mobilenet": ("pytorchcv_mobilenet_wd4", "pytorchcv_mobilenet_wd2", "pytorchcv_mobilenet_w3d4",
                     "pytorchcv_mobilenetv2_wd4", "pytorchcv_mobilenetv2_wd2", "pytorchcv_mobilenetv2_w3d4",
                     "pytorchcv_fdmobilenet_wd4", "pytorchcv_fdmobilenet_wd2", "pytorchcv_fdmobilenet_w1",
                     "pytorchcv_shufflenetv2_wd2", "pytorchcv_shufflenetv2_w1"),
    "05_more_models": ("googlenet", "pytorchcv_dpn68", "pytorchcv_seresnet50", "pytorchcv_menet108_8x1_g3",
                       "pytorchcv_menet128_8x1_g4", "pytorchcv_menet228_12x1_g3"),
    "06_counterexamples": ("pytorchcv_menet108_8x1_g3", "pytorchcv_menet128_8x1_g4", "pytorchcv_menet228_12x1_g3",
                           "pytorchcv_fdmobilenet_wd4", "pytorchcv_fdmobilenet_wd2", "pytorchcv_fdmobilenet_w1",
                           "pytorchcv_condensenet74_c4_g4", "pytorchcv_condensenet74_c8_g8",
                           "pytorchcv_resnet10", "pytorchcv_resnet12", "pytorchcv_resnet14"),
}

#: The zoo families notebooks 01-06 analyze, in notebook order.
PAPER_FAMILIES: tuple[str, ...] = (
    "VGG", "ResNet", "DenseNet", "SqueezeNet", "MobileNet", "MobileNetV2", "FD-MobileNet", "ShuffleNetV2",
    "GoogLeNet", "Inception", "ResNeXt", "DPN", "SE-ResNet", "SE-ResNeXt", "MENet", "CondenseNet",
)


def family_models(families: Iterable[str]) -> list[str]:
    """Every zoo model of ``families``, family by family in the order given.

    Parameters
    ----------
    families : iterable of str
        Zoo families (``get_spec(name).family``), e.g. ``["DenseNet", "SqueezeNet"]``.

    Returns
    -------
    list of str
        Zoo model names, each family's in :func:`htsr_utils.models.registry.list_models` order.
    """
    return [name for family in families for name in list_models(family)]


def paper_models(quick: bool) -> list[str]:
    """The models of notebooks 01-06 together, each once, in notebook order.

    Parameters
    ----------
    quick : bool
        True: the union of :data:`QUICK_MODELS`; False: every zoo model of :data:`PAPER_FAMILIES`.

    Returns
    -------
    list of str
        Zoo model names.
    """
    if quick:
        return list(dict.fromkeys(name for subset in QUICK_MODELS.values() for name in subset))
    return family_models(PAPER_FAMILIES)
