"""One regression test per error of issue 9's "Why": each now gives the right result or a clear message.

Expected values come from plain floats and numpy arrays of the same data, never from the
code under test run on itself.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import jumpprocess as jp
from jumpprocess.interop import bias_orthogonal_inputs


def test_from_inputs_on_raw_inputs_of_a_biased_network_says_x_1_is_what_must_be_orthogonal():
    X = bias_orthogonal_inputs([2.0, 2.0, 3.0], d=4, rng=1)       # (x_i, 1) orthogonal, x_i not
    with pytest.raises(ValueError) as error:
        jp.OrthogonalProblem.from_inputs(X, [1.0, -1.0, 0.5])
    message = str(error.value)
    assert "not orthogonal" in message and "(x_i, 1) are orthogonal" in message and "hidden bias" in message
    augmented = np.hstack([X, np.ones((3, 1))])
    assert jp.OrthogonalProblem.from_inputs(augmented, [1.0, -1.0, 0.5]).norms.tolist() == pytest.approx([2, 2, 3])


def test_from_inputs_on_inputs_orthogonal_in_neither_form_says_so():
    with pytest.raises(ValueError, match=r"\(x_i, 1\), and those are not orthogonal either"):
        jp.OrthogonalProblem.from_inputs([[1.0, 0.0], [1.0, 1.0]], [1.0, -1.0])


def test_from_torch_names_the_failing_inputs_and_what_would_pass():
    X = np.eye(3)                                                  # orthogonal, but (x_i, 1) are not
    net = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.ReLU(), torch.nn.Linear(2, 1, bias=False)).double()
    with pytest.raises(ValueError) as error:
        jp.from_torch(net, X, [1.0, 2.0, 3.0], convention=jp.Convention(hidden_bias=True), sigma=0.01)
    assert "x̃_i = (x_i, 1)" in str(error.value) and "without the hidden bias" in str(error.value)
    Xb = bias_orthogonal_inputs([2.0, 2.0, 2.0], d=3, rng=0)
    net2 = torch.nn.Sequential(torch.nn.Linear(3, 2, bias=False), torch.nn.ReLU(),
                               torch.nn.Linear(2, 1, bias=False)).double()
    with pytest.raises(ValueError, match=r"augmented inputs \(x_i, 1\) are orthogonal: a network with a hidden bias"):
        jp.from_torch(net2, Xb, [1.0, 2.0, 3.0], sigma=0.01)


@pytest.mark.parametrize("layout", ["(n,)", "(n, 1)", "tensor (n, 1)"])
def test_labels_in_the_layout_mseloss_needs(layout):
    y = np.array([1.0, -2.0, 0.5])
    labels = {"(n,)": y, "(n, 1)": y[:, None], "tensor (n, 1)": torch.tensor(y[:, None], dtype=torch.float32)}[layout]
    problem = jp.OrthogonalProblem.from_inputs(np.diag([1.0, 2.0, 3.0]), labels)
    assert problem.labels.tolist() == pytest.approx(y.tolist(), rel=1e-7)
    assert jp.OrthogonalProblem(labels).labels.shape == (3,)


def test_labels_of_the_wrong_length_still_say_what_is_expected():
    with pytest.raises(ValueError, match=r"labels has shape \(2, 1\) but X has 3 rows; expected \(n,\) or \(n, 1\)"):
        jp.OrthogonalProblem.from_inputs(np.eye(3), [[1.0], [2.0]])


def test_tensors_that_require_grad():
    X = torch.diag(torch.tensor([1.0, 2.0], dtype=torch.float64)).requires_grad_()
    y = torch.tensor([[1.0], [-1.0]], requires_grad=True)
    problem = jp.OrthogonalProblem.from_inputs(X, y)
    assert problem.norms.tolist() == [1.0, 2.0] and problem.labels.tolist() == [1.0, -1.0]
    sigma = torch.tensor(1e-3, dtype=torch.float64, requires_grad=True)
    assert jp.precision.check_sigmas(sigma).tolist() == [1e-3]
    traj = jp.simulate(problem, jp.Initialization([[1.0, 1.0]], [2.0]))
    tau = torch.tensor(0.0, requires_grad=True)
    assert traj.loss_at(tau) == pytest.approx((1 + 1) / 4)      # (1/2n) Σ y² at τ = 0
    a, U = traj.parameters_at(torch.tensor(np.inf, requires_grad=True))
    assert a.shape == (1,)


@pytest.mark.parametrize("step", [torch.tensor(0.002), torch.tensor(0.002, dtype=torch.float64),
                                  torch.tensor(0.002, requires_grad=True), np.float32(0.002),
                                  np.array(0.002), np.float64(0.002)])
def test_simulate_accepts_zero_dimensional_tensors_and_numpy_scalars(step):
    problem = jp.make_problem(12, seed=3)
    init = jp.sample_initialization(problem, 6, seed=4)
    expected = jp.simulate(problem, init, step_size=float(np.float32(0.002)) if "float32" in str(step.dtype)
                           else 0.002)
    got = jp.simulate(problem, init, step_size=step)
    assert isinstance(got.step_size, float)
    np.testing.assert_array_equal(got.jump_times, expected.jump_times)


@pytest.mark.parametrize("bad", [torch.tensor([0.1, 0.2]), torch.tensor(True), np.array([0.1]), "0.1", True])
def test_simulate_refuses_non_numbers_with_the_expected_form(bad):
    problem = jp.make_problem(4, seed=0)
    with pytest.raises(ValueError, match="step_size must be None \\(gradient flow\\) or a finite number > 0"):
        jp.simulate(problem, jp.sample_initialization(problem, 2, seed=0), step_size=bad)


def test_seeds_and_sizes_as_numpy_scalars_and_zero_dimensional_tensors():
    reference = jp.make_problem(6, seed=5)
    for seed in (np.int64(5), torch.tensor(5), np.array(5)):
        assert jp.make_problem(6, seed=seed).labels.tolist() == reference.labels.tolist()
    assert jp.make_problem(np.int64(6), seed=5).n == 6
    assert jp.make_problem(torch.tensor(6), seed=torch.tensor(5)).labels.tolist() == reference.labels.tolist()
    expected = jp.sample_initialization(reference, 3, seed=2, d=8).preactivations
    got = jp.sample_initialization(reference, torch.tensor(3), seed=torch.tensor(2), d=np.array(8)).preactivations
    np.testing.assert_array_equal(got, expected)
    for bad in (6.0, torch.tensor(6.0), True):
        with pytest.raises(ValueError, match="must be a positive integer"):
            jp.make_problem(bad)


def test_times_step_sizes_losses_and_norms_convert_back_to_user_units():
    # MSELoss (c = 2) and f = (1/m) Σ ... (κ = 1/m): t' = c κ t, L_user = c L, ||θ||² = ||θ'||²/κ.
    m, lr, sigma = 4, torch.tensor(0.3), 1e-4
    conv = jp.Convention("mean", "1/m", m=m)
    problem = jp.make_problem(8, seed=1)
    traj = jp.simulate(problem, jp.sample_initialization(problem, m, seed=2), step_size=conv.to_canonical_step_size(lr))
    user = conv.user_trajectory(traj, sigma, lr=lr)
    c, kappa = 2.0, 1.0 / m
    np.testing.assert_allclose(user.jump_times, traj.jump_times * np.log(1 / sigma) / (c * kappa), rtol=1e-15)
    np.testing.assert_allclose(user.jump_steps, traj.jump_times * np.log(1 / sigma) / (c * kappa * 0.3), rtol=1e-7)
    np.testing.assert_allclose(user.plateau_losses, c * traj.plateau_losses, rtol=1e-15)
    assert user.squared_norm == pytest.approx(traj.squared_norm / kappa, rel=1e-15)
    for time in (0.5 * user.jump_times[0], 2.0 * user.jump_times[-1]):   # away from the (tied) jumps
        assert user.loss_at(time) == c * traj.loss_at(c * kappa * time / np.log(1 / sigma))


def test_saddles_and_rates_of_the_limit_in_user_units():
    # κ = 0.37, c = 2: a = a'/√κ, U = U'/√κ, rate × cκ, and input weights split into (W, b)
    X = bias_orthogonal_inputs([2.0, 2.5, 3.0], d=4, rng=2)
    Xt = np.hstack([X, np.ones((3, 1))])
    conv = jp.Convention("mean", 0.37, hidden_bias=True)
    problem = jp.OrthogonalProblem.from_inputs(Xt, [1.0, -0.5, 2.0])
    init = jp.sample_initialization(problem, 4, seed=1)
    traj = jp.simulate(problem, init)
    user = conv.user_trajectory(traj, 1e-6)
    t_end = 2 * user.final_time
    a, U = user.parameters_at(t_end)
    a_c, U_c = traj.parameters_at(np.inf)
    np.testing.assert_allclose(a, a_c / np.sqrt(0.37), rtol=1e-15)
    np.testing.assert_allclose(U, U_c / np.sqrt(0.37), rtol=1e-15)
    W, b = user.input_weights_at(t_end)
    np.testing.assert_allclose(np.hstack([W, b[:, None]]) @ Xt.T, U, atol=1e-12)   # <w̃_j, x̃_i> = U_ji
    assert user.convergence_rate == pytest.approx(traj.convergence_rate * 2 * 0.37, rel=1e-15)
    assert user.final_time == pytest.approx(traj.final_time * np.log(1e6) / (2 * 0.37), rel=1e-15)


def test_a_finite_run_in_user_units():
    # a stand-in honouring the simulate_finite contract, in canonical time t'
    class Run:
        half_fit_times = np.array([2.0, np.nan, 5.0])
        activation_times = np.array([2.0, 5.0])
        final_time = 8.0
        output_weights = np.array([0.5, -1.0])
        preactivations = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 2.0]])
        neurons, fitted, status = np.array([0, 1]), (np.array([0]), np.array([2])), "done"

        def loss_at(self, t):
            return np.where(np.asarray(t) < 2.0, 1.0, 0.25)

        def parameters_at(self, t):
            return self.output_weights, self.preactivations

    conv = jp.Convention("sum", "1/m", n=3, m=2)          # c = 6, κ = 1/2, t' = 3 t
    user = conv.user_finite_run(Run(), lr=np.float32(0.5))
    np.testing.assert_array_equal(user.half_fit_times, [2.0 / 3, np.nan, 5.0 / 3])
    np.testing.assert_allclose(user.half_fit_steps, [4.0 / 3, np.nan, 10.0 / 3], rtol=1e-15)
    np.testing.assert_array_equal(user.activation_times, [2.0 / 3, 5.0 / 3])
    assert user.final_time == 8.0 / 3
    np.testing.assert_array_equal(user.loss_at([0.5, 1.0]), [6.0, 1.5])     # c · L at t' = 1.5, 3
    assert user.loss_at(torch.tensor(0.5)) == 6.0
    a, U = user.parameters_at(1.0)
    np.testing.assert_allclose(a, [0.5 * np.sqrt(2), -np.sqrt(2)])
    np.testing.assert_allclose(user.preactivations, Run.preactivations * np.sqrt(2))
