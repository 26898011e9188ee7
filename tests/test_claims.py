"""The claims record notebooks keep (htsr_utils.apps.claims)."""

import numpy as np
import pytest

from htsr_utils.apps.claims import ClaimNotSupported, Claims


def test_checked_and_unchecked_claims_are_counted_and_tabled():
    claims = Claims("01_vgg")
    claims.check("alpha-hat falls as top-1 rises", bool(np.float64(-0.8) < 0), "tau = -0.80")
    claims.check("numpy booleans are accepted", np.float64(1.0) > 0)
    claims.not_checked("alpha-hat equals the published value", "random weights")
    assert claims.counts() == (2, 1)
    table = claims.table()
    assert table["status"].tolist() == ["checked", "checked", "not checked"]
    assert table.iloc[2]["evidence or reason"] == "random weights"
    assert Claims.from_json("01_vgg", claims.to_json()) == claims


def test_a_contradicted_claim_stops_the_notebook_with_its_evidence():
    claims = Claims("03_densenet")
    with pytest.raises(ClaimNotSupported, match=r"03_densenet: claim not supported: tau < 0 \(tau = 0.33\)"):
        claims.check("tau < 0", 0.33 < 0, "tau = 0.33")
    assert claims.counts() == (0, 0)
    with pytest.raises(AssertionError):
        claims.check("tau < 0", False)


def test_ambiguous_or_unexplained_records_are_refused():
    claims = Claims("x")
    with pytest.raises(TypeError, match="must be a bool"):
        claims.check("all positive", np.array([1.0, 2.0]) > 0)
    with pytest.raises(ValueError, match="say why"):
        claims.not_checked("a claim", " ")
    claims.check("a claim", True)
    with pytest.raises(ValueError, match="was checked"):
        claims.not_checked("a claim", "no data")


def test_every_numbered_notebook_keeps_a_claims_record_and_reports_it():
    import json
    from pathlib import Path

    notebooks = sorted((Path(__file__).parents[1] / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    assert notebooks
    missing = []
    for path in notebooks:
        source = "\n".join("".join(c["source"]) for c in json.loads(path.read_text())["cells"]
                           if c["cell_type"] == "code")
        if f'Claims(' not in source or "claims=claims" not in source:
            missing.append(path.name)
    assert not missing, f"notebooks without a claims record passed to their report: {missing}"
