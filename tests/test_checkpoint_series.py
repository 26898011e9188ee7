"""A run from a folder of checkpoints (htsr_utils.experiments.checkpoint_series)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from htsr_utils import analyze_with_esds
from htsr_utils.engine.checkpoint import WeightFileError
from htsr_utils.experiments import checkpoint_series as series_module
from htsr_utils.experiments.checkpoint_series import checkpoint_series, find_checkpoints
from htsr_utils.experiments.recording import RunFormatError, load_run
from htsr_utils.paper import cache

ESTIMATORS = ("csn", "hill")


def _perturbed(model: nn.Module, seed: int) -> None:
    """Move every weight a little (a stand-in for training between checkpoints)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.05 * torch.randn(parameter.shape, generator=generator))


@pytest.fixture(scope="module")
def trainer_folder(tmp_path_factory):
    """``checkpoint-<step>/`` folders as the Hugging Face Trainer writes them: a tiny GPT-2 with
    random weights saved with ``save_pretrained`` (one as ``pytorch_model.bin``, as older versions
    wrote it), and the Trainer's own ``trainer_state.json`` (``TrainerState.save_to_json``) with the
    log history up to that step."""
    from transformers import GPT2Config, GPT2LMHeadModel
    from transformers.trainer_callback import TrainerState
    from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

    folder = tmp_path_factory.mktemp("trainer_output")
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=32, n_head=2, vocab_size=64, n_positions=16))
    history, logged = [], {}
    for step in (2, 9, 10):  # checkpoint-10 sorts before checkpoint-2 by name
        _perturbed(model, step)
        logged[step] = {"loss": 4.0 - 0.1 * step, "eval_loss": 4.2 - 0.1 * step, "eval_accuracy": 0.01 * step}
        history += [{"epoch": step / 10, "grad_norm": 1.5, "learning_rate": 5e-5, "loss": logged[step]["loss"],
                     "step": step},
                    {"epoch": step / 10, "eval_accuracy": logged[step]["eval_accuracy"],
                     "eval_loss": logged[step]["eval_loss"], "step": step}]
        checkpoint = folder / f"{PREFIX_CHECKPOINT_DIR}-{step}"
        model.save_pretrained(checkpoint)
        if step == 9:  # the older layout: pytorch_model.bin
            (checkpoint / "model.safetensors").unlink()
            torch.save(model.state_dict(), checkpoint / "pytorch_model.bin")
        TrainerState(global_step=step, epoch=step / 10, log_history=list(history)).save_to_json(
            str(checkpoint / series_module.TRAINER_STATE))
    (folder / "runs").mkdir()  # TensorBoard logs and other files are not checkpoints
    return folder, logged


@pytest.fixture(scope="module")
def state_dict_folder(tmp_path_factory):
    """``step_<N>.pt`` state dicts, an ``epoch-<N>.safetensors`` and files that are not steps."""
    folder = tmp_path_factory.mktemp("state_dicts")
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    for step in (1, 9, 10):
        _perturbed(model, step)
        torch.save(model.state_dict(), folder / f"step_{step}.pt")
    _perturbed(model, 12)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, folder / "epoch-12.safetensors")
    torch.save({"momentum": torch.zeros(3, 3)}, folder / "optimizer.pt")
    save_file({"w": torch.zeros(8, 8)}, folder / "model-00001-of-00002.safetensors")
    (folder / "notes.txt").write_text("not a checkpoint")
    return folder


def _rows(run, step: int) -> pd.DataFrame:
    return run.layers[run.layers["step"] == step].drop(columns=["step", "matrix"]).reset_index(drop=True)


def test_trainer_checkpoints_give_analyze_per_step_and_the_logged_curve(trainer_folder, tmp_path):
    folder, logged = trainer_folder
    run = checkpoint_series(folder, tmp_path / "run", results_dir=tmp_path / "cache", progress=False)
    assert run.steps == [2, 9, 10]
    assert (folder / "checkpoint-9" / "pytorch_model.bin").is_file()
    assert (folder / "checkpoint-10" / "model.safetensors").is_file()
    assert (run.convention, run.estimators, run.source) == ("ww", ESTIMATORS, str(folder.resolve()))
    for step in run.steps:
        details, esds = analyze_with_esds(folder / f"checkpoint-{step}", "ww", estimators=ESTIMATORS)
        pd.testing.assert_frame_equal(_rows(run, step), details, check_dtype=False)
        for matrix, esd in zip(run.layers.loc[run.layers["step"] == step, "matrix"], esds):
            np.testing.assert_array_equal(run.eigenvalues(step, matrix), esd)
    assert {"transformer.h.0.attn.c_attn", "transformer.wte"} <= set(run.matrices())
    assert run.layers["alpha_hill"].notna().all()
    # the checkpoints differ, and so do their spectra
    fc = "transformer.h.0.mlp.c_fc"
    assert not np.allclose(run.eigenvalues(2, fc), run.eigenvalues(10, fc))
    curve = run.curve.set_index("step")
    for step, values in logged.items():
        for name, value in values.items():
            assert curve.loc[step, name] == pytest.approx(value), (step, name)
    assert curve.loc[10, "epoch"] == pytest.approx(1.0)
    averages = run.averages()
    assert averages["step"].tolist() == [2, 9, 10] and "eval_accuracy" in averages


def test_state_dict_files_sorted_by_the_number_in_their_name(state_dict_folder, tmp_path):
    assert [(step, path.name) for step, path in find_checkpoints(state_dict_folder)] == [
        (1, "step_1.pt"), (9, "step_9.pt"), (10, "step_10.pt"), (12, "epoch-12.safetensors")]
    run = checkpoint_series(state_dict_folder, tmp_path / "run", convention="sdm2020", estimators=("csn",),
                            results_dir=tmp_path / "cache", progress=False)
    assert run.steps == [1, 9, 10, 12] and run.curve.columns.tolist() == ["step"]
    for step, path in find_checkpoints(state_dict_folder):
        expected, _ = analyze_with_esds(path, "sdm2020")
        pd.testing.assert_frame_equal(_rows(run, step), expected, check_dtype=False)
    # sdm2020 keeps only the 64 x 64 layer (min(N, M) >= 50); the ESD drops its smallest eigenvalue
    W = torch.load(state_dict_folder / "step_9.pt")["2.weight"].double().numpy()
    np.testing.assert_allclose(run.eigenvalues(9, "2"), np.linalg.eigvalsh(W.T @ W)[1:], rtol=1e-10)


def test_a_checkpoint_already_seen_is_read_from_the_cache(trainer_folder, tmp_path, monkeypatch):
    folder, _ = trainer_folder
    solves = []
    real = cache.analyze_with_esds
    monkeypatch.setattr(cache, "analyze_with_esds", lambda *a, **k: solves.append(a[0]) or real(*a, **k))
    first = checkpoint_series(folder, tmp_path / "first", results_dir=tmp_path / "cache", progress=False)
    assert len(solves) == 3
    # another run folder: every step from the cache, no eigenvalue computed
    second = checkpoint_series(folder, tmp_path / "second", results_dir=tmp_path / "cache", progress=False)
    assert len(solves) == 3
    pd.testing.assert_frame_equal(first.layers, second.layers)
    pd.testing.assert_frame_equal(first.curve, second.curve)
    # the same run folder again: nothing to add
    again = checkpoint_series(folder, tmp_path / "second", results_dir=tmp_path / "cache", progress=False)
    assert len(solves) == 3 and again.steps == second.steps
    # the estimators are part of the cache key: the CSN fit alone is another entry
    csn = checkpoint_series(folder, tmp_path / "csn", estimators=("csn",), results_dir=tmp_path / "cache",
                            progress=False)
    assert len(solves) == 6 and "alpha_hill" not in csn.layers
    pd.testing.assert_series_equal(csn.layers["alpha"], first.layers["alpha"])


def test_the_default_run_folder_is_under_the_results_folder(state_dict_folder, offline):
    run = checkpoint_series(state_dict_folder, estimators=("csn",), progress=False)
    assert run.path.parent == offline / "results" / "runs" and run.path.name.startswith(state_dict_folder.name)
    assert load_run(run.path).steps == [1, 9, 10, 12]


def test_the_progress_bar_moves_per_checkpoint(state_dict_folder, tmp_path, capsys):
    checkpoint_series(state_dict_folder, tmp_path / "run", estimators=("csn",), results_dir=tmp_path / "cache")
    err = capsys.readouterr().err
    assert "checkpoints of" in err and "4/4" in err and "step=12" in err


def test_an_interrupted_series_is_a_readable_run_and_resumes(state_dict_folder, tmp_path, monkeypatch):
    real = series_module.analyze_cached_with_esds
    calls = []

    def interrupted_at_the_third(*args, **kwargs):
        calls.append(args[0])
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(series_module, "analyze_cached_with_esds", interrupted_at_the_third)
    with pytest.raises(KeyboardInterrupt):
        checkpoint_series(state_dict_folder, tmp_path / "run", estimators=("csn",), results_dir=tmp_path / "cache",
                          progress=False)
    assert load_run(tmp_path / "run").steps == [1, 9]
    monkeypatch.undo()
    calls.clear()
    monkeypatch.setattr(series_module, "analyze_cached_with_esds", lambda *a, **k: calls.append(a[0]) or real(*a, **k))
    run = checkpoint_series(state_dict_folder, tmp_path / "run", estimators=("csn",), results_dir=tmp_path / "cache",
                            progress=False)
    assert run.steps == [1, 9, 10, 12]
    assert [p.rsplit("/", 1)[1] for p in calls] == ["step_10.pt", "epoch-12.safetensors"]


def test_bad_folders_fail_before_any_work_naming_the_folder(state_dict_folder, trainer_folder, tmp_path):
    with pytest.raises(ValueError, match="estimators must be a sequence of names"):
        checkpoint_series(state_dict_folder, tmp_path / "run", estimators="hill")
    with pytest.raises(FileNotFoundError, match=f"checkpoint folder {tmp_path / 'missing'}: does not exist"):
        checkpoint_series(tmp_path / "missing", tmp_path / "run")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.md").write_text("x")
    (empty / "optimizer.pt").write_bytes(b"")
    with pytest.raises(ValueError, match=f"checkpoint folder {empty} holds no checkpoint"):
        checkpoint_series(empty, tmp_path / "run")
    twice = tmp_path / "twice"
    twice.mkdir()
    torch.save({"w": torch.zeros(8, 8)}, twice / "step_3.pt")
    torch.save({"w": torch.zeros(8, 8)}, twice / "epoch3.pth")
    with pytest.raises(ValueError, match="two checkpoints of step 3: epoch3.pth and step_3.pt"):
        checkpoint_series(twice, tmp_path / "run")
    broken = tmp_path / "broken"
    broken.mkdir()
    torch.save({"w": torch.randn(16, 16)}, broken / "step_1.pt")
    (broken / "checkpoint-5").mkdir()
    (broken / "checkpoint-5" / "optimizer.pt").write_bytes(b"")
    with pytest.raises(WeightFileError, match="checkpoint-5"):
        checkpoint_series(broken, tmp_path / "run", results_dir=tmp_path / "cache")
    assert not (tmp_path / "run").exists() and not (tmp_path / "cache").exists()
    checkpoint_series(state_dict_folder, tmp_path / "run", estimators=("csn",), results_dir=tmp_path / "cache",
                      progress=False)
    folder, _ = trainer_folder
    with pytest.raises(RunFormatError, match="source .*state_dicts.*use another run folder"):
        checkpoint_series(folder, tmp_path / "run", estimators=("csn",), results_dir=tmp_path / "cache")
