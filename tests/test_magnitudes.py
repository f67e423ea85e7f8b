"""Extreme magnitudes (issue 12): the limit is covariant under scaling labels and norms
(docs/math/model.rst), so the engine computes on normalized values and scales back exactly,
or refuses with the reason; never a hang or a wrong number.

Independent check: a problem with labels ``c·y`` and norms ``b·s`` must give the jump times of
``(y, s)`` divided by ``c·b``, losses times ``c²``, squared norms times ``c/b`` and output weights
times ``√(c/b)``, with the same neurons and fitted sets (gradient descent: with step ``η/(c b)``).
"""

import math

import numpy as np
import pytest

from jumpprocess import Initialization, OrthogonalProblem, make_problem, sample_initialization, simulate, simulate_many

RTOL = 1e-12


def _base():
    problem = make_problem(24, "gaussian", seed=3, random_norms=True)
    return problem, sample_initialization(problem, 12, "balanced", seed=4)


def _scaled(problem, init, c, b):
    return (OrthogonalProblem(problem.labels * c, problem.norms * b),
            Initialization(init.preactivations * b, init.output_weights))


@pytest.mark.parametrize("c, b", [(1e154, 1.0), (2.0**500, 1.0), (1e-140, 1.0), (1e-100, 1e100), (1.0, 1e150),
                                  (1e120, 1e-120), (1.0, 1e-150), (1e60, 1e90)])
@pytest.mark.parametrize("step", [None, 0.5])
def test_scaled_problems_give_the_scaled_trajectory(c, b, step):
    problem, init = _base()
    base = simulate(problem, init, step)
    big, big_init = _scaled(problem, init, c, b)
    run = simulate(big, big_init, None if step is None else step / (c * b))
    assert run.neurons.tolist() == base.neurons.tolist()
    assert [f.tolist() for f in run.fitted] == [f.tolist() for f in base.fitted]
    np.testing.assert_allclose(run.jump_times * (c * b), base.jump_times, rtol=RTOL)
    np.testing.assert_allclose(run.plateau_losses / c**2 if c < 1e150 else run.plateau_losses / c / c,
                               base.plateau_losses, rtol=RTOL)
    assert run.squared_norm / (c / b) == pytest.approx(base.squared_norm, rel=RTOL)
    assert run.min_squared_norm / (c / b) == pytest.approx(base.min_squared_norm, rel=RTOL)
    np.testing.assert_allclose(run.output_weights / math.sqrt(c / b), base.output_weights, rtol=RTOL)
    assert run.convergence_rate / (c * b) == pytest.approx(base.convergence_rate, rel=1e-9)
    assert run.status_code == base.status_code and run.interpolates == base.interpolates


def test_sign_labels_of_1e154_run_and_are_exact():
    # ±1e154: (y s)² = 1e308 and sums of them overflowed, every time came out 0 (or hung)
    problem = make_problem(40, "sign-balanced", seed=1)
    init = sample_initialization(problem, 16, seed=2)
    base = simulate(problem, init)
    run = simulate(OrthogonalProblem(problem.labels * 1e154, problem.norms), init)
    np.testing.assert_allclose(run.jump_times * 1e154, base.jump_times, rtol=RTOL)
    assert [e.tied_with for e in run.events] == [e.tied_with for e in base.events]
    assert run.ambiguous == base.ambiguous and run.identical_ties == base.identical_ties
    # the joint escape too (default under flow): squared norms scale like the labels
    assert base.ties == run.ties == "joint" and len(run.joint) == len(base.joint) > 0
    assert run.squared_norm / 1e154 == pytest.approx(base.squared_norm, rel=1e-6)


@pytest.mark.parametrize("labels, norms, message", [
    ([1e160, -1e160, 1e160], None, "loss"),                      # loss 1e320
    ([1e-160, -1e-160, 1e-160], None, "loss"),                   # loss 1e-320: subnormal
    ([1e-200, -1e-200, 1e-200], None, "loss"),                   # loss 1e-400: zero
    ([1e300, -1.0, 1.0], None, "labels span 1 to 1e\\+300"),      # squares cannot coexist
    ([1.0, -1.0, 1.0], [1e-310, 1.0, 1.0], "data norms span"),   # a subnormal norm among ordinary ones
    ([1e200, -1e200, 1.0e200], [1e-200, 1e-200, 1e-200], "loss"),      # loss 1e400
    ([1.0, -1.0, 1.0], [1e-310, 1e-310, 1e-310], "minimal squared norm"),  # ||y/s|| = 1e310
    ([1e-150, -1e-150, 1e-150], [1e-170, 1e-170, 1e-170], "jump 1 happens at"),  # λ ~ 1e-320: τ ~ 1e320
])
def test_what_cannot_be_represented_is_refused_with_the_reason(labels, norms, message):
    problem = OrthogonalProblem(labels, norms)
    init = Initialization(np.ones((2, 3)) * problem.norms, [2.0 * np.linalg.norm(np.ones(3)), -3.0])
    with pytest.raises(ValueError, match=message):
        simulate(problem, init)
    with pytest.raises(ValueError, match=message):
        simulate_many(problem, 2, 3, seed=0)


def test_gradient_descent_with_huge_labels_says_why_quickly():
    # labels of 1e300: the loss is 1e600 (refused at once, not "step_size too small" after seconds)
    problem = OrthogonalProblem([1e300, -1e300, 1e300])
    init = sample_initialization(make_problem(3), 4, seed=0)
    with pytest.raises(ValueError, match="loss") as error:
        simulate(problem, init, 0.5)
    assert "too small" not in str(error.value)
    # representable labels and an absurd step (η λ ~ 1e100): computed, and flagged as unstable
    run = simulate(OrthogonalProblem([1e100, -1e100, 1e100]), init, 1.0)
    assert run.status.startswith("unstable step") and run.unstable_jumps.size


@pytest.mark.parametrize("c", [1e154, 1e-140, 2.0**500])
@pytest.mark.parametrize("backend", ["numba", "numpy"])
@pytest.mark.parametrize("sampling", ["pattern", "weights"])
def test_simulate_many_is_covariant_too(c, backend, sampling):
    problem = make_problem(30, "gaussian", seed=5, random_norms=True)
    base = simulate_many(problem, 10, 40, seed=1, sampling=sampling, backend=backend)
    run = simulate_many(OrthogonalProblem(problem.labels * c, problem.norms), 10, 40, seed=1, sampling=sampling,
                        backend=backend)
    np.testing.assert_array_equal(run["num_jumps"], base["num_jumps"])
    np.testing.assert_array_equal(run["interpolates"], base["interpolates"])
    np.testing.assert_allclose(run["first_time"] * c, base["first_time"], rtol=RTOL)
    np.testing.assert_allclose(run["final_time"] * c, base["final_time"], rtol=RTOL)
    np.testing.assert_allclose(run["squared_norm"] / c, base["squared_norm"], rtol=RTOL)
    np.testing.assert_allclose(run["norm_ratio"], base["norm_ratio"], rtol=RTOL)
    assert run.min_squared_norm / c == pytest.approx(base.min_squared_norm, rel=RTOL)


@pytest.mark.parametrize("scale", [1e-200, 1e-100, 1e100, 1e200])
def test_inputs_of_extreme_norm_give_a_network_that_fits_its_samples(scale):
    # independent of the engine's formulas: the final network, built in input space from
    # input_weights_at, must output y_i on every fitted sample x_i
    rng = np.random.default_rng(2)
    X = np.diag(rng.uniform(0.5, 2.0, 6)) * scale
    labels = np.array([1.0, -2.0, 0.5, 1.5, -1.0, 0.7])
    problem = OrthogonalProblem.from_inputs(X, labels)
    traj = simulate(problem, sample_initialization(problem, 30, seed=3))
    assert traj.interpolates
    W = traj.input_weights_at(np.inf)
    a, _ = traj.parameters_at(np.inf)
    output = np.maximum(X @ W.T, 0.0) @ a
    np.testing.assert_allclose(output, labels, rtol=1e-12)
