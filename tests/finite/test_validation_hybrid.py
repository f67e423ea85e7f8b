"""``validation.compare`` carries the finite-σ prediction beside the limit's (docs/math/finite-sigma.rst).

The real network is trained in PyTorch; the hybrid engine's half-fit steps must be the
training's exactly, at every σ, while the limit's error only shrinks like 1/ln(1/σ).
"""

import numpy as np
import pytest

from jumpprocess import make_problem, sample_initialization

pytest.importorskip("torch")
from validation import compare  # noqa: E402


def test_compare_reports_the_hybrid_prediction_beside_the_limit():
    problem = make_problem(10, "gaussian", seed=3)
    inits = [sample_initialization(problem, 5, kind, seed=4) for kind in ("balanced", "gaussian")]
    report = compare(problem, inits, [1e-2, 1e-6], step_size=0.5, device="cpu", loss_tolerance=1e-8)
    rows = [row for item in report.initializations for row in item.rows]
    assert all(row.hybrid_jump_time_error == 0.0 and row.hybrid_sample_mismatches == 0 for row in rows)
    assert any(row.jump_time_error > 0.05 for row in rows)       # the limit itself is off at these σ
    table = report.table()
    assert "hybrid err" in table
    assert all("hybrid_jump_time_error" in entry for entry in report.error_table())
    again = type(report).from_json(report.to_json())
    assert [r.hybrid_jump_time_error for item in again.initializations for r in item.rows] == \
        [r.hybrid_jump_time_error for r in rows]
    assert np.isfinite(rows[0].hybrid_jump_time_error)
