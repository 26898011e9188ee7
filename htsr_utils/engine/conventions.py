"""The named analysis conventions, defined in one place.

Small choices change the published numbers a lot, and the papers' text and code disagree
(``docs/conventions.md`` gives the facts and their sources).  Each convention below is one
consistent set of choices; every result table records the convention that produced it.

=============  ==========  ============  ==========================  ===========  ==========  ==============
name           Conv2D      min dim       scale of W                  ESD          fit xmax    layers kept
=============  ==========  ============  ==========================  ===========  ==========  ==============
sdm2020 [3]_   per slice   50, Conv2D    none                        drop min ev  lambda_max  Linear, Conv2D
natcomm2021    per slice   50 [1]_       sqrt(slices / 2)            drop min ev  lambda_max  all
ww [2]_        pooled      --            sqrt(1 / 2), Conv2D only    evals>1e-5   none        8..15000 evs
paper_text     per slice   50, Conv2D    1 / sqrt(N) in the ESD      drop min ev  lambda_max  Linear, Conv2D
=============  ==========  ============  ==========================  ===========  ==========  ==============

.. [1] natcomm2021 keeps the small slices in the average log spectral norm (a quirk of
   weightwatcher 0.2.7); they are skipped for every other metric.
.. [2] ww also analyzes Embedding layers and depthwise convolutions, skips layers with
   N > 50000, fits fewer than 20 eigenvalues with weightwatcher's small-sample rule, and
   reports log_norm = log10 ||W||_F^2 (see below).
.. [3] Where each sdm2020 rule comes from: the authors' notebooks for the paper
   (CalculatedContent/PredictingTestAccuracies, ``pyTorch-models-Accuracies-WeightedAlphas.ipynb``
   and ``pyTorch-models-Accuracies-LogNorm.ipynb``; ``docs/conventions.md`` quotes them) loop
   over ``nn.Linear`` modules, keeping each weight whatever its size, and over ``nn.Conv2d``
   modules, keeping a kernel-position slice only if ``min(N, M) >= 50``; no other layer type
   (no Conv1d) is analyzed.  Their eigenvalues are ``sigma^2`` of the raw weight from
   ``TruncatedSVD(M - 1)`` (the smallest is dropped) and the fit is ``powerlaw.Fit(evals,
   xmax=lambda_max)``.  The published matrix counts (``N_alpha``) follow from these rules for
   every zoo model.  paper_text keeps these matrices and applies the text's ``1/N`` to the
   ESD only: the text's log norm is that of ``W`` itself.

The ww convention and weightwatcher 0.7.7
-----------------------------------------
``analyze(model, "ww")`` reproduces ``weightwatcher.WeightWatcher(model=model).analyze()``
(all defaults, CPU) layer by layer: the same layers, the same eigenvalues (to rounding:
weightwatcher takes float64 SVDs, we float64 Gram eigenvalues) and the same ``alpha``,
``xmin``, ``D``, ``lambda_max`` (its ``spectral_norm``), ``alpha_weighted``,
``log_norm``, ``log_spectral_norm``, ``log_alpha_norm`` and ``stable_rank``
(``tests/test_ww_reference.py``).  Known differences, all deliberate:

- Conv1d (3-D weight): weightwatcher 0.7.7 passes the whole ``(out, in, k)`` tensor to one
  SVD, which SciPy with batched linalg (1.17.1 here) treats as ``out`` stacked ``(in, k)``
  matrices; it keeps the ``min(out, in, k)`` largest singular values of all of them, and
  keeps the layer only if ``8 <= min(out, in, k)``.  These are not the layer's spectrum
  (a SciPy without batch support raises instead).  We pool the ``k`` kernel positions' ``(out, in)`` matrices like Conv2d, unscaled
  (weightwatcher's ``conv2d_norm`` applies to Conv2D only), so both the layers kept and the
  values differ.  GPT-2 style ``Conv1D`` (2-D weight) agrees.
- Conv2d with an even number of kernel positions and ``out < in``: weightwatcher swaps
  ``N, M`` once per slice, so it reports ``N < M`` and counts ``M * kh * kw`` with the larger
  dimension for ``min_evals`` / ``max_evals``; the eigenvalues and fit agree, we report
  ``N >= M`` and count the true ``min(out, in) * kh * kw`` eigenvalues.
- Ties: weightwatcher tries every eigenvalue but the largest as ``xmin``, a repeated value
  several times with different empirical CDFs; we try each distinct value once, as
  ``powerlaw`` does.  Identical for ESDs without repeated eigenvalues.
- Failed fits (fewer than two distinct eigenvalues above 1e-5): weightwatcher reports
  ``alpha = -1`` (and from it ``alpha_weighted``, ``log_alpha_norm`` and the
  "over-trained" warning); we report NaN and a ``status``.  In the small-sample fallback
  (fewer than 8 eigenvalues above 1e-5) its ``sigma`` is ``-1 / sqrt(n)``; ours is
  ``(alpha - 1) / sqrt(n)``.
- ``xmax``: weightwatcher reports the largest eigenvalue; the fit is unbounded and we report
  ``inf``.
- Layer types: weightwatcher matches class names ("linear", "conv1d", "conv2d",
  "embedding" anywhere in the class path); we use ``isinstance`` for torch layers.
- With CUDA visible to torch, weightwatcher 0.7.7 converts weights to float16 and uses torch
  SVDs (``RMT_Util.py``); the reference is its CPU path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Convention:
    """One consistent set of analysis choices.

    Attributes
    ----------
    name : str
        Short identifier used in tables and file names.
    description : str
        One-line statement of where the convention comes from.
    conv_mode : {"slices", "pooled"}
        ``"slices"``: one matrix per kernel position of a convolution;
        ``"pooled"``: the eigenvalues of all kernel positions pooled into one ESD per layer.
    min_dim : int
        Matrices with ``min(N, M) < min_dim`` are not analyzed (0 keeps all).
    min_dim_scope : {"all", "conv2d"}
        Which matrices the ``min_dim`` rule applies to: all, or Conv2D kernel-position
        slices only (every Linear weight kept, whatever its size).
    conv1d : bool
        Analyze Conv1d (3-D) weights; False lists them in ``skipped``.
    small_in_spectral_norm : bool
        Keep matrices below ``min_dim`` for the average log spectral norm only.
    conv_scale : {"none", "sqrt_slices_over_2", "sqrt_half_conv2d"}
        Scale applied to convolution matrices: ``"sqrt_slices_over_2"``: ``sqrt(kh * kw / 2)``
        multiplies every Conv2d and Conv1d matrix; ``"sqrt_half_conv2d"``: ``sqrt(1/2)``
        multiplies Conv2d matrices only (weightwatcher >= 0.4 with ``pool=True``: its
        ``conv2d_norm`` uses ``sqrt(conv2d_count / 2)`` and ``conv2d_count`` stays 1 unless
        the layer is sliced).
    linear_scale : {"none", "sqrt_half"}
        Scale applied to Linear matrices (``sqrt(1/2)`` in weightwatcher 0.2.7, which
        applies ``sqrt(count / 2)`` with ``count = 1``).
    divide_by_n : bool
        Eigenvalues of ``W^T W / N`` instead of ``W^T W``; the norm columns (``log_norm``,
        ``log_norm_sq``) stay those of ``W``.
    drop_smallest : bool
        Drop the smallest eigenvalue of every matrix (truncated SVD with ``M - 1``
        components, as the authors' code did).
    eval_floor : float
        Eigenvalues ``<= eval_floor`` are not used in the fit (column ``n_fit`` counts
        those used); the alpha-norm sums ``lambda**alpha`` over every positive eigenvalue.
    fit_xmax : {"lambda_max", None}
        Upper bound of the power-law fit.
    min_evals, max_evals : int
        Layers whose ESD has fewer / more eigenvalues are not analyzed (0 = no limit).
        The count is ``M`` per matrix, or ``M * slices`` for a pooled layer, before
        ``drop_smallest`` and ``eval_floor``.
    max_n : int
        Layers whose matrices have ``N > max_n`` are not analyzed (0 = no limit).
    grouped_conv : {"stacked", "per_group"}
        Grouped convolutions: the stored ``(out, in / groups)`` slice as is (what the
        authors' code and weightwatcher do), or one matrix per group.
    depthwise_conv : {"skip", "stacked"}
        Grouped convolutions with one input channel per group (depthwise): skipped, or
        analyzed like any grouped convolution (each ``(out, 1)`` slice gives one
        eigenvalue; weightwatcher pools them, ``kh * kw`` eigenvalues per layer).
    embeddings : bool
        Also analyze ``nn.Embedding`` weights (and state-dict keys containing "embed") as
        matrices, unscaled, like Linear.
    small_n_fit : int
        ESDs with fewer than ``small_n_fit`` eigenvalues in the fit use weightwatcher
        0.7.7's small-sample rule (``fit_powerlaw(..., small_n=...)``; unbounded fits,
        ``fit_xmax=None``, only); 0 = never.
    squared_log_norm : bool
        The ``log_norm`` column (and its model average) is ``log10 ||W||_F^2``
        (weightwatcher's ``log_norm``) instead of ``log10 ||W||_F``; ``log_norm_sq`` is
        ``log10 ||W||_F^2`` under every convention (``docs/glossary.md`` defines every column).
    """

    name: str
    description: str
    conv_mode: Literal["slices", "pooled"] = "slices"
    min_dim: int = 50
    min_dim_scope: Literal["all", "conv2d"] = "all"
    conv1d: bool = True
    small_in_spectral_norm: bool = False
    conv_scale: Literal["none", "sqrt_slices_over_2", "sqrt_half_conv2d"] = "none"
    linear_scale: Literal["none", "sqrt_half"] = "none"
    divide_by_n: bool = False
    drop_smallest: bool = True
    eval_floor: float = 0.0
    fit_xmax: Literal["lambda_max"] | None = "lambda_max"
    min_evals: int = 0
    max_evals: int = 0
    max_n: int = 0
    grouped_conv: Literal["stacked", "per_group"] = "stacked"
    depthwise_conv: Literal["skip", "stacked"] = "skip"
    embeddings: bool = False
    small_n_fit: int = 0
    squared_log_norm: bool = False


CONVENTIONS: dict[str, Convention] = {
    c.name: c
    for c in (
        Convention(
            name="sdm2020",
            description=(
                "Martin & Mahoney SDM 2020 (arXiv 1901.08278), the authors' notebooks: "
                "every Linear weight (no size rule) + Conv2D slices with min(N,M) >= 50, "
                "no Conv1d; lambda = sigma^2 of raw W, smallest eigenvalue dropped, "
                "powerlaw.Fit(evals, xmax=lambda_max)"
            ),
            min_dim_scope="conv2d",
            conv1d=False,
        ),
        Convention(
            name="natcomm2021",
            description=(
                "Martin, Peng & Mahoney, Nature Communications 2021 (weightwatcher 0.2.7): "
                "W scaled by sqrt(slices/2), M >= 50 for alpha and norms, "
                "small slices kept in the log spectral norm"
            ),
            small_in_spectral_norm=True,
            conv_scale="sqrt_slices_over_2",
            linear_scale="sqrt_half",
        ),
        Convention(
            name="ww",
            description=(
                "weightwatcher 0.7.7 analyze() defaults: Linear, Embedding, Conv1d and Conv2d; "
                "Conv2D slices pooled into one ESD per layer, scaled by sqrt(1/2); "
                "eigenvalues <= 1e-5 dropped; unbounded fit (small-sample rule below 20); "
                "layers with 8..15000 eigenvalues and N <= 50000; log_norm = log10 ||W||_F^2"
            ),
            conv_mode="pooled",
            min_dim=0,
            conv_scale="sqrt_half_conv2d",
            drop_smallest=False,
            eval_floor=1e-5,
            fit_xmax=None,
            min_evals=8,
            max_evals=15000,
            max_n=50000,
            depthwise_conv="stacked",
            embeddings=True,
            small_n_fit=20,
            squared_log_norm=True,
        ),
        Convention(
            name="paper_text",
            description=(
                "the formulas as the SDM 2020 text writes them, on the sdm2020 matrices: the ESD "
                "of X = W^T W / N (eq. 2; log10 lambda_max < 0 for most layers, so alpha-hat "
                "changes sign), the log norm of W itself (log10 ||W||_F, no 1/N)"
            ),
            min_dim_scope="conv2d",
            conv1d=False,
            divide_by_n=True,
        ),
    )
}


def get_convention(convention: str | Convention) -> Convention:
    """Return the :class:`Convention` named ``convention`` (or ``convention`` itself).

    Raises
    ------
    ValueError
        If the name is not one of :data:`CONVENTIONS`.
    """
    if isinstance(convention, Convention):
        return convention
    try:
        return CONVENTIONS[convention]
    except KeyError:
        known = ", ".join(sorted(CONVENTIONS))
        raise ValueError(f"unknown convention {convention!r}; choose one of: {known}") from None
