"""The quick subsets of the family notebooks and the models of notebooks 01-06 together."""

from __future__ import annotations

import json
from pathlib import Path

from htsr_utils.models.registry import get_spec, list_models
from htsr_utils.paper.model_sets import PAPER_FAMILIES, QUICK_MODELS, family_models, paper_models

NOTEBOOKS_DIR = Path(__file__).resolve().parents[1] / "notebooks"


def test_every_family_notebook_has_a_quick_subset_of_zoo_models_of_the_paper_families():
    assert sorted(QUICK_MODELS) == sorted(p.stem for p in NOTEBOOKS_DIR.glob("0[1-6]_*.ipynb"))
    for notebook, models in QUICK_MODELS.items():
        assert models and len(set(models)) == len(models), notebook
        assert {get_spec(m).family for m in models} <= set(PAPER_FAMILIES), notebook


def test_family_notebooks_read_their_subset_from_the_one_mapping():
    for notebook in QUICK_MODELS:
        source = "".join("".join(c["source"]) for c in json.loads((NOTEBOOKS_DIR / f"{notebook}.ipynb").read_text())["cells"])
        assert f'NOTEBOOK = "{notebook}"' in source and "model_sets.QUICK_MODELS[NOTEBOOK]" in source, notebook


def test_family_models_in_family_order():
    assert family_models(["SqueezeNet", "VGG"]) == list_models("SqueezeNet") + list_models("VGG")
    assert family_models([]) == []


def test_paper_models_quick_is_the_union_of_the_subsets_in_notebook_order():
    quick = paper_models(quick=True)
    assert len(quick) == len(set(quick))
    assert set(quick) == {m for models in QUICK_MODELS.values() for m in models}
    assert quick[:2] == ["vgg11", "vgg11_bn"] and quick[-2:] == ["pytorchcv_condensenet74_c4_g4",
                                                                 "pytorchcv_condensenet74_c8_g8"]


def test_paper_models_full_is_every_model_of_the_paper_families():
    full = paper_models(quick=False)
    assert full == family_models(PAPER_FAMILIES)
    assert set(paper_models(quick=True)) <= set(full)
    assert {get_spec(m).family for m in full} == set(PAPER_FAMILIES)
