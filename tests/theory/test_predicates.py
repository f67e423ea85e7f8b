"""Theorems as predicates, checked on thousands of generated problems and initializations.

Every property test asserts ``check.holds`` and shows the witness on failure; the tests at
the end feed each predicate a deliberately wrong trajectory or engine and require it to
say so, with a witness, so that none of them can pass vacuously.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from theory_strategies import CONTINUOUS_LABEL_KINDS, problem_and_init, problems

from jumpprocess import Initialization, OrthogonalProblem, random_orthogonal_inputs, simulate
from theory import predicates as P


def _holds(check):
    assert check.holds, str(check)
    assert check.witness is None and bool(check)


@settings(max_examples=300)
@given(problem_and_init())
def test_saddles_are_critical_points(instance):
    problem, init = instance
    _holds(P.saddles_are_critical_points(simulate(problem, init, ties="index")))


@settings(max_examples=150)
@given(problems(max_n=10), st.integers(0, 2**32 - 1), st.integers(0, 3), st.integers(0, 24))
def test_saddles_are_critical_points_with_real_random_orthogonal_inputs(problem, seed, extra_dims, m):
    rng = np.random.default_rng(seed)
    X = random_orthogonal_inputs(problem.n, problem.n + extra_dims, rng, norms=problem.norms)
    real = OrthogonalProblem.from_inputs(X, problem.labels)
    W = rng.standard_normal((m, X.shape[1])) / np.sqrt(X.shape[1])
    a = np.where(rng.random(m) < 0.5, 1.0, -1.0) * np.linalg.norm(W, axis=1)
    init = Initialization(W @ X.T, a)
    _holds(P.saddles_are_critical_points(simulate(real, init, ties="index")))


@settings(max_examples=300)
@given(problem_and_init(label_kinds=CONTINUOUS_LABEL_KINDS, init_kinds=("balanced", "output-dominated", "gaussian")))
def test_one_new_neuron_per_jump_for_continuous_labels(instance):
    """(Mixed-scale labels produce rate differences below float64 resolution: reported ties.)"""
    problem, init = instance
    _holds(P.one_neuron_per_jump(simulate(problem, init, ties="index")))


@settings(max_examples=300)
@given(problem_and_init())
def test_plateau_losses_strictly_decrease(instance):
    problem, init = instance
    _holds(P.plateau_losses_strictly_decrease(simulate(problem, init, ties="index")))


@settings(max_examples=300)
@given(problem_and_init())
def test_interpolation_iff_coverage(instance):
    problem, init = instance
    _holds(P.interpolation_iff_coverage(simulate(problem, init, ties="index"), init))


@settings(max_examples=300)
@given(problem_and_init())
def test_squared_norm_is_the_sum_of_closed_forms_and_at_least_minimal(instance):
    problem, init = instance
    _holds(P.squared_norm_matches_closed_forms(simulate(problem, init, ties="index")))


@settings(max_examples=200)
@given(problem_and_init(), st.sampled_from([1e-3, 0.37, 3.0, 1e3]))
def test_scaling_laws_gradient_flow(instance, factor):
    problem, init = instance
    _holds(P.scaling_laws(problem, init, factor))


@settings(max_examples=60)
@given(problem_and_init(max_m=16, label_kinds=("sign", "continuous", "with-zeros"), norm_kinds=("unit", "uniform"),
                        init_kinds=("balanced", "gaussian")),
       st.sampled_from([0.25, 4.0]), st.sampled_from([0.05, 0.5, 2.0]))
def test_scaling_laws_gradient_descent(instance, factor, relative_step):
    """(No mixed-scale labels: with η tuned to the largest rate, a neuron that must lose a
    1e-4 label takes ~1e7 alignment steps and the engine stops with a RuntimeError.)"""
    problem, init = instance
    rates = simulate(problem, init, ties="index").rates
    step = relative_step / float(rates.max()) if rates.size and rates.max() > 0 else relative_step
    _holds(P.scaling_laws(problem, init, factor, step_size=step))


@settings(max_examples=300)
@given(problem_and_init(), st.data())
def test_equivariance_under_permuting_samples_and_neurons(instance, data):
    problem, init = instance
    sample_permutation = data.draw(st.permutations(range(problem.n)))
    neuron_permutation = data.draw(st.permutations(range(init.m)))
    _holds(P.equivariance(problem, init, sample_permutation, neuron_permutation))


@settings(max_examples=60)
@given(problem_and_init(max_n=10, max_m=12, label_kinds=("continuous", "sign"), norm_kinds=("unit", "uniform"),
                        init_kinds=("balanced", "output-dominated")))
def test_gradient_descent_races_converge_to_the_flow_race(instance):
    problem, init = instance
    rates = simulate(problem, init, ties="index").rates
    lam = float(rates.max()) if rates.size and rates.max() > 0 else 1.0
    _holds(P.gradient_descent_converges_to_flow(problem, init, (0.1 / lam, 0.01 / lam, 0.002 / lam)))


def test_gradient_descent_time_error_shrinks_linearly_with_the_step():
    problem = OrthogonalProblem([1.0, 2.0, -1.5, 0.5])
    init = Initialization([[1.0, 1.0, -1.0, 1.0], [-1.0, -1.0, 1.0, -1.0]], [3.0, -3.0])
    flow = simulate(problem, init, ties="index")
    errors = [np.max(np.abs(simulate(problem, init, eta, ties="index").jump_times - flow.jump_times)) for eta in (1e-2, 1e-3, 1e-4)]
    assert errors[0] > errors[1] > errors[2] > 0
    assert 8 < errors[0] / errors[1] < 12 and 8 < errors[1] / errors[2] < 12  # first order in η
    _holds(P.gradient_descent_converges_to_flow(problem, init))


# ------------------------------------------------------------- the predicates can fail


def _example():
    problem = OrthogonalProblem([1.0, 2.0, -1.5, 0.5], [1.0, 0.5, 2.0, 1.0])
    init = Initialization([[1.0, 1.0, -1.0, -1.0], [-1.0, -1.0, 1.0, -1.0], [0.5, -1.0, -1.0, 1.0]], [3.0, -3.0, 2.0])
    return problem, init, simulate(problem, init, ties="index")


def _tampered(traj, **values):
    """A copy of ``traj`` whose cached properties are overridden (the engine is not touched)."""
    copy = simulate(traj.problem, _example()[1], ties="index")
    copy.__dict__.update(values)
    return copy


def _fails(check, key):
    assert not check.holds and not bool(check)
    assert check.witness is not None and key in check.witness, str(check)
    assert "FAILS" in str(check)


def test_the_example_satisfies_everything():
    problem, init, traj = _example()
    assert traj.num_jumps == 3 and traj.interpolates
    for check in (P.saddles_are_critical_points(traj), P.one_neuron_per_jump(traj), P.plateau_losses_strictly_decrease(traj),
                  P.interpolation_iff_coverage(traj, init), P.squared_norm_matches_closed_forms(traj)):
        _holds(check)


class _WrongSaddles:
    """A trajectory whose saddles have their output weights off by 1% (U left as is)."""

    def __init__(self, traj):
        self._traj = traj

    def __getattr__(self, name):
        return getattr(self._traj, name)

    def parameters_at(self, tau, side="right"):
        a, U = self._traj.parameters_at(tau, side)
        return a * 1.01, U


def test_wrong_saddle_is_not_a_critical_point():
    _, _, traj = _example()
    # (a·c, U/c) is still critical (the ReLU rescaling symmetry); a·c with U fixed is not.
    _fails(P.saddles_are_critical_points(_WrongSaddles(traj)), "gradient_norm")


def test_wrong_plateau_loss_is_caught():
    _, _, traj = _example()
    losses = traj.plateau_losses.copy()
    losses[1] *= 1 + 1e-9
    _fails(P.plateau_losses_strictly_decrease(_tampered(traj, plateau_losses=losses)), "relative_error")


def test_wrong_squared_norm_is_caught():
    _, _, traj = _example()
    _fails(P.squared_norm_matches_closed_forms(_tampered(traj, squared_norm=traj.squared_norm * (1 + 1e-9))), "quantity")


def test_wrong_interpolation_verdict_is_caught():
    _, init, traj = _example()
    _fails(P.interpolation_iff_coverage(_tampered(traj, interpolates=False), init), "coverage")


def test_unreported_simultaneous_activations_are_caught():
    problem = OrthogonalProblem([1.0, -1.0])  # ±1 labels: a disjoint exact tie, reported
    traj = simulate(problem, Initialization([[1.0, -1.0], [-1.0, 1.0]], [2.0, -2.0]), ties="index")
    assert traj.jump_times[0] == traj.jump_times[1]
    _holds(P.one_neuron_per_jump(traj))
    silent = tuple(dataclasses.replace(event, tied_with=()) for event in traj.events)
    _fails(P.one_neuron_per_jump(dataclasses.replace(traj, events=silent)), "problem")
    twice = (traj.events[0], dataclasses.replace(traj.events[0], time=traj.events[0].time * 2, tied_with=()))
    _fails(P.one_neuron_per_jump(dataclasses.replace(traj, events=twice)), "problem")


def _engine_ignoring(what):
    original = _example()[0]

    def fake(problem, init, step_size=None):
        if what == "scaling":
            return simulate(original, _example()[1], step_size, ties="index")
        if what == "step":
            return simulate(problem, init, None if step_size is None else step_size * 50, ties="index")
        return simulate(original, _example()[1], step_size, ties="index")  # ignores permutations

    return fake


def test_scaling_predicate_catches_an_engine_that_ignores_scaling():
    problem, init, _ = _example()
    _fails(P.scaling_laws(problem, init, 2.0, simulate=_engine_ignoring("scaling")), "scaled")


def test_equivariance_predicate_catches_an_engine_that_ignores_permutations():
    problem, init, _ = _example()
    _fails(P.equivariance(problem, init, [1, 0, 3, 2], [2, 0, 1], simulate=_engine_ignoring("permutation")), "signs")


def test_convergence_predicate_catches_a_wrong_step_size():
    problem, init, _ = _example()
    _fails(P.gradient_descent_converges_to_flow(problem, init, simulate=_engine_ignoring("step")), "step_size")


def test_bad_arguments_raise():
    problem, init, _ = _example()
    with pytest.raises(ValueError, match="factor"):
        P.scaling_laws(problem, init, -1.0)
    with pytest.raises(ValueError, match="sample_permutation"):
        P.equivariance(problem, init, [0, 0, 1, 2], [0, 1, 2])
    with pytest.raises(ValueError, match="neuron_permutation"):
        P.equivariance(problem, init, [0, 1, 2, 3], [0, 1])
    with pytest.raises(ValueError, match="decreasing"):
        P.gradient_descent_converges_to_flow(problem, init, (1e-3, 1e-2))


# ------------------------------------------------ engine precision (found by the above)


def test_engine_plateau_losses_are_relatively_accurate_for_mixed_magnitudes():
    """Counter-example found by test_plateau_losses_strictly_decrease: the engine forms each
    plateau loss as total − (fitted so far), which loses the small remaining labels (here
    a relative error of 7.6e-6; with y = 1e-6 instead of 1e-3 it would be 100%)."""
    problem = OrthogonalProblem([1000.0, 1e-3, -1e-3])
    traj = simulate(problem, Initialization([[1.0, 1.0, -1.0], [-1.0, -1.0, 1.0]], [3.0, -3.0]), ties="index")
    assert [list(f) for f in traj.fitted] == [[0, 1], [2]]
    _holds(P.plateau_losses_strictly_decrease(traj))


def test_engine_race_rates_are_relatively_accurate_for_mixed_magnitudes():
    """Counter-example found by test_equivariance_...: neuron 1's rate after the first jump
    is sqrt((y_0² + y_2²) − y_0²)/n, computed by subtraction; y_2 = 1e-6 next to y_0 = 1000
    makes it 0 and the jump happens at τ = inf instead of about 3.2e5 (with y_2 = 1e-5 the
    time is 7% early).

    Exact race (docs/math/race.rst), n = 3: neuron 0 (G = {0, 1}) jumps at τ₀ = n / ||(y_0, y_1)||;
    neuron 1 (G = {0, 2}) then has exponent −1 + τ₀ ||(y_0, y_2)|| / n and rate |y_2| / n."""
    y = np.array([1000.0, 500.0, 1e-6])
    problem = OrthogonalProblem(y)
    traj = simulate(problem, Initialization([[1.0, 1.0, -1.0], [1.0, -1.0, 1.0]], [3.0, 3.0]), ties="index")
    tau0 = 3 / np.hypot(y[0], y[1])
    exponent = -1 + tau0 * np.hypot(y[0], y[2]) / 3
    expected = tau0 + (0 - exponent) / (y[2] / 3)
    assert traj.neurons.tolist() == [0, 1]
    assert traj.jump_times[0] == pytest.approx(tau0, rel=1e-14)
    assert traj.jump_times[1] == pytest.approx(expected, rel=1e-9)


def test_time_comparisons_allow_the_rounding_of_ill_conditioned_jump_times():
    # The stored hypothesis witness (labels from 1e-3 to 1e3): neuron 22 ran at rate 3.6e5 for
    # τ = 2.76e-6, then at 0.077 until its jump at 2.93e-6. Its time is the O(1) path divided
    # by the small rate, so it carries ~1e7 ε of rounding: a scaled copy differed by 1.5e-9
    # relative. A neuron whose rate never changed gets a few ε, below any rtol used.
    from types import SimpleNamespace

    events = [SimpleNamespace(neuron=7), SimpleNamespace(neuron=22)]
    rates = np.zeros((2, 23))
    rates[:, 7] = 3.0e5
    rates[:, 22] = (3.62528e5, 0.0771357)
    traj = SimpleNamespace(events=events, jump_times=np.array([2.76e-6, 2.9319060e-6]), rates=rates)
    slack = P._time_conditioning(traj)
    eps = np.finfo(float).eps
    path = 3.62528e5 * 2.76e-6 + 0.0771357 * (2.9319060e-6 - 2.76e-6)
    assert slack[22] == pytest.approx(8 * 3 * eps * path / (0.0771357 * 2.9319060e-6))
    assert 1.5e-9 < slack[22] < 1e-7
    assert slack[7] == pytest.approx(8 * 2 * eps)
