"""Messages and types that users read: each names what is wrong, in htsr's words."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from torch import nn

from htsr_utils import NoAnalyzableLayersError, NonFiniteWeightsError, analyze, summarize


def test_weights_below_the_size_rule_are_named_as_such():
    with pytest.raises(NoAnalyzableLayersError) as err:
        analyze(nn.Linear(10, 10), "natcomm2021")
    assert "min(N, M) = 10 < 50" in str(err.value) and "no weights found" not in str(err.value)
    with pytest.raises(NoAnalyzableLayersError, match="no tensor of two or more dimensions"):
        analyze({"bias": torch.ones(3)})


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present")
def test_a_missing_gpu_is_named_before_any_work(monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("weights were extracted before the device was checked")

    monkeypatch.setattr("htsr_utils.engine.metrics.iter_layers", never)
    with pytest.raises(ValueError, match="device 'cuda': no CUDA device is available to PyTorch"):
        analyze(nn.Linear(60, 60), device="cuda")
    with pytest.raises(ValueError, match="device 'gpu' is not a device name"):
        analyze(nn.Linear(60, 60), device="gpu")


def test_a_root_module_is_named_in_errors():
    layer = nn.Linear(60, 60)
    with torch.no_grad():
        layer.weight[0, 0] = float("nan")
    with pytest.raises(NonFiniteWeightsError, match="layer '<root>'"):
        analyze(layer)


def test_summaries_count_in_integers():
    details = analyze(nn.Sequential(nn.Linear(100, 80), nn.ReLU(), nn.Linear(80, 60)))
    one = summarize(details)
    assert type(one["L"]) is int and type(one["N_alpha"]) is int and one["N_alpha"] == 2
    by_model = summarize(details.assign(model="m"))
    assert by_model["L"].dtype == "int64" and by_model["N_alpha"].dtype == "int64"
    assert by_model.loc["m", "alpha_hat"] == pytest.approx(one["alpha_hat"])


def test_an_unknown_family_is_named():
    done = subprocess.run([sys.executable, "-m", "htsr_utils.apps.cli", "list-models", "--family", "nosuch"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "no model of family 'nosuch'; families: AlexNet," in done.stderr and "None" not in done.stderr


def test_every_cache_follows_the_results_folder(tmp_path, monkeypatch):
    """One rule: HTSR_RESULTS_DIR moves the results cache and the models trained here."""
    from htsr_utils.experiments.training import TrainConfig, train_model
    from htsr_utils.storage import paths

    monkeypatch.setenv("HTSR_RESULTS_DIR", str(tmp_path / "results"))
    assert paths.trained_models_dir() == tmp_path / "results" / "trained_models"
    trained = train_model(TrainConfig(dataset="mnist1d", width=16, epochs=1, batch_size=512))
    assert not trained.from_cache
    assert list((tmp_path / "results" / "trained_models").glob("mnist1d-*.pt"))
