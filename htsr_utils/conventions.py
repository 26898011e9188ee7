"""The named analysis conventions, defined in one place.

Small choices change the published numbers a lot, and the papers' text and code disagree
(see ``shared/notes/conventions.md``).  Each convention below is one consistent set of
choices; every result table records the convention that produced it.

=============  ==========  ========  ==========================  ===========  ==========  ============
name           Conv2D      min dim   scale of W                  ESD          fit xmax    layers kept
=============  ==========  ========  ==========================  ===========  ==========  ============
sdm2020        per slice   50        none                        drop min ev  lambda_max  all
natcomm2021    per slice   50 [1]_   sqrt(slices / 2)            drop min ev  lambda_max  all
ww             pooled      --        sqrt(slices / 2), Conv2D    evals>1e-5   none        8..15000 evs
paper_text     per slice   50        1 / sqrt(N)                 drop min ev  lambda_max  all
=============  ==========  ========  ==========================  ===========  ==========  ============

.. [1] natcomm2021 keeps the small slices in the average log spectral norm (a quirk of
   weightwatcher 0.2.7); they are skipped for every other metric.
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
    small_in_spectral_norm : bool
        Keep matrices below ``min_dim`` for the average log spectral norm only.
    conv_scale : {"none", "sqrt_slices_over_2"}
        Scale applied to convolution matrices: ``sqrt(kh * kw / 2)`` multiplies W.
    linear_scale : {"none", "sqrt_half"}
        Scale applied to Linear matrices (``sqrt(1/2)`` in weightwatcher 0.2.7, which
        applies ``sqrt(count / 2)`` with ``count = 1``).
    divide_by_n : bool
        Eigenvalues of ``W^T W / N`` instead of ``W^T W``.
    drop_smallest : bool
        Drop the smallest eigenvalue of every matrix (truncated SVD with ``M - 1``
        components, as the authors' code did).
    eval_floor : float
        Eigenvalues ``<= eval_floor`` are not used in the fit and the alpha-norm.
    fit_xmax : {"lambda_max", None}
        Upper bound of the power-law fit.
    min_evals, max_evals : int
        Layers whose ESD has fewer / more eigenvalues are not analyzed (0 = no limit).
    grouped_conv : {"stacked", "per_group"}
        Grouped convolutions: the stored ``(out, in / groups)`` slice as is (what the
        authors' code and weightwatcher do), or one matrix per group.
    """

    name: str
    description: str
    conv_mode: Literal["slices", "pooled"] = "slices"
    min_dim: int = 50
    small_in_spectral_norm: bool = False
    conv_scale: Literal["none", "sqrt_slices_over_2"] = "none"
    linear_scale: Literal["none", "sqrt_half"] = "none"
    divide_by_n: bool = False
    drop_smallest: bool = True
    eval_floor: float = 0.0
    fit_xmax: Literal["lambda_max"] | None = "lambda_max"
    min_evals: int = 0
    max_evals: int = 0
    grouped_conv: Literal["stacked", "per_group"] = "stacked"


CONVENTIONS: dict[str, Convention] = {
    c.name: c
    for c in (
        Convention(
            name="sdm2020",
            description=(
                "Martin & Mahoney SDM 2020 (arXiv 1901.08278), the authors' notebooks: "
                "Linear + Conv2D slices with min(N,M) >= 50, lambda = sigma^2 of raw W, "
                "smallest eigenvalue dropped, powerlaw.Fit(evals, xmax=lambda_max)"
            ),
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
                "weightwatcher 0.7.x defaults: Conv2D slices pooled into one ESD per layer, "
                "scaled by sqrt(slices/2); eigenvalues <= 1e-5 dropped; unbounded fit; "
                "layers with 8..15000 eigenvalues"
            ),
            conv_mode="pooled",
            min_dim=0,
            conv_scale="sqrt_slices_over_2",
            drop_smallest=False,
            eval_floor=1e-5,
            fit_xmax=None,
            min_evals=8,
            max_evals=15000,
        ),
        Convention(
            name="paper_text",
            description=(
                "the formulas as the SDM 2020 text writes them: X = W^T W / N "
                "(log10 lambda_max < 0 for most layers, so alpha-hat changes sign)"
            ),
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
