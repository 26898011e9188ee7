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
the models when its claim fails.
"""

from __future__ import annotations

import pandas as pd

__all__ = ["ALPHA_HAT_TOLERANCE", "check_alpha_hat_reproduced", "check_baseline_differs", "check_matrix_counts",
           "check_published"]

#: Largest absolute difference between a computed and the published alpha-hat that counts as
#: reproduced (the authors' eigenvalues came from a truncated SVD, ours from an exact eigensolver,
#: which can move the chosen xmin of a few matrices).
ALPHA_HAT_TOLERANCE = 0.05


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
                    tolerance: float = ALPHA_HAT_TOLERANCE) -> list[str]:
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

    Returns
    -------
    list of str
        One sentence per claim: what it checked, or why it does not apply.

    Raises
    ------
    AssertionError
        From the first check whose claim fails.
    """
    lines = []
    if convention == "sdm2020":
        lines.append(check_matrix_counts(summary))
        if weights == "pretrained":
            lines.append(check_alpha_hat_reproduced(summary, snapshot, tolerance))
    else:
        lines.append(f"matrix counts and alpha-hat reproduction: checked under sdm2020 only (this run: {convention})")
    if weights == "random":
        lines.append(check_baseline_differs(summary, tolerance))
    elif weights != "pretrained":
        lines.append(f"alpha-hat: not compared (weights from {weights}, not the published ones)")
    return lines
