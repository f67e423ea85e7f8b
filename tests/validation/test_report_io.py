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


# ---- figures: returned, ax honoured, backend untouched, ranges follow the data ----

def _drawn(figure):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    return canvas.get_renderer()


def test_validation_figures_return_figures_and_honour_ax(report, monkeypatch):
    import matplotlib
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    from validation.figures import plot_jump_time_error, plot_loss, plot_neuron_norms

    backend, open_figures = matplotlib.get_backend(), set(plt.get_fignums())
    monkeypatch.setattr(matplotlib, "use", lambda *a, **k: (_ for _ in ()).throw(AssertionError("backend changed")))
    for make in (plot_loss, plot_jump_time_error, plot_neuron_norms):
        assert isinstance(make(report), Figure)
    mine = Figure()
    ax = mine.subplots()
    assert plot_loss(report, ax=ax) is mine and plot_jump_time_error(report, ax=Figure().subplots()) is not mine
    assert plot_neuron_norms(report, axes=mine.subplots(1, 2)) is mine
    assert matplotlib.get_backend() == backend and set(plt.get_fignums()) == open_figures


def test_loss_axis_has_no_empty_decades(report):
    from validation.figures import plot_loss

    ax = plot_loss(report).axes[0]
    values = np.concatenate([np.asarray(line.get_ydata(), dtype=float) for line in ax.get_lines()])
    low, high = ax.get_ylim()
    shown = values[values > 0]
    assert low >= shown.min() / 2 and high <= shown.max() * 2


def test_fit_curves_stay_inside_and_legend_outside(report):
    from validation.figures import plot_jump_time_error

    figure = plot_jump_time_error(report)
    ax = figure.axes[0]
    low, high = ax.get_ylim()
    for line in ax.get_lines():
        y = np.asarray(line.get_ydata(), dtype=float)
        assert np.all((y >= low) & (y <= high)), line.get_label()
    renderer = _drawn(figure)
    assert ax.get_legend().get_window_extent(renderer).x0 >= ax.get_window_extent(renderer).x1


def test_a_panel_without_finite_errors_says_why(report):
    import dataclasses

    from validation.figures import plot_jump_time_error

    item = report.initializations[0]
    fields = {f.name for f in dataclasses.fields(item.rows[0])}
    infinite = {name: float("inf") for name in ("jump_time_error", "flow_jump_time_error", "hybrid_jump_time_error")
                if name in fields}  # every error drawn in the panel (the finite-σ prediction's too)
    rows = tuple(dataclasses.replace(row, **infinite) for row in item.rows)
    broken = dataclasses.replace(report, initializations=(dataclasses.replace(item, rows=rows),))
    ax = plot_jump_time_error(broken).axes[0]
    texts = " ".join(text.get_text() for text in ax.texts)
    assert "No finite jump-time error" in texts and "never happened" in texts
