"""A validation report reads well in a notebook and can be read back from its JSON."""

import json

import numpy as np
import pytest

pytest.importorskip("torch")

from jumpprocess import make_problem, sample_initialization
from validation import compare
from validation.comparison import ValidationReport
from validation.figures import save_figures
from validation.training import TrainingResult


@pytest.fixture(scope="module")
def report():
    problem = make_problem(6, "gaussian", seed=3)
    inits = [sample_initialization(problem, 4, "balanced", seed=seed) for seed in (1, 2)]
    return compare(problem, inits, [1e-2, 1e-8, 1e-32], step_size=0.1, device="cpu", max_steps=5000)


def test_report_round_trips_through_json(report, tmp_path):
    text = report.to_json()
    back = ValidationReport.from_json(text)
    assert back.to_json() == text and back.table() == report.table()
    path = tmp_path / "report.json"
    path.write_text(text)
    loaded = ValidationReport.from_json(path)
    for mine, theirs in zip(loaded.initializations, report.initializations):
        assert mine.trajectory.events == theirs.trajectory.events
        assert mine.flow_trajectory.events == theirs.flow_trajectory.events
        np.testing.assert_array_equal(mine.rows[-1].jump_time_errors, theirs.rows[-1].jump_time_errors)
    np.testing.assert_array_equal(loaded.training.losses, report.training.losses)
    np.testing.assert_array_equal(loaded.training.rescaled_times, report.training.rescaled_times)
    assert len(save_figures(loaded, tmp_path / "figures")) == 3  # figures redrawn from the file


def test_old_or_foreign_json_is_refused_with_the_reason(report):
    data = report.to_dict()
    data["format_version"] = 1
    with pytest.raises(ValueError, match="version 1"):
        ValidationReport.from_dict(data)
    with pytest.raises(ValueError, match="not a validation report"):
        ValidationReport.from_dict({"format": "jumpprocess.Trajectory"})


def test_training_record_keeps_non_finite_values(report):
    data = report.training.to_dict()
    json.dumps(data, allow_nan=False)
    back = TrainingResult.from_dict(json.loads(json.dumps(data)))
    np.testing.assert_array_equal(back.half_fit_times, report.training.half_fit_times)  # NaN where never
    assert back.stop_reasons == report.training.stop_reasons and back.final_preactivations is None


def test_report_repr_html_and_error_table(report):
    text = repr(report)
    assert len(text) < 200 and "array(" not in text and report.verdict in text
    table = report.error_table()
    assert len(table) == 2 * 3
    for row, (item, sigma_row) in zip(table, [(i, r) for i in report.initializations for r in i.rows]):
        assert row["init"] == item.index and row["sigma"] == sigma_row.sigma
        assert row["jump_time_error"] == sigma_row.jump_time_error
        assert row["fitted_set_errors"] == sigma_row.fitted_set_errors
    page = report._repr_html_()
    assert page.count("<table") == 1 + 2  # errors, and the two limits' jump tables
    assert "<th>jump err</th>" in page and "<th>τ</th>" in page
