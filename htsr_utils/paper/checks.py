"""The checks of computed per-model values against the authors' published ones.

Every family notebook holds its summary to the same three claims (:func:`check_published`):

* :func:`check_matrix_counts` - under ``sdm2020``, N_alpha (the matrices analyzed) depends on
  the architecture only, so it equals the count the authors printed, whatever the weights;
* :func:`check_alpha_hat_reproduced` - with pretrained weights, alpha-hat is within
  :data:`ALPHA_HAT_TOLERANCE` of the published value: every model under snapshot ``"paper"``
  (the files the paper analyzed), torchvision's only under ``"latest"`` (pytorchcv replaced its
  files after the paper);
* :func:`check_baseline_differs` - with random weights the median gap to the published alpha-hat
  exceeds the tolerance: otherwise agreement would say nothing about training.

Each check returns one sentence saying what it checked and raises ``AssertionError`` naming
the models when its claim fails.  Given a notebook's claims record
(:class:`htsr_utils.apps.claims.Claims`, or anything with its ``check`` and ``not_checked``),
:func:`check_published` records each claim there: checked, with the evidence, or not checked in
this run, with the reason.
"""

from __future__ import annotations

from typing import Protocol

import pandas as pd

from .figures import weights_label

__all__ = ["ALPHA_HAT_TOLERANCE", "CLAIM_ALPHA_HAT", "CLAIM_BASELINE", "CLAIM_COUNTS", "ClaimsRecord",
           "check_alpha_hat_reproduced", "check_baseline_differs", "check_matrix_counts", "check_published"]

#: Largest absolute difference between a computed and the published alpha-hat that counts as
#: reproduced (the authors' eigenvalues came from a truncated SVD, ours from an exact eigensolver,
#: which can move the chosen xmin of a few matrices).
ALPHA_HAT_TOLERANCE = 0.05

#: The three claims, as a notebook's claims record names them.
CLAIM_COUNTS = "N_alpha equals the published matrix count (sdm2020, any weights)"
CLAIM_ALPHA_HAT = f"alpha-hat is within {ALPHA_HAT_TOLERANCE} of the published value (pretrained weights)"
CLAIM_BASELINE = "the untrained baseline does not reproduce the published alpha-hat (random weights)"


class ClaimsRecord(Protocol):
    """What :func:`check_published` needs of a claims record (:class:`htsr_utils.apps.claims.Claims`)."""

    def check(self, claim: str, holds: bool, evidence: str = "") -> None: ...

    def not_checked(self, claim: str, reason: str) -> None: ...


def check_matrix_counts(summary: pd.DataFrame) -> str:
    """N_alpha equals the published matrix count for every model that has one.

    Parameters
    ----------
    summary : DataFrame
        Joined summary (:func:`htsr_utils.paper.reference_data.join_reference`) with ``N_alpha``
        and ``n_matrices_published``.

    Returns
    -------
    str
        The claim checked, in one sentence; ``AssertionError`` lists the models whose count differs.
    """
    counted = summary.dropna(subset=["n_matrices_published"])
    wrong = counted[counted["N_alpha"] != counted["n_matrices_published"]]
    assert wrong.empty, f"N_alpha differs from the published count:\n{wrong[['N_alpha', 'n_matrices_published']]}"
    return f"N_alpha equals the published matrix count for all {len(counted)} models that have one"


def check_alpha_hat_reproduced(summary: pd.DataFrame, snapshot: str,
                               tolerance: float = ALPHA_HAT_TOLERANCE) -> str:
    """alpha-hat is within ``tolerance`` of the published value for the models analyzed from
    the paper's weight files.

    Parameters
    ----------
    summary : DataFrame
        Joined summary with ``alpha_hat``, ``alpha_hat_published`` and ``library``.
    snapshot : {"paper", "latest"}
        ``"paper"``: every model's file is the one the paper analyzed; ``"latest"``: only
        torchvision's files are unchanged, so only torchvision models are held to it.
    tolerance : float, default :data:`ALPHA_HAT_TOLERANCE`

    Returns
    -------
    str
        The claim checked, in one sentence; ``AssertionError`` lists the gaps above ``tolerance``.
    """
    gap = _alpha_hat_gap(summary)
    same_files = gap if snapshot == "paper" else gap[summary.loc[gap.index, "library"] == "torchvision"]
    assert (same_files <= tolerance).all(), f"alpha-hat off the published value:\n{same_files}"
    return f"alpha-hat within {tolerance} of the published value for {len(same_files)} models"


def check_baseline_differs(summary: pd.DataFrame, tolerance: float = ALPHA_HAT_TOLERANCE) -> str:
    """The untrained baseline does not reproduce the published alpha-hat: median gap > ``tolerance``.

    Parameters
    ----------
    summary : DataFrame
        Joined summary of random-init weights, with ``alpha_hat`` and ``alpha_hat_published``.
    tolerance : float, default :data:`ALPHA_HAT_TOLERANCE`

    Returns
    -------
    str
        The claim checked, in one sentence (or that no model has a published value); ``AssertionError``
        when the median gap is within ``tolerance``.
    """
    gap = _alpha_hat_gap(summary)
    if gap.empty:
        return "untrained baseline: no model with a published alpha-hat, nothing to compare"
    assert gap.median() > tolerance, "the untrained baseline reproduces the published alpha-hat"
    return f"untrained baseline: median |alpha-hat - published| = {gap.median():.2f} over {len(gap)} models"


def _alpha_hat_gap(summary: pd.DataFrame) -> pd.Series:
    """``|alpha_hat - alpha_hat_published|`` of the models with a published value."""
    published = summary.dropna(subset=["alpha_hat_published"])
    return (published["alpha_hat"] - published["alpha_hat_published"]).abs()


def check_published(summary: pd.DataFrame, *, weights: str, convention: str, snapshot: str,
                    tolerance: float = ALPHA_HAT_TOLERANCE, claims: ClaimsRecord | None = None) -> list[str]:
    """Every check that applies to a run, and a line for each that does not.

    Parameters
    ----------
    summary : DataFrame
        Joined summary (:func:`htsr_utils.paper.reference_data.join_reference`).
    weights : str
        The notebook's weights (``"pretrained"``, ``"random"`` or a checkpoint path).
    convention : str
        The analysis convention; the published values are those of ``sdm2020``.
    snapshot : {"paper", "latest"}
        Which weight files were analyzed.
    tolerance : float, default :data:`ALPHA_HAT_TOLERANCE`
    claims : ClaimsRecord, optional
        The notebook's claims record: each of :data:`CLAIM_COUNTS`, :data:`CLAIM_ALPHA_HAT` and
        :data:`CLAIM_BASELINE` is recorded as checked (the sentence of its check as evidence) or
        not checked (why not in this run: another convention, random weights, no model with a
        published value, ...).

    Returns
    -------
    list of str
        One sentence per claim: what it checked, or why it does not apply.

    Raises
    ------
    AssertionError
        From the first check whose claim fails (before anything is recorded for it).
    """
    lines = []
    record = claims if claims is not None else _NoRecord()
    counted = summary["n_matrices_published"].notna().sum() if "n_matrices_published" in summary else 0
    published = summary["alpha_hat_published"].notna().sum() if "alpha_hat_published" in summary else 0
    if convention == "sdm2020" and counted:
        lines.append(check_matrix_counts(summary))
        record.check(CLAIM_COUNTS, True, lines[-1])
    elif convention == "sdm2020":
        lines.append("matrix counts: no analyzed model has a published count")
        record.not_checked(CLAIM_COUNTS, "no analyzed model has a published count (skipped or not in the paper)")
    else:
        lines.append(f"matrix counts and alpha-hat reproduction: checked under sdm2020 only (this run: {convention})")
        record.not_checked(CLAIM_COUNTS, f"convention {convention}: the published counts are sdm2020's")
    if convention != "sdm2020":
        record.not_checked(CLAIM_ALPHA_HAT, f"convention {convention}: the values held to are sdm2020's")
    elif weights != "pretrained":
        record.not_checked(CLAIM_ALPHA_HAT, f"{weights_label(weights)}: the published values are those of the "
                                            "pretrained models")
    elif not published:
        lines.append("alpha-hat: no analyzed model has a published value")
        record.not_checked(CLAIM_ALPHA_HAT, "no analyzed model has a published alpha-hat")
    else:
        lines.append(check_alpha_hat_reproduced(summary, snapshot, tolerance))
        record.check(CLAIM_ALPHA_HAT, True, lines[-1])
    if weights == "random" and published:
        lines.append(check_baseline_differs(summary, tolerance))
        record.check(CLAIM_BASELINE, True, lines[-1])
    elif weights == "random":
        lines.append(check_baseline_differs(summary, tolerance))
        record.not_checked(CLAIM_BASELINE, "no analyzed model has a published alpha-hat")
    else:
        if weights != "pretrained":
            lines.append(f"alpha-hat: not compared (weights from {weights}, not the published ones)")
        record.not_checked(CLAIM_BASELINE, f"{weights_label(weights)}: the claim is about random-init weights")
    return lines


class _NoRecord:
    """The claims record of a caller that keeps none."""

    def check(self, claim: str, holds: bool, evidence: str = "") -> None:
        pass

    def not_checked(self, claim: str, reason: str) -> None:
        pass
