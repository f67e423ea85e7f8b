"""compare_log, saved logs and the compare-log command, on runs trained here by plain numpy.

The logged runs are produced by a direct float64 gradient-descent loop written below in the
user's convention (κ, c, no library code), so the comparison is checked against an
independent training run, not against the library's own output.
"""

import json
import math

import numpy as np
import pytest

import jumpprocess as jp
from jumpprocess.cli import main
from jumpprocess.finite.reference import coordinate_inputs
from jumpprocess.interop.logged_run import (
    TrainingLog,
    compare_log,
    load_training_log,
    observed_half_fit,
    save_training_log,
)

N, D, M = 6, 8, 5
SIGMA = 1e-30


def _user_gd(a, W, X, y, kappa, c, lr, steps):
    """f = κ Σ a_j relu(<w_j, x>), L = c/(2n) Σ r², θ ← θ − lr ∇L: the user's own loop."""
    a, W = a.copy(), W.copy()
    n = X.shape[0]
    losses, outputs = [], []
    for _ in range(steps + 1):
        U = W @ X.T
        hidden = np.maximum(U, 0.0)
        f = kappa * a @ hidden
        r = f - y
        losses.append(c * r @ r / (2 * n))
        outputs.append(f)
        g_a = c * kappa * hidden @ r / n
        g_W = c * kappa * ((U > 0) * (a[:, None] * r[None, :])) @ X / n
        a -= lr * g_a
        W -= lr * g_W
    return np.array(losses), np.array(outputs)


@pytest.fixture(scope="module")
def instance():
    rng = np.random.default_rng(7)
    X = coordinate_inputs(rng.uniform(0.5, 2.0, N), D, rng)
    y = rng.choice([-1.0, 1.0], N) * rng.uniform(0.5, 1.5, N)
    W = SIGMA * rng.standard_normal((M, D)) / math.sqrt(D)
    a = SIGMA * np.where(rng.random(M) < 0.5, -1.0, 1.0) * (np.linalg.norm(W, axis=1) / SIGMA + rng.exponential(1.0, M))
    convention = jp.Convention("half-sum", "1/sqrt(m)")          # c = n, κ = 1/√m
    kappa, c = 1 / math.sqrt(M), float(N)
    lr = 0.3 / (c * kappa)                                         # canonical step η' = 0.3
    imported = jp.interop.from_parameters(a, W, X, y, sigma=SIGMA, convention=convention, lr=lr)
    limit = imported.limit()
    steps = int(1.3 * limit.jump_steps[-1]) + 50
    losses, outputs = _user_gd(a, W, X, y, kappa, c, lr, steps)
    return dict(X=X, y=y, a=a, W=W, lr=lr, imported=imported, losses=losses, outputs=outputs, steps=steps,
                kappa=kappa, c=c)


def _log(instance, outputs=True):
    steps = np.arange(instance["steps"] + 1)
    return TrainingLog(instance["losses"], steps=steps, outputs=instance["outputs"] if outputs else None)


def test_the_logged_run_agrees_with_the_limit_in_user_units(instance):
    result = compare_log(instance["imported"], _log(instance), finite=False)
    assert result.agrees_with_limit, result.limit_verdict
    assert result.agrees_with_finite is None and "finite=False" in result.finite_verdict
    limit = instance["imported"].limit()
    assert len(result.jumps) == len(limit.fitted) >= 2
    # plateau losses in the user's loss: c/(2n) Σ of the unfitted y², straight from the labels
    y, c = instance["y"], instance["c"]
    remaining = np.ones(N, dtype=bool)
    for row in result.jumps:
        remaining[row.fitted] = False
        assert row.plateau_limit == pytest.approx(c * np.sum(y[remaining] ** 2) / (2 * N), rel=1e-12)
        assert abs(row.plateau_observed - row.plateau_limit) <= 1e-2 * result.details["initial_loss"]
    # the log half-fits exactly the limit's samples, in the limit's order
    half = result.observed_half_fit
    assert set(np.flatnonzero(np.isfinite(half))) == set(np.concatenate(limit.fitted).tolist())
    medians = [np.median(half[row.fitted]) for row in result.jumps]
    assert medians == sorted(medians)
    text = result.table()
    assert "plateau" in text and len(text.splitlines()) == len(result.jumps) + 1
    json.dumps(result.to_dict(), allow_nan=False)


def test_a_log_out_of_order_or_with_extra_fits_is_flagged(instance):
    result = compare_log(instance["imported"], _log(instance), finite=False)
    first, second = result.jumps[0].fitted[0], result.jumps[-1].fitted[0]
    outputs = instance["outputs"].copy()
    outputs[:, [first, second]] = outputs[:, [second, first]] * (instance["y"][[first, second]] /
                                                                  instance["y"][[second, first]])
    swapped = TrainingLog(instance["losses"], steps=np.arange(instance["steps"] + 1), outputs=outputs)
    bad = compare_log(instance["imported"], swapped, finite=False)
    assert not bad.agrees_with_limit and "order" in bad.limit_verdict


def test_without_outputs_only_plateaus_are_compared(instance):
    result = compare_log(instance["imported"], _log(instance, outputs=False), finite=False)
    assert result.agrees_with_limit and "not checked (no outputs" in result.limit_verdict
    assert result.observed_half_fit is None


def test_wrong_plateaus_are_flagged(instance):
    losses = instance["losses"].copy()
    losses[len(losses) // 2:] *= 1.5
    bad = TrainingLog(losses, steps=np.arange(instance["steps"] + 1))
    result = compare_log(instance["imported"], bad, finite=False)
    assert not result.agrees_with_limit and "plateau" in result.limit_verdict


class _FakeFiniteRun:
    """A run honouring the simulate_finite contract: times in canonical t', loss_at(t')."""

    def __init__(self, half_fit_times, times, losses, neurons, fitted):
        self.half_fit_times = half_fit_times
        self._times, self._losses = times, losses
        self.neurons, self.fitted = neurons, fitted

    def loss_at(self, t):
        return np.interp(t, self._times, self._losses)

    def parameters_at(self, t):  # pragma: no cover - not used by compare_log
        raise NotImplementedError


@pytest.mark.parametrize("shift", [0.0, 0.6, 3.0])
def test_the_finite_run_comparison_counts_steps(instance, monkeypatch, shift):
    imported = instance["imported"]
    log = _log(instance)
    half = observed_half_fit(log, instance["y"])
    eta = imported.step_size
    c = instance["c"]
    steps = np.arange(instance["steps"] + 1)

    def fake(problem, init, sigma, *, step_size=None, **options):
        assert sigma == SIGMA and step_size == eta and problem is imported.problem
        limit = imported.limit()
        return _FakeFiniteRun((half + shift) * eta, steps * eta, instance["losses"] / c, limit.neurons, limit.fitted)

    monkeypatch.setattr(jp, "simulate_finite", fake, raising=False)
    result = compare_log(imported, log, finite=True)
    assert result.details["finite_loss_curve_error"] < 1e-12
    if shift <= 1.0:
        assert result.agrees_with_finite, result.finite_verdict
        assert result.details["finite_half_fit_max_difference"] == pytest.approx(shift)
    else:
        assert not result.agrees_with_finite and "differ by more than 1" in result.finite_verdict


@pytest.mark.parametrize("suffix", [".json", ".npz"])
def test_saved_logs_round_trip_and_the_command_compares_them(instance, tmp_path, suffix, capsys):
    path = tmp_path / f"run{suffix}"
    save_training_log(path, inputs=instance["X"], labels=instance["y"][:, None], hidden_weight=instance["W"],
                      output_weight=instance["a"][None, :], losses=instance["losses"], loss="half-sum",
                      output_scale="1/sqrt(m)", lr=instance["lr"], sigma=SIGMA,
                      steps=np.arange(instance["steps"] + 1), outputs=instance["outputs"])
    imported, log = load_training_log(path)
    reference = instance["imported"]
    np.testing.assert_array_equal(imported.init.preactivations, reference.init.preactivations)
    assert imported.step_size == reference.step_size and imported.sigma == SIGMA
    np.testing.assert_array_equal(log.outputs, instance["outputs"])
    out_json, out_png = tmp_path / "cmp.json", tmp_path / "cmp.png"
    code = main(["compare-log", str(path), "--no-finite", "--json", str(out_json), "--plot", str(out_png)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "limit: agrees" in printed and out_png.stat().st_size > 10_000
    assert json.loads(out_json.read_text())["verdict"]["agrees_with_limit"] is True


def test_bad_log_files_exit_2_with_a_message(tmp_path, capsys):
    missing = tmp_path / "nothing.json"
    assert main(["compare-log", str(missing)]) == 2
    incomplete = tmp_path / "incomplete.json"
    incomplete.write_text(json.dumps({"inputs": [[1.0, 0.0]], "labels": [1.0], "losses": [1.0], "steps": [0]}))
    assert main(["compare-log", str(incomplete)]) == 2
    assert "lacks the required key(s) hidden_weight, output_weight" in capsys.readouterr().err
    no_lr = tmp_path / "no_lr.json"
    no_lr.write_text(json.dumps({"inputs": [[1.0, 0.0], [0.0, 1.0]], "labels": [1.0, -1.0],
                                 "hidden_weight": [[1e-3, 2e-3]], "output_weight": [2e-3],
                                 "losses": [1.0], "steps": [0]}))
    assert main(["compare-log", str(no_lr)]) == 2
    assert "needs the learning rate" in capsys.readouterr().err


def test_compare_log_help_documents_the_file_format(capsys):
    assert main(["compare-log", "--help"]) == 0
    text = capsys.readouterr().out
    for key in ("inputs", "labels", "hidden_weight", "hidden_bias", "output_weight", "loss", "output_scale",
                "lr", "sigma", "steps | times", "losses", "outputs"):
        assert key in text


@pytest.mark.parametrize("kwargs, message", [
    (dict(losses=[1.0, 0.5]), "exactly one of steps"),
    (dict(losses=[1.0, 0.5], steps=[0, 1], times=[0.0, 1.0]), "exactly one of steps"),
    (dict(losses=[1.0, 0.5], steps=[1, 0]), "non-decreasing"),
    (dict(losses=[1.0, 0.5], steps=[0, 1.5]), "whole numbers"),
    (dict(losses=[1.0, 0.5], steps=[0, 1], outputs=np.zeros((3, 2))), r"shape \(T = 2, n\)"),
    (dict(losses=[], steps=[]), "empty"),
])
def test_training_log_checks_its_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TrainingLog(**kwargs)


def test_a_log_in_times_is_compared_with_the_flow_limit(instance, tmp_path):
    # the same run logged in user time t = k·lr and imported without lr: the gradient-flow limit
    flow = jp.interop.from_parameters(instance["a"], instance["W"], instance["X"], instance["y"], sigma=SIGMA,
                                      convention=jp.Convention("half-sum", "1/sqrt(m)"))
    assert flow.step_size is None
    times = np.arange(instance["steps"] + 1) * instance["lr"]
    log = TrainingLog(instance["losses"], times=times, outputs=instance["outputs"])
    result = compare_log(flow, log, finite=False)
    assert result.log.axis_name == "time" and result.agrees_with_limit, result.limit_verdict
    assert result.limit.trajectory.step_size is None
    result.plot(tmp_path / "flow.png")
    assert (tmp_path / "flow.png").stat().st_size > 10_000


def test_plot_returns_its_figure_takes_ax_and_leaves_the_backend(instance, tmp_path):
    import matplotlib

    flow = jp.interop.from_parameters(instance["a"], instance["W"], instance["X"], instance["y"], sigma=SIGMA,
                                      convention=jp.Convention("half-sum", "1/sqrt(m)"))
    times = np.arange(instance["steps"] + 1) * instance["lr"]
    result = compare_log(flow, TrainingLog(instance["losses"], times=times, outputs=instance["outputs"]), finite=False)
    backend = matplotlib.get_backend()
    figure = result.plot()
    assert len(figure.axes) == 2 and matplotlib.get_backend() == backend
    from matplotlib.figure import Figure

    mine = Figure()
    ax = mine.subplots()
    assert result.plot(ax=ax) is mine and ax.lines
