"""Figures worth showing: returned Figure objects, ax honoured, backend untouched, titles that
fit, jumps marked, jumping neurons distinguishable, sweep figures that say what differs."""

import json

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")

from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from jumpprocess import Initialization, OrthogonalProblem, make_instance, simulate, simulate_many  # noqa: E402
from jumpprocess.plotting import plot_exponents, plot_loss_staircase, plot_trajectory  # noqa: E402
from jumpprocess.scale.sweep import sweep_figures  # noqa: E402


@pytest.fixture
def guard_backend(monkeypatch):
    """Fail if anything selects a backend; check pyplot keeps no new figure."""
    import matplotlib.pyplot as plt

    backend = matplotlib.get_backend()
    before = set(plt.get_fignums())

    def refuse(*args, **kwargs):
        raise AssertionError("a plotting function called matplotlib.use")

    monkeypatch.setattr(matplotlib, "use", refuse)
    monkeypatch.setattr(plt, "switch_backend", refuse)
    yield
    assert matplotlib.get_backend() == backend
    assert set(plt.get_fignums()) == before


def _inside_figure(figure, artist):
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    box = artist.get_window_extent(canvas.get_renderer())
    width, height = canvas.get_width_height()
    return box.x0 >= 0 and box.y0 >= 0 and box.x1 <= width and box.y1 <= height


def test_plot_trajectory_returns_a_figure_and_writes_the_file(tmp_path, guard_backend):
    traj = simulate(*make_instance(1000, 40, seed=0))
    figure = plot_trajectory(traj, tmp_path / "t.png", caption="labels sign-balanced, init balanced, seed 0")
    assert isinstance(figure, Figure) and (tmp_path / "t.png").stat().st_size > 10_000
    title = figure._suptitle.get_text()
    assert "gradient flow" in title and "n = 1000" in title and "seed 0" in title and traj.status in title.replace("\n", " ")
    assert _inside_figure(figure, figure._suptitle)


def test_long_status_is_wrapped_not_clipped(guard_backend):
    # 300 samples, one neuron covering a few: "stalled: samples … and 290 more uncovered"
    labels = np.ones(300)
    U = -np.ones((2, 300))
    U[0, :5] = 1.0
    traj = simulate(OrthogonalProblem(labels), Initialization(U, [3.0, 3.0]), step_size=0.25)
    assert not traj.interpolates and len(traj.status) > 60
    figure = plot_trajectory(traj, caption="a caption long enough to need its own line in a narrow figure " * 2)
    title = figure._suptitle
    assert title.get_text().count("\n") >= 2
    assert _inside_figure(figure, title)


def test_gradient_descent_title_names_eta_and_log_loss_option(guard_backend):
    problem, init = make_instance(12, 8, "gaussian", "gaussian", seed=2)
    traj = simulate(problem, init, 0.5)
    figure = plot_trajectory(traj, log_loss=True)
    assert "gradient descent, η = 0.5" in figure._suptitle.get_text()
    assert figure.axes[0].get_yscale() == "log" and plot_trajectory(traj).axes[0].get_yscale() == "linear"


def test_axes_are_honoured_and_jumps_marked(guard_backend):
    traj = simulate(*make_instance(60, 12, seed=0))
    figure = Figure()
    loss_ax, exponent_ax = figure.subplots(2)
    assert plot_trajectory(traj, axes=(loss_ax, exponent_ax)) is figure
    assert plot_loss_staircase(traj, ax=loss_ax) is figure and plot_exponents(traj, ax=exponent_ax) is figure
    markers = [line for line in loss_ax.get_lines() if line.get_marker() == "o"]
    np.testing.assert_allclose(markers[0].get_xdata(), traj.jump_times)
    np.testing.assert_allclose(markers[0].get_ydata(), traj.plateau_losses[1:])


def test_jumping_neurons_are_distinct_and_the_rest_muted(guard_backend):
    def colours(traj):
        ax = plot_exponents(traj).axes[0]
        lines = [line for line in ax.get_lines() if len(line.get_xdata()) > 2]  # the paths, not markers
        return [to_rgba(line.get_color()) for line in lines]

    few = simulate(*make_instance(60, 12, seed=0))
    assert 0 < few.num_jumps <= 10
    drawn = colours(few)
    grey = to_rgba("0.7")
    coloured = [c for c in drawn if c != grey]
    assert len(coloured) == few.num_jumps and len(set(coloured)) == few.num_jumps
    assert drawn.count(grey) == few.m - few.num_jumps
    many = simulate(*make_instance(1000, 40, seed=0))
    assert many.num_jumps > 10
    coloured = [c for c in colours(many) if c != grey]
    assert len(set(coloured)) == many.num_jumps  # no repeating 10-colour cycle
    figure = plot_exponents(many)
    assert any("jump number" in ax.get_ylabel() for ax in figure.axes)  # the colour bar says what colour means


def _records(tmp_path):
    from jumpprocess import make_problem

    records = []
    for n in (60, 200):
        problem = make_problem(n, seed=0)
        for m in (8, 16):
            summary = simulate_many(problem, m, 40, seed=m)
            records.append({
                "task": {"n": n, "m": m, "labels": "sign-balanced", "init": "balanced", "step_size": None},
                "sampling": summary.sampling, "n_pos": int(np.sum(problem.labels > 0)),
                "n_neg": int(np.sum(problem.labels < 0)),
                "results": {name: [None if isinstance(v, float) and v != v else v for v in summary[name].tolist()]
                            for name in ("seeds", "interpolates", "num_jumps", "first_time", "final_time",
                                         "squared_norm", "norm_ratio", "uncovered", "ambiguous",
                                         "function_determined", "num_tie_groups", "identical_ties")},
            })
    json.dumps(records)
    return records


def test_sweep_figures_have_titles_per_m_series_and_legends_of_what_differs(tmp_path, guard_backend):
    figures = sweep_figures(_records(tmp_path))
    assert set(figures) == {"interpolation.png", "norm_ratio.png", "jumps.png"}
    for name, figure in figures.items():
        ax = figure.axes[0]
        assert "labels sign-balanced, init balanced, gradient flow" in ax.get_title(), name
        labels = ax.get_legend_handles_labels()[1]
        assert not any("sign-balanced" in label for label in labels), labels  # constant: in the title only
    series = [label for label in figures["jumps.png"].axes[0].get_legend_handles_labels()[1]]
    assert series == ["m = 8", "m = 16"]  # one series per m
    interpolation = figures["interpolation.png"].axes[0].get_legend_handles_labels()[1]
    assert interpolation == ["n = 60", "n = 200"]
