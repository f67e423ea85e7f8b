"""Early alignment (docs/math/alignment.rst): the fast engine against the literal reference."""

import numpy as np
import pytest
from hypothesis import given, strategies as st

from jumpprocess import Initialization, OrthogonalProblem, align, make_problem, sample_initialization
from reference_impl import descent_alignment, flow_alignment
from strategies import initializations, problems


@given(st.data())
def test_flow_alignment_matches_event_driven_reference(data):
    problem = data.draw(problems(labels="gaussian"))
    init = data.draw(initializations(problem, kind="gaussian"))
    out = align(problem, init)
    for j in range(init.m):
        sign, good = flow_alignment(init.output_weights[j], init.preactivations[j], problem.labels, problem.norms)
        assert out.signs[j] == sign
        np.testing.assert_array_equal(out.good_sets[j], good)


@given(st.data())
def test_sign_stable_shortcut_agrees_with_exact_flow(data):
    """The shortcut (sgn = sign(ā), G = {Ū > 0, sgn y > 0}) is what the exact path gives."""
    problem = data.draw(problems())
    init = data.draw(initializations(problem, kind="balanced"))
    out = align(problem, init)
    assert out.sign_stable.all()
    for j in range(init.m):
        sign, good = flow_alignment(init.output_weights[j], init.preactivations[j], problem.labels, problem.norms)
        if good.any() or out.good_sets[j].any():
            assert out.signs[j] == sign
        np.testing.assert_array_equal(out.good_sets[j], good)


@given(st.data(), st.sampled_from([0.05, 0.5, 2.0, 8.0]))
def test_descent_alignment_matches_iterated_map(data, eta):
    problem = data.draw(problems(labels="gaussian", max_n=8))
    init = data.draw(initializations(problem, max_m=5))
    out = align(problem, init, step_size=eta)
    for j in range(init.m):
        sign, good = descent_alignment(init.output_weights[j], init.preactivations[j], problem.labels, problem.norms, eta)
        np.testing.assert_array_equal(out.good_sets[j], good)
        if good.any():
            assert out.signs[j] == sign


def test_good_sets_respect_sign_and_activity():
    problem = make_problem(300, "gaussian", seed=3, random_norms=True)
    for kind in ("balanced", "output-dominated", "gaussian"):
        init = sample_initialization(problem, 20, kind, seed=4)
        out = align(problem, init)
        signed = out.signs[:, None] * problem.labels[None, :]
        assert not np.any(out.good_sets & (signed <= 0))
        assert not np.any(out.good_sets & (init.preactivations <= 0))  # never re-activates


def test_large_step_flips_a_balanced_neuron():
    """docs/math/alignment.rst, gradient descent: under gradient descent a balanced neuron can change sign.

    A positive balanced neuron active only on negative labels: under gradient flow it
    keeps its sign and has an empty good set; with η = 1 (η λ ≈ 1.2) the first step
    overshoots, a becomes negative and the neuron keeps sample 3 (found by search with
    the literal iterated map, which is also checked here)."""
    problem = OrthogonalProblem([-1.5, 1.5, -1.8, -0.5])
    U = np.array([[-0.14, -0.02, 0.95, 0.55]])
    init = Initialization(U, [np.linalg.norm(U)])
    flow = align(problem, init)
    assert flow.signs[0] == 1 and not flow.good_sets.any()
    flipped = align(problem, init, step_size=1.0)
    ref_sign, ref_good = descent_alignment(init.output_weights[0], U[0], problem.labels, problem.norms, 1.0)
    assert flipped.signs[0] == ref_sign == -1
    assert flipped.good_sets[0].tolist() == ref_good.tolist() == [False, False, False, True]


def test_a_neuron_that_turns_fits_the_other_sign():
    """Gradient flow with ā small against a large opposing drive: a turns once (module notes)."""
    problem = OrthogonalProblem([1.0, -1.0])
    init = Initialization([[0.05, 1.0]], [0.1])  # C = 0.01 - 1.0025 < 0; drive q = 0.05 - 1 < 0
    out = align(problem, init)
    sign, good = flow_alignment(0.1, np.array([0.05, 1.0]), problem.labels, problem.norms)
    assert out.signs[0] == sign == -1
    assert out.good_sets[0].tolist() == good.tolist() == [False, True]


def test_zero_labels_and_dead_neurons():
    problem = OrthogonalProblem([0.0, 1.0, 0.0])
    init = Initialization([[1.0, -1.0, 1.0], [0.0, 0.0, 0.0]], [0.5, 0.0])
    out = align(problem, init)
    assert not out.good_sets.any()
    assert out.signs[1] == 0


def test_bad_step_size_and_mismatch_raise():
    problem = make_problem(4)
    init = sample_initialization(problem, 2)
    for bad in (0.0, -1.0, float("nan"), float("inf"), "0.1", True):
        with pytest.raises(ValueError, match="step_size"):
            align(problem, init, step_size=bad)
    with pytest.raises(ValueError, match="n = 5"):
        align(make_problem(5), init)


@pytest.mark.parametrize("eta", [0.01, 0.7, 3.0])
def test_descent_loops_numpy_and_compiled_are_bit_identical(eta, monkeypatch):
    """The numba kernel and the numpy loop perform the same IEEE operations (module notes),
    so the compiled loop can take over from the numpy one mid-way with the same result."""
    from jumpprocess.limit import alignment

    problem = make_problem(300, "gaussian", seed=12, random_norms=True)
    init = sample_initialization(problem, 16, "gaussian", seed=13)

    def outcome(loop):
        signs = np.zeros(init.m, dtype=np.int8)
        good = np.zeros((init.m, problem.n), dtype=bool)
        alignment._descent_outcomes(problem, init, eta, signs, good, loop=loop)
        return signs, good

    plain, compiled = outcome("numpy"), outcome("compiled")
    monkeypatch.setattr(alignment, "_NUMPY_CHUNK", 7)  # hand over after 7 numpy steps
    monkeypatch.setattr(alignment, "_NUMPY_FIRST_SECONDS", 0.0)
    monkeypatch.setattr(alignment.compiled_kernels, "is_loaded", lambda name: False)
    handed_over = outcome("auto")
    for signs, good in (compiled, handed_over):
        np.testing.assert_array_equal(signs, plain[0])
        np.testing.assert_array_equal(good, plain[1])


# Counter-examples found by an independent review (exact answers from mpmath at 80 digits
# of the event-driven procedure of docs/math/alignment.rst on the exact float inputs, and direct integration of
# the m × n system at small σ). Each broke an earlier, rounding-sensitive version.
@pytest.mark.parametrize(
    "labels, norms, U, a0, sign, good",
    [
        pytest.param([1, -1], None, [0.5, 1.0], 1e-9, -1, [1], id="tiny-a0-turns"),
        pytest.param([-1, -1], None, [1.8873284742182985, 7.63399798811112e-17], 1.714747259958027e-08, -1, [0],
                     id="cancellation-turn-after-death"),
        pytest.param([-1, -1], None, [3.930992842365699, 7.861985684731397], 7.861985684731397, -1, [0, 1],
                     id="turn-within-rounding-of-a-death"),
        pytest.param([-1, -1], None, [1.0, 2.0**-27], 1.0, -1, [0], id="C-is-minus-2^-54"),
        pytest.param([-1], [3.0], [1.0], 1 / 3, -1, [0], id="C-negative-by-rounding-of-one-third"),
        pytest.param([-1, -1], None, [0.6697622424138441, 0.047730061058076194], 0.6714608105405918, 1, [],
                     id="C-positive-1e-17-no-turn"),
        pytest.param([-1], None, [2e-170], 1e-170, -1, [0], id="underflow-scale"),
        pytest.param([-1], None, [2e200], 1e200, -1, [0], id="overflow-scale"),
        pytest.param([-1, -1], None, [0.75, 1.5], 1.5, -1, [1], id="turn-exactly-at-a-death-kills-it"),
    ],
)
def test_flow_alignment_is_exact_near_degenerate_inputs(labels, norms, U, a0, sign, good):
    problem = OrthogonalProblem(labels, norms)
    out = align(problem, Initialization([U], [a0]))
    assert int(out.signs[0]) == sign
    assert np.flatnonzero(out.good_sets[0]).tolist() == good


def test_balanced_sampler_is_sign_stable_exactly():
    """Rounded ā = ±||w̄|| fell on either side of C = 0, where the limit is discontinuous:
    with y = (−1, −1) some neurons 'turned' and fitted samples the sign-stable law of docs/math/alignment.rst says they cannot."""
    problem = OrthogonalProblem([-1.0, -1.0])
    for seed in range(300):
        init = sample_initialization(problem, 2, "balanced", seed=seed)
        out = align(problem, init)
        assert out.sign_stable.all()
        np.testing.assert_array_equal(out.good_sets, (init.preactivations > 0) & (np.sign(init.output_weights)[:, None] < 0))


def test_gradient_descent_neuron_without_drive_is_dead_and_tiny_steps_are_refused():
    problem = OrthogonalProblem([1.0, -1.0])
    out = align(problem, Initialization([[1.0, 1.0]], [0.0]), step_size=0.1)  # a = 0, q = 1 - 1 = 0
    assert out.signs[0] == 0 and not out.good_sets.any()
    from jumpprocess.limit import alignment

    problem = make_problem(20, "gaussian", seed=1)
    init = sample_initialization(problem, 8, "gaussian", seed=2)
    limit = alignment.MAX_ALIGNMENT_STEPS
    alignment.MAX_ALIGNMENT_STEPS = 1000
    try:
        with pytest.raises(ValueError, match="too small for the exact gradient-descent alignment"):
            align(problem, init, step_size=1e-6)
    finally:
        alignment.MAX_ALIGNMENT_STEPS = limit
