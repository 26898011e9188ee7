"""What SDM 2020 analyzed of pytorchcv: the January 2019 weight files and architectures.

pytorchcv replaced most of its weight files after the paper, and for three ResNet-18 width
variants the architecture.  ``data/pytorchcv_paper_weights.csv`` lists the paper-era file of
each model (error code, SHA-1, release tag), ``data/pytorchcv_architectures.csv`` how the
paper-era architecture differs from today's (only resnet18_wd4/wd2/w3d4 do) and the size of
each state dict.  Plain data: nothing here imports torch.
"""

from __future__ import annotations

import csv
import functools
from typing import NamedTuple

from ..storage import paths

__all__ = ["PaperWeights", "architectures", "paper_architecture_change", "paper_weights"]


class PaperWeights(NamedTuple):
    """The pytorchcv weight file SDM 2020 analyzed (one row of ``data/pytorchcv_paper_weights.csv``).

    Attributes
    ----------
    error_code, sha1, release_tag : str
        As listed in the pytorchcv ``model_store`` of January 2019.
    file_name, url : str
        ``<arch>-<error_code>-<sha1[:8]>.pth`` and the imgclsmob release asset (a ``.zip``).
    """

    error_code: str
    sha1: str
    release_tag: str
    file_name: str
    url: str


def _read_table(file_name: str) -> list[dict[str, str]]:
    with open(paths.data_dir() / file_name, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@functools.cache
def paper_weights() -> dict[str, PaperWeights]:
    """The paper-era pytorchcv weight files, by zoo model name (``data/pytorchcv_paper_weights.csv``).

    Returns
    -------
    dict of str to PaperWeights
        One entry per SDM 2020 pytorchcv model whose January 2019 file was identified.
    """
    return {row["model"]: PaperWeights(row["error_code"], row["sha1"], row["release_tag"],
                                       row["file_name"], row["url"])
            for row in _read_table("pytorchcv_paper_weights.csv")}


@functools.cache
def architectures() -> dict[str, dict[str, str]]:
    """The rows of ``data/pytorchcv_architectures.csv`` by zoo model name."""
    return {row["model"]: row for row in _read_table("pytorchcv_architectures.csv")}


def paper_architecture_change(name: str) -> str | None:
    """How the paper-era architecture of a model differs from today's, or None if it does not.

    Parameters
    ----------
    name : str
        A zoo model name (:func:`htsr_utils.models.registry.list_models`); only pytorchcv
        models can differ.

    Returns
    -------
    str or None
        The change id of ``data/pytorchcv_architectures.csv`` (``"resnet_last_unit_scaled"``:
        pytorchcv <= 0.0.40 applied ``width_scale`` to the last unit too; today's keeps it
        at full width).
    """
    row = architectures().get(name)
    return (row["change"] or None) if row else None
