"""Per-matrix heavy-tail metrics (:func:`analyze`) and per-model averages (:func:`summarize`)."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from .conventions import Convention, get_convention
from .esd import DTYPES, Precision, check_device, check_precision, esd_stream
from .farms import FARMS_DEFAULTS, farms_alpha
from .hill import hill_alpha
from .layers import LayerWeights, ModelLike, NoAnalyzableLayersError, SkippedLayer, iter_layers
from .parallel import prefetch
from .powerlaw_fit import fit_powerlaw

#: Layers are gathered until their weights reach this many bytes, then their eigenvalues are
#: computed together (all cores busy across layers; memory bounded for very large models).
WINDOW_BYTES = 1 << 31

#: The window of a checkpoint read from disk (a path): smaller, and the next window is read
#: while the current ones are solved (:func:`htsr_utils.engine.parallel.prefetch`; two
#: windows overlap in :func:`htsr_utils.engine.esd.esd_stream`), so that the memory the
#: analysis holds is about three windows or three of the largest layers, whatever the size
#: of the checkpoint.
STREAM_WINDOW_BYTES = 1 << 27

#: Columns of the per-matrix table, in order.
DETAIL_COLUMNS = [
    "layer", "layer_type", "layer_index", "slice", "N", "M", "Q", "num_evals", "n_fit",
    "lambda_max", "alpha", "xmin", "xmax", "D", "sigma", "n_tail", "alpha_weighted", "log_norm",
    "log_norm_sq", "log_spectral_norm", "log_alpha_norm", "stable_rank", "status", "warning",
]

#: Estimators :func:`analyze` offers, and the columns each adds after :data:`DETAIL_COLUMNS`
#: (``"csn"`` fills the fit columns already there).
ESTIMATOR_COLUMNS: dict[str, list[str]] = {
    "csn": [],
    "hill": ["alpha_hill", "hill_k", "hill_xmin"],
    "farms": ["alpha_farms", "farms_windows"],
}

#: Per-model means :func:`summarize` adds for the estimator columns a table has.
ESTIMATOR_SUMMARY: dict[str, str] = {"alpha_hill": "alpha_hill_mean", "alpha_farms": "alpha_farms_mean"}

#: Per-model metrics returned by :func:`summarize`.
SUMMARY_METRICS = [
    "alpha_hat", "alpha_hat_star", "alpha_mean", "log_norm", "log_spectral_norm",
    "log_alpha_norm", "L", "N_alpha",
]

#: Multiple of ``size * eps * lambda_max`` at or below which eigenvalues are round-off.
ROUNDOFF_FACTOR = 1.0

#: ``alpha`` below / above these bounds gets the weightwatcher warning.
OVER_TRAINED_ALPHA = 2.0
UNDER_TRAINED_ALPHA = 6.0


def analyze(
    model: ModelLike,
    convention: str | Convention = "sdm2020",
    device: str = "cpu",
    *,
    progress: bool = False,
    precision: Precision = "float64",
    estimators: Sequence[str] = ("csn",),
    split_qkv: bool = False,
    lora_product: bool = False,
) -> pd.DataFrame:
    """Fit every weight matrix of ``model`` and return one row per matrix.

    Parameters
    ----------
    model : nn.Module, state dict or weight file path
        See :func:`htsr_utils.weight_matrices`.
    convention : str or Convention
        ``"sdm2020"`` (default), ``"natcomm2021"``, ``"ww"`` or ``"paper_text"``.
    device : str
        Where eigenvalues are computed (``"cpu"`` or ``"cuda"``); fits run on the CPU.
    progress : bool
        Show a progress bar (stderr) of the eigenvalue work, counted in multiply-adds so
        that it moves in proportion to the time spent.
    precision : {"float64", "float32"}
        Arithmetic of the eigenvalues (:func:`htsr_utils.engine.esd.esd`); ``"float32"`` for
        large models (faster; the eigenvalues the fit sees are those above float32's
        round-off).  Recorded in ``attrs["precision"]``.
    estimators : sequence of str
        Exponent estimators to apply to each ESD (:data:`ESTIMATOR_COLUMNS`; the
        ``docs/glossary.md`` estimator table compares them): ``"csn"`` the power-law fit of
        :func:`~htsr_utils.engine.powerlaw_fit.fit_powerlaw` (columns ``alpha``, ``xmin``,
        ``D``, ... and the metrics built on ``alpha``; without it they are NaN and ``status``
        only says whether the ESD has a tail to fit); ``"hill"`` the Hill estimator of
        TempBalance / AlphaPruning (:func:`~htsr_utils.engine.hill.hill_alpha` with
        ``xmin_pos=2`` on the whole ESD, zeros included: ``alpha_hill``, ``hill_k``,
        ``hill_xmin``; NaN where the median eigenvalue is 0); ``"farms"`` the same Hill
        estimator on the FARMS ESD of the row's matrix (:func:`~htsr_utils.engine.farms.farms_alpha`
        with :data:`~htsr_utils.engine.farms.FARMS_DEFAULTS`, recorded in ``attrs["farms"]``;
        a pooled layer by FARMS's convolution rule): ``alpha_farms``, ``farms_windows``.
        Recorded in ``attrs["estimators"]`` when not the default.
    split_qkv, lora_product : bool, default False
        Transformer layouts (:func:`htsr_utils.weight_matrices`): fused q/k/v projections
        split into three matrices; LoRA adapter pairs analyzed as ``B @ A``.

    Returns
    -------
    DataFrame
        Columns :data:`DETAIL_COLUMNS`.  ``num_evals``: eigenvalues in the ESD (after
        ``drop_smallest``; pooled over the slices of a pooled layer); ``n_fit``: those the
        fit uses (:func:`fit_eigenvalues`: above the convention's ``eval_floor`` and the
        round-off level).  ``status``: ``"ok"``, ``"zero_matrix"``, ``"rank_deficient"``
        (fewer than two distinct eigenvalues above round-off, e.g. a constant matrix),
        ``"too_few_values"`` or ``"below_min_dim"``.
        ``alpha_weighted = alpha * log10(lambda_max)``, ``log_norm = log10 ||W||_F``
        (``log10 ||W||_F^2`` for conventions with ``squared_log_norm``, as weightwatcher),
        ``log_norm_sq = log10 ||W||_F^2``,
        ``log_spectral_norm = log10 lambda_max``, ``log_alpha_norm = log10 sum lambda^alpha``
        (over every positive eigenvalue), ``stable_rank = ||W||_F^2 / lambda_max``; for a
        pooled layer ``||W||_F^2`` is the sum over its slices.  A matrix whose ESD cannot
        be fitted keeps its row with NaN fit values and a ``status`` saying why.  ``attrs``
        holds the convention name and the skipped layers.

    Raises
    ------
    NoAnalyzableLayersError
        If the model has no layer the convention analyzes.
    NonFiniteWeightsError
        If a layer has NaN or Inf weights.
    """
    return analyze_with_esds(model, convention, device, progress=progress, precision=precision,
                             estimators=estimators, split_qkv=split_qkv,
                             lora_product=lora_product)[0]


def analyze_with_esds(
    model: ModelLike,
    convention: str | Convention = "sdm2020",
    device: str = "cpu",
    *,
    progress: bool = False,
    precision: Precision = "float64",
    estimators: Sequence[str] = ("csn",),
    split_qkv: bool = False,
    lora_product: bool = False,
) -> tuple[pd.DataFrame, list[np.ndarray]]:
    """:func:`analyze`, and the ESD of every row.

    Parameters
    ----------
    model, convention, device, progress, precision, estimators, split_qkv, lora_product
        As for :func:`analyze`.

    Returns
    -------
    (DataFrame, list of ndarray)
        The table of :func:`analyze` and, per row, its ESD: sorted eigenvalues, convention
        scale applied, smallest dropped where the convention drops it, pooled over the slices
        of a pooled layer.  :func:`fit_eigenvalues` gives the part of it the fit saw.
    """
    conv = get_convention(convention)
    check_device(device)
    check_precision(precision)
    estimators = check_estimators(estimators)
    rows: list[dict] = []
    esds: list[np.ndarray] = []
    skipped: list[SkippedLayer] = []
    with tqdm(desc="eigenvalues", unit="mul-add", unit_scale=True, total=0,
              disable=not progress, leave=False) as bar:
        items = iter_layers(model, conv, split_qkv=split_qkv, lora_product=lora_product)
        if isinstance(model, (str, Path)):
            windows = prefetch(_windows(items, STREAM_WINDOW_BYTES))
        else:
            windows = _windows(items, WINDOW_BYTES)
        solved = esd_stream(_tagged_batches(windows), device=device, progress=bar, count="work",
                            precision=precision)
        for (layers, skipped_here), spectra in solved:
            skipped.extend(skipped_here)
            for item, evals in zip(layers, spectra):
                for row, spectrum in _layer_rows(item, evals, conv, precision, estimators):
                    rows.append(row)
                    esds.append(spectrum)
    if not any(row["status"] != "below_min_dim" for row in rows):
        raise NoAnalyzableLayersError(_nothing_analyzed(conv, rows, skipped))
    extra = [c for name in estimators for c in ESTIMATOR_COLUMNS[name]]
    details = pd.DataFrame(rows, columns=DETAIL_COLUMNS + extra)
    details.attrs["convention"] = conv.name
    if estimators != ("csn",):
        details.attrs["estimators"] = list(estimators)
    if "farms" in estimators:
        details.attrs["farms"] = dict(FARMS_DEFAULTS)
    details.attrs["skipped"] = [vars(s) for s in skipped]
    if precision != "float64":
        details.attrs["precision"] = precision
    return details, esds


def check_estimators(estimators: Sequence[str]) -> tuple[str, ...]:
    """``estimators`` as a tuple, each known (:data:`ESTIMATOR_COLUMNS`) and listed once.

    Raises
    ------
    ValueError
        If ``estimators`` is empty, a plain string, or names an unknown estimator.
    """
    if isinstance(estimators, str):
        raise ValueError(f"estimators must be a sequence of names, e.g. ({estimators!r},), "
                         f"not the string {estimators!r}")
    names = tuple(dict.fromkeys(estimators))
    unknown = [e for e in names if e not in ESTIMATOR_COLUMNS]
    if unknown or not names:
        known = ", ".join(ESTIMATOR_COLUMNS)
        raise ValueError(f"estimators: unknown {unknown or 'empty list'}; choose from: {known}")
    return names


def _nothing_analyzed(conv: Convention, rows: list[dict], skipped: list[SkippedLayer]) -> str:
    """Why no matrix of a model was fitted under ``conv``, in one line."""
    why = [f"{s.layer or '<root>'}: {s.reason}" for s in skipped]
    small = {row["layer"] or "<root>": row["M"] for row in rows}  # natcomm2021's small matrices
    why += [f"{layer}: min(N, M) = {m} < {conv.min_dim}, kept for the log spectral norm only"
            for layer, m in small.items()]
    detail = f" ({'; '.join(why[:5])}{' ...' if len(why) > 5 else ''})" if why else \
        " (it holds no tensor of two or more dimensions)"
    return f"no layer of this model is analyzed under convention {conv.name!r}{detail}"


def fit_eigenvalues(esd: np.ndarray, convention: str | Convention = "sdm2020",
                    precision: Precision = "float64") -> np.ndarray:
    """The eigenvalues of an ESD that the power-law fit sees under ``convention``.

    The one definition used by :func:`analyze`, the tables and every ESD plot: the values
    above the convention's ``eval_floor`` and above the round-off level
    :func:`roundoff_level`: eigenvalues of a float64 Gram matrix below it are
    indistinguishable from rounding errors of the largest one (the zero eigenvalues of a
    rank-deficient matrix come out as such noise).

    Parameters
    ----------
    esd : ndarray
        One ESD as :func:`analyze_with_esds` returns it.
    convention : str or Convention
    precision : {"float64", "float32"}
        The arithmetic the ESD was computed in (:func:`analyze`).

    Returns
    -------
    ndarray
        The fitted eigenvalues, in the order given.
    """
    conv = get_convention(convention)
    esd = np.asarray(esd, dtype=float)
    return esd[esd > max(conv.eval_floor, roundoff_level(esd, precision))]


def roundoff_level(esd: np.ndarray, precision: Precision = "float64") -> float:
    """Eigenvalues of ``esd`` at or below this level are round-off.

    Parameters
    ----------
    esd : ndarray
        Eigenvalues of one ESD.
    precision : {"float64", "float32"}
        The arithmetic they were computed in (its ``eps``).

    Returns
    -------
    float
        ``ROUNDOFF_FACTOR * esd.size * eps * max(esd)`` (0 for an empty or all-zero ESD).
    """
    if esd.size == 0:
        return 0.0
    eps = np.finfo(DTYPES[precision]).eps
    return max(float(ROUNDOFF_FACTOR * esd.size * eps * esd.max()), 0.0)


def _windows(
    items: Iterator[LayerWeights | SkippedLayer], max_bytes: int
) -> Iterator[list[LayerWeights | SkippedLayer]]:
    """Consecutive items, grouped until the weights of a group reach ``max_bytes``."""
    window: list[LayerWeights | SkippedLayer] = []
    size = 0
    for item in items:
        window.append(item)
        if isinstance(item, LayerWeights):
            size += item.nbytes
        if size >= max_bytes:
            yield window
            window, size = [], 0
    if window:
        yield window


def _tagged_batches(
    windows: Iterator[list[LayerWeights | SkippedLayer]],
) -> Iterator[tuple[tuple[list[LayerWeights], list[SkippedLayer]], list]]:
    """Each window as :func:`~htsr_utils.engine.esd.esd_stream` takes it: ``((layers, skipped), batches)``."""
    for window in windows:
        layers = [item for item in window if isinstance(item, LayerWeights)]
        yield (layers, [item for item in window if isinstance(item, SkippedLayer)]), [item.batch for item in layers]


def _layer_rows(item: LayerWeights, evals: np.ndarray, conv: Convention, precision: Precision,
                estimators: tuple[str, ...] = ("csn",)) -> list[tuple[dict, np.ndarray]]:
    """One (row, ESD) per matrix of a layer (one for a pooled layer)."""
    n, m = item.shape
    evals = evals * item.scale**2
    frob_sq = evals.sum(axis=1)
    if conv.drop_smallest:
        evals = evals[:, 1:]
    if item.pooled:
        spectra = [(None, np.sort(evals.ravel()), frob_sq.sum())]
        matrices = [item.float_batch()] if "farms" in estimators else [None]
    else:
        spectra = [(slice_label(p), e, f) for p, e, f in zip(item.positions, evals, frob_sq)]
        matrices = list(item.float_batch()) if "farms" in estimators else [None] * len(spectra)
    base = {"layer": item.layer, "layer_type": item.layer_type, "layer_index": item.layer_index,
            "N": n, "M": m, "Q": n / m}
    norm_factor = n if conv.divide_by_n else 1  # the norm columns are those of W itself
    csn = "csn" in estimators
    return [(base | {"slice": label}
             | _spectrum_metrics(e, f, conv, item.below_min_dim, precision, f * norm_factor, csn)
             | (_hill_columns(e, item.below_min_dim) if "hill" in estimators else {})
             | (_farms_columns(w.astype(float) * item.scale, item.below_min_dim)
                if "farms" in estimators else {}), e)
            for (label, e, f), w in zip(spectra, matrices)]


def _farms_columns(matrix: np.ndarray, below_min_dim: bool) -> dict:
    """``alpha_farms``, ``farms_windows`` of one matrix, or of a pooled layer's ``(k, N, M)`` slices."""
    if below_min_dim:
        return {"alpha_farms": np.nan, "farms_windows": 0}
    fit = farms_alpha(matrix, conv=matrix.ndim == 3)
    return {"alpha_farms": fit.alpha, "farms_windows": fit.windows}


def _hill_columns(evals: np.ndarray, below_min_dim: bool) -> dict:
    """``alpha_hill``, ``hill_k``, ``hill_xmin`` of one ESD (NaN where it has no positive median)."""
    n = evals.size
    if below_min_dim or n < 2 or evals[n // 2] <= 0:
        return {"alpha_hill": np.nan, "hill_k": 0, "hill_xmin": np.nan}
    hill = hill_alpha(evals)
    return {"alpha_hill": hill.alpha, "hill_k": hill.k, "hill_xmin": hill.xmin}


def slice_label(position: tuple[int, ...] | None) -> str | None:
    """The ``slice`` column's text for a kernel position (None for a matrix without one)."""
    return None if position is None else ",".join(map(str, position))


def _spectrum_metrics(evals: np.ndarray, frob_sq: float, conv: Convention, below_min_dim: bool,
                      precision: Precision, norm_sq: float, csn: bool = True) -> dict:
    """Fit one ESD (whose sum is ``frob_sq``) and compute its metrics; ``norm_sq`` is
    ``||W||_F^2`` of the weight the norm columns describe.  The CSN fit only if ``csn``."""
    lambda_max = float(evals.max()) if evals.size else 0.0
    kept = fit_eigenvalues(evals, conv, precision)
    log_norm_factor = 1.0 if conv.squared_log_norm else 0.5
    row = {
        "num_evals": int(evals.size),
        "n_fit": int(kept.size),
        "lambda_max": lambda_max,
        "log_norm": log_norm_factor * np.log10(norm_sq) if norm_sq > 0 else np.nan,
        "log_norm_sq": np.log10(norm_sq) if norm_sq > 0 else np.nan,
        "log_spectral_norm": np.log10(lambda_max) if lambda_max > 0 else np.nan,
        "stable_rank": frob_sq / lambda_max if lambda_max > 0 else np.nan,
        "alpha": np.nan, "xmin": np.nan, "xmax": np.nan, "D": np.nan, "sigma": np.nan,
        "n_tail": 0, "alpha_weighted": np.nan, "log_alpha_norm": np.nan, "warning": "",
    }
    if below_min_dim:
        return row | {"status": "below_min_dim"}
    if lambda_max <= 0:
        return row | {"status": "zero_matrix"}
    if np.unique(kept).size < 2 and np.count_nonzero(evals > max(conv.eval_floor, 0.0)) > kept.size:
        # nothing but round-off below the largest eigenvalue: no tail to fit
        return row | {"status": "rank_deficient"}
    if not csn:
        return row | {"status": "ok"}
    fit = fit_powerlaw(kept, xmax=conv.fit_xmax, small_n=conv.small_n_fit)
    row |= {"alpha": fit.alpha, "xmin": fit.xmin, "xmax": fit.xmax, "D": fit.D,
            "sigma": fit.sigma, "n_tail": fit.n_tail, "status": fit.status}
    if fit.status == "ok":
        row["alpha_weighted"] = fit.alpha * np.log10(lambda_max)
        log_terms = fit.alpha * np.log(evals[evals > 0])
        row["log_alpha_norm"] = float(np.logaddexp.reduce(log_terms) / np.log(10.0))
        if fit.alpha < OVER_TRAINED_ALPHA:
            row["warning"] = "over-trained"
        elif fit.alpha > UNDER_TRAINED_ALPHA:
            row["warning"] = "under-trained"
    return row


def summarize(details: pd.DataFrame) -> pd.Series | pd.DataFrame:
    """Average the per-matrix metrics of :func:`analyze` into per-model values.

    Parameters
    ----------
    details : DataFrame
        Output of :func:`analyze`; with a ``model`` column, one summary per model.

    Returns
    -------
    Series or DataFrame
        :data:`SUMMARY_METRICS` (``L`` and ``N_alpha`` integers, the others floats): ``alpha_hat`` (mean ``alpha_weighted`` over fitted
        matrices), ``alpha_hat_star`` (the same without the last layer), ``alpha_mean``,
        ``log_norm``, ``log_spectral_norm`` (for natcomm2021 also over the small matrices
        it skips elsewhere), ``log_alpha_norm``, ``L`` (analyzed layers) and ``N_alpha``
        (fitted matrices); and, where ``details`` has an estimator's column (:func:`analyze`'s
        ``estimators``), its mean over the counted matrices: ``alpha_hill_mean``
        (:data:`ESTIMATOR_SUMMARY`).
    """
    if "model" in details.columns:
        groups = details.groupby("model", sort=False)
        return pd.DataFrame([_summary(group) for _, group in groups],
                            index=pd.Index([name for name, _ in groups], name="model"))
    return pd.Series(_summary(details), name=details.attrs.get("model"), dtype=object)


def _summary(details: pd.DataFrame) -> dict[str, float]:
    fitted = details[details["status"] == "ok"]
    counted = details[details["status"] != "below_min_dim"]
    last = counted["layer_index"].max()
    estimated = {mean: counted[column].mean()
                 for column, mean in ESTIMATOR_SUMMARY.items() if column in details.columns}
    return {
        "alpha_hat": fitted["alpha_weighted"].mean(),
        "alpha_hat_star": fitted.loc[fitted["layer_index"] != last, "alpha_weighted"].mean(),
        "alpha_mean": fitted["alpha"].mean(),
        "log_norm": counted["log_norm"].mean(),
        "log_spectral_norm": details["log_spectral_norm"].mean(),
        "log_alpha_norm": fitted["log_alpha_norm"].mean(),
        "L": int(counted["layer"].nunique()),
        "N_alpha": int(len(fitted)),
    } | estimated
