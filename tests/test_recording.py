"""The training recorder and the run format (htsr_utils.experiments.recording)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from htsr_utils import analyze, analyze_with_esds, summarize
from htsr_utils.experiments import recording
from htsr_utils.experiments.recording import (
    RecordedRun,
    RunFormatError,
    TrainingRecorder,
    esd_file,
    load_run,
    matrix_label,
)


def _mlp(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))


def _train(model: nn.Module, steps: int = 20, seed: int = 0) -> float:
    """A few SGD steps on random data; the last loss."""
    generator = torch.Generator().manual_seed(seed)
    X = torch.randn(256, 20, generator=generator)
    y = torch.randint(0, 10, (256,), generator=generator)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    for _ in range(steps):
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(X), y)
        loss.backward()
        optimizer.step()
    return loss.item()


def _strip(table: pd.DataFrame) -> pd.DataFrame:
    """A run's rows without ``step`` and ``matrix``: analyze's table."""
    return table.drop(columns=["step", "matrix"]).reset_index(drop=True)


def test_a_recorded_run_reads_back_exactly(tmp_path):
    model = _mlp()
    recorder = TrainingRecorder(tmp_path / "run")
    returned, esds = [], []
    for step in range(3):
        loss = _train(model, seed=step) if step else float("nan")
        returned.append(recorder.record(model, step, train_loss=loss, test_accuracy=0.1 * step))
        esds.append(analyze_with_esds(model, "ww", estimators=("csn", "hill"))[1])
    run = load_run(tmp_path / "run")
    assert isinstance(run, RecordedRun)
    meta = json.loads((tmp_path / "run" / "run.json").read_text())
    assert meta == {"format": "htsr-run", "version": 1, "convention": "ww", "estimators": ["csn", "hill"],
                    "steps": [0, 1, 2], "source": "recorder"}
    assert (run.convention, run.estimators, run.steps, run.source) == ("ww", ("csn", "hill"), [0, 1, 2], "recorder")
    expected = pd.concat(returned, ignore_index=True)
    pd.testing.assert_frame_equal(run.layers, expected, check_dtype=False)
    assert {"alpha", "alpha_hill", "lambda_max", "log_norm", "alpha_weighted", "status"} <= set(run.layers)
    assert run.matrices() == ["0", "2", "4"]
    assert run.curve.columns.tolist() == ["step", "train_loss", "test_accuracy"]
    assert np.isnan(run.curve.loc[0, "train_loss"]) and run.curve["test_accuracy"].tolist() == [0.0, 0.1, 0.2]
    for step in range(3):
        for label, esd in zip(run.matrices(), esds[step]):
            np.testing.assert_array_equal(run.eigenvalues(step, label), esd)
            assert run.eigenvalues(step, label).dtype == np.float64
    # the weights changed between steps, and so did their spectra
    assert not np.allclose(run.eigenvalues(0, "2"), run.eigenvalues(2, "2"))


def test_record_equals_analyze_and_the_eigenvalues_equal_numpy(tmp_path):
    model = _mlp(1)
    _train(model)
    table = TrainingRecorder(tmp_path).record(model, 7)
    reference = analyze(model, "ww", estimators=("csn", "hill"))
    pd.testing.assert_frame_equal(_strip(table), reference.reset_index(drop=True))
    assert table["step"].eq(7).all() and table["matrix"].tolist() == reference["layer"].tolist()
    # independent ground truth of the stored ESD: numpy's eigenvalues of W^T W (ww: no scaling)
    W = model[2].weight.detach().double().numpy()
    np.testing.assert_allclose(load_run(tmp_path).eigenvalues(7, "2"), np.linalg.eigvalsh(W.T @ W),
                               rtol=1e-10, atol=1e-12)


def test_record_reads_weights_without_touching_the_model(tmp_path):
    model = _mlp(2)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    TrainingRecorder(tmp_path).record(model, 0)
    assert all(p.grad is None for p in model.parameters())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_progress_shows_the_eigenvalue_work(tmp_path, capsys):
    TrainingRecorder(tmp_path, progress=True).record(_mlp(), 0)
    assert "eigenvalues" in capsys.readouterr().err


def test_averages_are_summarize_per_step_joined_with_the_curve(tmp_path):
    model = _mlp(3)
    recorder = TrainingRecorder(tmp_path)
    tables = []
    for step in (0, 5):
        if step:
            _train(model)
        tables.append(recorder.record(model, step, test_accuracy=step / 10))
    averages = load_run(tmp_path).averages()
    assert averages["step"].tolist() == [0, 5] and averages["test_accuracy"].tolist() == [0.0, 0.5]
    for row, table in zip(averages.itertuples(index=False), tables):
        expected = summarize(_strip(table))
        for metric in expected.index:
            assert np.isclose(getattr(row, metric), expected[metric], equal_nan=True), metric


def test_slice_labels_round_trip(tmp_path):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(64, 64, 2), nn.Flatten(), nn.Linear(64, 60))
    table = TrainingRecorder(tmp_path, convention="sdm2020", estimators=("csn",)).record(model, 0)
    run = load_run(tmp_path)
    assert run.matrices() == ["0[0,0]", "0[0,1]", "0[1,0]", "0[1,1]", "2"]
    assert run.layers["slice"].tolist()[:4] == ["0,0", "0,1", "1,0", "1,1"] and pd.isna(run.layers["slice"].iloc[4])
    pd.testing.assert_frame_equal(run.layers, table, check_dtype=False)
    evals = run.eigenvalues(0, "0[1,0]")
    W = model[0].weight.detach().double()[:, :, 1, 0].numpy()
    np.testing.assert_allclose(evals, np.linalg.eigvalsh(W.T @ W)[1:], rtol=1e-10)  # sdm2020 drops the smallest
    assert matrix_label("fc", None) == "fc" and matrix_label("conv", "1,2") == "conv[1,2]"


def test_every_records_only_its_multiples(tmp_path):
    recorder = TrainingRecorder(tmp_path, every=2)
    model = _mlp()
    assert recorder.record(model, 1, loss=1.0) is None
    assert not (tmp_path / "run.json").exists()
    assert recorder.record(model, 2) is not None and recorder.due(4) and not recorder.due(2)
    assert recorder.steps == [2]


def test_a_resumed_recorder_continues_and_refuses_a_recorded_step(tmp_path):
    model = _mlp()
    first = TrainingRecorder(tmp_path)
    first.record(model, 0, loss=2.0)
    first.record(model, 1, loss=1.5)
    resumed = TrainingRecorder(tmp_path)
    assert resumed.steps == [0, 1]
    with pytest.raises(ValueError, match=r"step 1 is already recorded \(steps 0..1, 2 in all\)"):
        resumed.record(model, 1, loss=1.0)
    resumed.record(model, 2, accuracy=0.5)  # a scalar the earlier session did not record
    run = load_run(tmp_path)
    assert run.steps == [0, 1, 2] and run.layers["step"].value_counts().to_dict() == {0: 3, 1: 3, 2: 3}
    assert run.curve["loss"].tolist()[:2] == [2.0, 1.5] and np.isnan(run.curve["loss"].iloc[2])
    assert run.curve["accuracy"].iloc[2] == 0.5
    with pytest.raises(RunFormatError, match="recorded with convention 'ww'.*asked for 'sdm2020'"):
        TrainingRecorder(tmp_path, convention="sdm2020")
    with pytest.raises(RunFormatError, match=r"estimators \['csn', 'hill'\].*\['csn'\]"):
        TrainingRecorder(tmp_path, estimators=("csn",))


@pytest.mark.parametrize("crash_at", ["layers.csv", "curve.csv", "run.json"])
def test_a_crash_mid_record_leaves_the_previous_state_readable(tmp_path, monkeypatch, crash_at):
    model = _mlp()
    recorder = TrainingRecorder(tmp_path)
    recorder.record(model, 0, loss=2.0)
    before = load_run(tmp_path)
    _train(model)
    real_write = recording.atomic_write

    def crashing(path, content):
        if path.name == crash_at:
            raise KeyboardInterrupt  # an interrupt while the file is written
        return real_write(path, content)

    monkeypatch.setattr(recording, "atomic_write", crashing)
    monkeypatch.setattr(recording, "write_csv", lambda table, path, **kw: crashing(path, table.to_csv(index=False)))
    with pytest.raises(KeyboardInterrupt):
        recorder.record(model, 1, loss=1.0)
    monkeypatch.undo()
    after = load_run(tmp_path)
    assert after.steps == [0]
    pd.testing.assert_frame_equal(after.layers, before.layers)
    pd.testing.assert_frame_equal(after.curve, before.curve)
    assert not [p for p in tmp_path.rglob("*.tmp")], "no temporary file is left behind"
    # the run resumes: the interrupted step is recorded by a new recorder
    resumed = TrainingRecorder(tmp_path)
    table = resumed.record(model, 1, loss=1.0)
    run = load_run(tmp_path)
    assert run.steps == [0, 1] and len(run.layers) == 2 * len(table)
    pd.testing.assert_frame_equal(_strip(run.layers[run.layers["step"] == 1]), _strip(table), check_dtype=False)


def test_a_crash_in_the_first_record_leaves_a_folder_a_new_recorder_starts_in(tmp_path, monkeypatch):
    real_write = recording.atomic_write

    def crashing(path, content):
        if path.name == "run.json":
            raise KeyboardInterrupt
        return real_write(path, content)

    monkeypatch.setattr(recording, "atomic_write", crashing)
    with pytest.raises(KeyboardInterrupt):
        TrainingRecorder(tmp_path).record(_mlp(), 0)
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["curve.csv", "esds", "layers.csv"]
    with pytest.raises(RunFormatError, match="no run.json"):
        load_run(tmp_path)
    TrainingRecorder(tmp_path).record(_mlp(), 0)
    assert load_run(tmp_path).steps == [0]


def test_an_interrupt_during_the_analysis_writes_nothing(tmp_path, monkeypatch):
    recorder = TrainingRecorder(tmp_path)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(recording, "analyze_with_esds", interrupted)
    with pytest.raises(KeyboardInterrupt):
        recorder.record(_mlp(), 0)
    assert list(tmp_path.iterdir()) == []


def test_bad_input_is_one_line_naming_the_parameter(tmp_path):
    with pytest.raises(ValueError, match="every must be a positive integer"):
        TrainingRecorder(tmp_path, every=0)
    with pytest.raises(ValueError, match="estimators must be a sequence of names"):
        TrainingRecorder(tmp_path, estimators="hill")
    with pytest.raises(ValueError, match="estimators: unknown"):
        TrainingRecorder(tmp_path, estimators=("csn", "pareto"))
    with pytest.raises(ValueError, match="unknown convention|convention"):
        TrainingRecorder(tmp_path, convention="nope")
    recorder = TrainingRecorder(tmp_path)
    for step in (-1, 1.5, True):
        with pytest.raises(ValueError, match="step must be an integer >= 0"):
            recorder.record(_mlp(), step)
    with pytest.raises(ValueError, match="scalar loss='low' is not a real number"):
        recorder.record(_mlp(), 0, loss="low")
    assert not (tmp_path / "run.json").exists()
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("x")
    with pytest.raises(RunFormatError, match=r"holds files but no run.json \(notes.txt, ...\)"):
        TrainingRecorder(tmp_path / "other")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ValueError, match=f"run folder {blocker}.*is a file"):
        TrainingRecorder(blocker / "run")


def test_load_run_names_what_is_wrong(tmp_path):
    with pytest.raises(RunFormatError, match="it does not exist"):
        load_run(tmp_path / "missing")
    with pytest.raises(RunFormatError, match=r"not a run folder \(no run.json\)"):
        load_run(tmp_path)
    (tmp_path / "run.json").write_text("{")
    with pytest.raises(RunFormatError, match="run.json: unreadable"):
        load_run(tmp_path)
    (tmp_path / "run.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(RunFormatError, match="not an htsr-run run"):
        load_run(tmp_path)
    TrainingRecorder(tmp_path / "run").record(_mlp(), 3)
    meta = json.loads((tmp_path / "run" / "run.json").read_text())
    (tmp_path / "run" / "run.json").write_text(json.dumps(meta | {"version": 2}))
    with pytest.raises(RunFormatError, match="version 2 is not supported.*reads version 1"):
        load_run(tmp_path / "run")
    (tmp_path / "run" / "run.json").write_text(json.dumps(meta))
    esd_file(tmp_path / "run", 3).unlink()
    with pytest.raises(RunFormatError, match="eigenvalue files missing for steps \\[3\\]"):
        load_run(tmp_path / "run")


def test_eigenvalues_of_an_unknown_step_or_matrix_raise_key_error(tmp_path):
    TrainingRecorder(tmp_path).record(_mlp(), 0)
    run = load_run(tmp_path)
    with pytest.raises(KeyError, match="step 1 is not recorded"):
        run.eigenvalues(1, "0")
    with pytest.raises(KeyError, match="no matrix 'fc'"):
        run.eigenvalues(0, "fc")
