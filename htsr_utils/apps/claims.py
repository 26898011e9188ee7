"""The claims a notebook checks, and those it cannot check in this run, with the reason.

A notebook states results in its prose; each statement the numbers can check is a *claim*.
:class:`Claims` records every one: :meth:`Claims.check` asserts it (an unsupported claim
stops the notebook, as an ``assert`` would), :meth:`Claims.not_checked` records a claim this
run cannot check and why (``"alpha-hat equals the published value"``: ``"random weights"``).
The notebook passes its record to :func:`htsr_utils.apps.reproduce.write_notebook_report`,
and ``build/index.html`` shows per notebook how many claims were checked and which were not.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = ["ClaimNotSupported", "Claims"]


class ClaimNotSupported(AssertionError):
    """A claim the notebook states is contradicted by the numbers of this run."""


@dataclass
class Claims:
    """The claims one notebook checked and could not check.

    Parameters
    ----------
    notebook : str
        The notebook's file name without ``.ipynb``.

    Attributes
    ----------
    checked : dict of str to str
        Claim -> the evidence that supported it (e.g. ``"tau = -0.81, p = 0.003"``).
    unchecked : dict of str to str
        Claim -> why this run could not check it.

    Examples
    --------
    >>> claims = Claims("01_vgg")
    >>> claims.check("alpha-hat falls as top-1 rises", -0.8 < 0, "tau = -0.80")
    >>> claims.not_checked("alpha-hat equals the published value", "random weights")
    >>> claims.counts()
    (1, 1)
    """

    notebook: str
    checked: dict[str, str] = field(default_factory=dict)
    unchecked: dict[str, str] = field(default_factory=dict)

    def check(self, claim: str, holds: bool, evidence: str = "") -> None:
        """Assert ``claim`` and record it as checked.

        Parameters
        ----------
        claim : str
            The statement, as the prose makes it.
        holds : bool
            Whether the numbers of this run support it (a numpy bool is accepted).
        evidence : str, optional
            The numbers that decide it, shown in the notebook and the run report.

        Raises
        ------
        ClaimNotSupported
            ``holds`` is false: the message names the claim and the evidence.
        TypeError
            ``holds`` is not a boolean (a table or an array is ambiguous: reduce it first).
        """
        if not isinstance(holds, (bool, np.bool_)):
            raise TypeError(f"claim {claim!r}: holds must be a bool, got {type(holds).__name__}")
        if not holds:
            raise ClaimNotSupported(f"{self.notebook}: claim not supported: {claim}"
                                    + (f" ({evidence})" if evidence else ""))
        self.unchecked.pop(claim, None)
        self.checked[claim] = evidence

    def not_checked(self, claim: str, reason: str) -> None:
        """Record that this run cannot check ``claim``, and why.

        Parameters
        ----------
        claim : str
            The statement, as the prose makes it.
        reason : str
            Why not in this run (e.g. ``"random weights: no published value applies"``).

        Raises
        ------
        ValueError
            ``reason`` is empty, or the claim was already checked in this run.
        """
        if not reason.strip():
            raise ValueError(f"claim {claim!r}: say why it is not checked")
        if claim in self.checked:
            raise ValueError(f"claim {claim!r} was checked in this run; it cannot be unchecked")
        self.unchecked[claim] = reason

    def counts(self) -> tuple[int, int]:
        """``(checked, not checked)``."""
        return len(self.checked), len(self.unchecked)

    def table(self) -> pd.DataFrame:
        """Every claim, one row each: ``claim``, ``status`` (checked / not checked), ``evidence or reason``."""
        rows = ([{"claim": c, "status": "checked", "evidence or reason": e}
                 for c, e in self.checked.items()]
                + [{"claim": c, "status": "not checked", "evidence or reason": r}
                   for c, r in self.unchecked.items()])
        return pd.DataFrame(rows, columns=["claim", "status", "evidence or reason"])

    def to_json(self) -> dict:
        """The record as the run report stores it."""
        return {"checked": [{"claim": c, "evidence": e} for c, e in self.checked.items()],
                "not_checked": [{"claim": c, "reason": r} for c, r in self.unchecked.items()]}

    @classmethod
    def from_json(cls, notebook: str, record: dict) -> Claims:
        """The record :meth:`to_json` wrote."""
        return cls(notebook,
                   {e["claim"]: e.get("evidence", "") for e in record.get("checked", [])},
                   {e["claim"]: e.get("reason", "") for e in record.get("not_checked", [])})
