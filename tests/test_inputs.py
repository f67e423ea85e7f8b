"""Problems and initializations: assumptions checked at the door."""

import numpy as np
import pytest

from jumpprocess import (
    Initialization, OrthogonalProblem, make_problem, random_orthogonal_inputs, sample_initialization, simulate,
)


def test_from_inputs_names_worst_pair_and_cosine():
    X = np.eye(4)
    X[2, 1] = 0.3  # rows 1 and 2 now have cosine 0.3/√1.09
    with pytest.raises(ValueError, match=r"worst pair \(1, 2\) has cosine 0\.287"):
        OrthogonalProblem.from_inputs(X, [1, 1, -1, -1])


@pytest.mark.parametrize(
    "X, y, message",
    [
        (np.array([[1.0, 0.0], [0.0, np.nan]]), [1, 1], r"X must be finite; X\[1, 1\] = nan"),
        (np.array([[1.0, 0.0], [0.0, 0.0]]), [1, 1], "row 1 has norm 0"),
        (np.eye(3), [1, 1], r"labels has shape \(2,\) but X has 3 rows"),
        (np.zeros((0, 3)), [], r"n = 0"),
        (np.ones(3), [1, 1, 1], "2-d array"),
    ],
)
def test_from_inputs_rejects_bad_input(X, y, message):
    with pytest.raises(ValueError, match=message):
        OrthogonalProblem.from_inputs(X, y)


@pytest.mark.parametrize(
    "labels, norms, message",
    [
        ([], None, "n = 0"),
        ([1.0, np.inf], None, r"labels must be finite; entry 1 is inf"),
        ([1.0, 2.0], [1.0, 0.0], r"norms\[1\] = 0"),
        ([1.0, 2.0], [1.0], r"norms has shape"),
        ([[1.0, 2.0]], None, "1-d array"),
        (["a", "b"], None, "numeric"),
    ],
)
def test_problem_rejects_bad_input(labels, norms, message):
    with pytest.raises(ValueError, match=message):
        OrthogonalProblem(labels, norms)


def test_initialization_rejects_bad_input():
    with pytest.raises(ValueError, match=r"shape \(m, n\) with m = len\(output_weights\) = 2"):
        Initialization(np.zeros((3, 4)), [1.0, 1.0])
    with pytest.raises(ValueError, match="preactivations must be finite"):
        Initialization([[np.nan, 1.0]], [1.0])
    with pytest.raises(ValueError, match="n = 3"):
        simulate(make_problem(3), Initialization(np.zeros((1, 4)), [1.0]))
    with pytest.raises(ValueError, match="m .* non-negative integer"):
        sample_initialization(make_problem(3), -1)
    with pytest.raises(ValueError, match="unknown init kind"):
        sample_initialization(make_problem(3), 2, "xavier")


def test_inputs_are_not_modified_and_results_are_immutable():
    y = np.array([1.0, -1.0, 2.0])
    problem = OrthogonalProblem(y)
    y[0] = 99.0
    assert problem.labels[0] == 1.0
    with pytest.raises(ValueError):
        problem.labels[0] = 5.0


def test_random_orthogonal_inputs_are_orthogonal_with_given_norms():
    rng = np.random.default_rng(0)
    X = random_orthogonal_inputs(6, 9, rng, norms=np.arange(1.0, 7.0))
    G = X @ X.T
    np.testing.assert_allclose(G, np.diag(np.arange(1.0, 7.0) ** 2), atol=1e-12)
    problem = OrthogonalProblem.from_inputs(X, np.ones(6))
    np.testing.assert_allclose(problem.norms, np.arange(1.0, 7.0))
    with pytest.raises(ValueError, match="d >= n"):
        random_orthogonal_inputs(5, 4, rng)


def test_sampler_with_inputs_matches_reduced_coordinates_and_laws():
    rng = np.random.default_rng(3)
    X = random_orthogonal_inputs(5, 8, rng, norms=rng.uniform(0.5, 2, 5))
    problem = OrthogonalProblem.from_inputs(X, [1.0, -1.0, 0.5, 2.0, -3.0])
    for kind in ("balanced", "output-dominated", "gaussian"):
        init = sample_initialization(problem, 7, kind, seed=11)
        np.testing.assert_allclose(init.preactivations, init.input_weights @ X.T, rtol=1e-12)
        np.testing.assert_allclose(init.hidden_norms, np.linalg.norm(init.input_weights, axis=1))
        if kind == "balanced":
            np.testing.assert_allclose(np.abs(init.output_weights), init.hidden_norms, rtol=1e-9)
            assert np.all(np.abs(init.output_weights) >= init.hidden_norms)
        if kind == "output-dominated":
            assert np.all(np.abs(init.output_weights) > init.hidden_norms)
        if kind != "gaussian":
            assert init.is_sign_stable(problem.norms).all()


def test_same_seed_same_everything():
    problem = make_problem(30, "gaussian", seed=1)
    one = simulate(problem, sample_initialization(problem, 9, "gaussian", seed=5))
    two = simulate(problem, sample_initialization(problem, 9, "gaussian", seed=5))
    assert one.to_json() == two.to_json()
    assert make_problem(30, "sign-random", seed=4).labels.tolist() == make_problem(30, "sign-random", seed=4).labels.tolist()


def test_zero_labels_are_already_fitted():
    problem = OrthogonalProblem([0.0, 0.0])
    traj = simulate(problem, sample_initialization(problem, 3, seed=0))
    assert traj.interpolates and traj.num_jumps == 0 and traj.squared_norm == 0.0 and traj.norm_ratio == 1.0


def test_is_sign_stable_uses_the_data_norms():
    # The sign-stability criterion |ā_j| >= ||w̄_j||, with ||w̄_j||² = Σ_i Ū_ji²/s_i² + ||w̄⊥||² (docs/math/reduction.rst, docs/math/alignment.rst):
    # computed here from the weights W̄ themselves, against inputs with non-unit norms.
    rng = np.random.default_rng(5)
    X = random_orthogonal_inputs(6, 9, rng, norms=rng.uniform(0.3, 3.0, 6))
    problem = OrthogonalProblem.from_inputs(X, [1.0, -1.0, 0.5, 2.0, -3.0, 1.0])
    for kind in ("balanced", "output-dominated", "gaussian"):
        init = sample_initialization(problem, 60, kind, seed=2)
        expected = np.abs(init.output_weights) >= np.linalg.norm(init.input_weights, axis=1) * (1 - 1e-12)
        np.testing.assert_array_equal(init.is_sign_stable(), expected)
        if kind != "gaussian":
            assert init.is_sign_stable().all()
    # Reduced coordinates only (no hidden norms): w̄ in the span of the data, the norms are required.
    init = sample_initialization(problem, 60, "gaussian", seed=3)
    reduced = Initialization(init.preactivations, init.output_weights)
    direct = np.abs(reduced.output_weights) >= np.sqrt(np.sum((reduced.preactivations / problem.norms) ** 2, axis=1))
    np.testing.assert_array_equal(reduced.is_sign_stable(problem.norms), direct)
    np.testing.assert_array_equal(reduced.is_sign_stable(problem), direct)
    with pytest.raises(ValueError, match="data norms"):
        reduced.is_sign_stable()
    with pytest.raises(ValueError, match="norms"):
        reduced.is_sign_stable([1.0, 2.0])


# ---- issue 12: what used to be accepted silently, or failed with a traceback ----

@pytest.mark.parametrize("scale", [1e-200, 1e-100, 1.0, 1e100, 1e200, 1e-310])
def test_from_inputs_accepts_orthogonal_rows_of_any_representable_norm(scale):
    X = np.array([[3.0, 4.0, 0.0], [0.0, 0.0, 2.0]]) * scale  # norms 5·scale, 2·scale, exactly orthogonal
    problem = OrthogonalProblem.from_inputs(X, [1.0, -1.0])
    np.testing.assert_allclose(problem.norms, [5.0 * scale, 2.0 * scale], rtol=1e-12 if scale > 1e-300 else 1e-9)
    bad = X.copy()
    bad[1, 0] = bad[1, 2]  # cosine 0.6·(1/√2)
    with pytest.raises(ValueError, match=r"worst pair \(0, 1\) has cosine 0\.42"):
        OrthogonalProblem.from_inputs(bad, [1.0, -1.0])


def test_from_inputs_names_a_row_whose_norm_overflows():
    with pytest.raises(ValueError, match=r"row 1 has norm .* beyond float64"):
        OrthogonalProblem.from_inputs([[1.0, 0.0, 0.0], [0.0, 1.5e308, 1.5e308]], [1.0, -1.0])


@pytest.mark.parametrize("atol", [-1e-3, float("nan"), float("inf"), "1e-8", None, True])
def test_from_inputs_atol_must_be_a_finite_number_at_least_zero(atol):
    with pytest.raises(ValueError, match="atol must be a finite number >= 0"):
        OrthogonalProblem.from_inputs([[1.0, 0.0], [1.0, 1.0]], [1.0, -1.0], atol=atol)


def test_problem_with_inputs_checks_them():
    X = np.diag([2.0, 3.0])
    assert OrthogonalProblem([1.0, -1.0], [2.0, 3.0], inputs=X).inputs is not None
    assert OrthogonalProblem([1.0, -1.0], inputs=X).norms.tolist() == [2.0, 3.0]  # norms from X
    with pytest.raises(ValueError, match=r"inputs must be finite; inputs\[0, 1\] = nan"):
        OrthogonalProblem([1.0, -1.0], [2.0, 3.0], inputs=[[2.0, np.nan], [0.0, 3.0]])
    with pytest.raises(ValueError, match=r"not orthogonal: worst pair \(0, 1\)"):
        OrthogonalProblem([1.0, -1.0], [2.0, np.sqrt(10.0)], inputs=[[2.0, 0.0], [1.0, 3.0]])
    with pytest.raises(ValueError, match=r"row norms of the inputs must equal the norms: row 1 has norm 3.0, norms\[1\] = 4.0"):
        OrthogonalProblem([1.0, -1.0], [2.0, 4.0], inputs=X)
    # a looser tolerance given to from_inputs survives a JSON round trip
    loose = OrthogonalProblem.from_inputs([[1.0, 0.0], [1e-4, 1.0]], [1.0, -1.0], atol=1e-3)
    assert OrthogonalProblem.from_dict(loose.to_dict()).inputs is not None


@pytest.mark.parametrize("make", [
    lambda: OrthogonalProblem([1.0 + 1.0j, 2.0]),
    lambda: OrthogonalProblem([1.0, 2.0], [1.0, 1.0 + 0.5j]),
    lambda: OrthogonalProblem.from_inputs(np.eye(2) * (1 + 1j), [1.0, 2.0]),
    lambda: Initialization([[1.0 + 1.0j, 0.0]], [1.0]),
    lambda: Initialization([[1.0, 0.0]], [1.0 + 2.0j]),
])
def test_complex_values_are_refused_not_truncated(make):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no ComplexWarning: a clear error instead
        with pytest.raises(ValueError, match="must be real"):
            make()


@pytest.mark.parametrize("call, message", [
    (lambda p: sample_initialization(None, 3), "problem must be a jumpprocess.OrthogonalProblem, got NoneType"),
    (lambda p: sample_initialization([1.0, -1.0], 3), "problem must be a jumpprocess.OrthogonalProblem, got list"),
    (lambda p: sample_initialization(p, float("inf")), r"m \(the number of neurons\) must be a non-negative integer, got inf"),
    (lambda p: sample_initialization(p, float("nan")), r"m \(the number of neurons\) must be a non-negative integer"),
    (lambda p: sample_initialization(p, 2.5), r"m \(the number of neurons\) must be a non-negative integer, got 2.5"),
    (lambda p: sample_initialization(p, 3, d=2.5), r"d \(the input dimension\) must be an integer >= n = 3 for orthogonal data, got 2.5"),
    (lambda p: sample_initialization(p, 3, d=2), r"d \(the input dimension\) must be an integer >= n = 3 for orthogonal data, got 2"),
    (lambda p: sample_initialization(p, 3, inputs=np.ones(3)), r"inputs must be a 2-d array of shape \(n=3, d\)"),
    (lambda p: sample_initialization(p, 3, inputs=np.eye(4)), r"inputs must be a 2-d array of shape \(n=3, d\)"),
    (lambda p: sample_initialization(p, 3, inputs=[[1.0, 0, 0], [1.0, 1.0, 0], [0, 0, 1.0]]), "not orthogonal"),
    (lambda p: sample_initialization(p, 3, inputs=2 * np.eye(3)), "row norms of the inputs must equal"),
    (lambda p: sample_initialization(p, 3, inputs=np.eye(3), d=5), r"d = 5 but the inputs have 3 columns"),
])
def test_sample_initialization_checks_its_arguments(call, message):
    with pytest.raises(ValueError, match=message):
        call(make_problem(3))


def test_sample_initialization_draws_against_nearly_orthogonal_inputs_when_asked():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((3, 400))
    problem = OrthogonalProblem(np.ones(3), np.linalg.norm(X, axis=1))
    with pytest.raises(ValueError, match="not orthogonal"):
        sample_initialization(problem, 2, inputs=X)
    init = sample_initialization(problem, 2, inputs=X, atol=1.0)  # finite-σ training on such data
    np.testing.assert_allclose(init.preactivations, init.input_weights @ X.T)


@pytest.mark.parametrize("n, message", [(-5, "got -5"), (0, "got 0"), (2.5, "got 2.5"), ("4", "got '4'")])
def test_make_problem_names_the_bad_size(n, message):
    with pytest.raises(ValueError, match=rf"n \(the number of samples\) must be a positive integer, {message}"):
        make_problem(n)


def test_unknown_label_kind_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown label kind 'binary'; expected one of \['sign-balanced', 'sign-random', 'gaussian'\]"):
        make_problem(4, "binary")
