"""Exact identities of the conversion, checked against real torch autograd (issue 9, acceptance 1).

For every loss kind, output scale κ ∈ {1, 1/m, 1/√m, 0.37} and with or without a hidden bias:
a float64 PyTorch network and its user loss give ``f``, ``L_user`` and ``∇L_user`` by
autograd; ``from_torch`` converts the network; the canonical quantities are then computed
by the independent float64 oracle ``jumpprocess.finite.reference.loss_and_gradient`` on the
inputs the dynamics sees, and converted back. All agree to 1e-12 relative, and one SGD step
in the user's units equals one canonical gradient step of size ``η' = c κ lr``.
"""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn

import jumpprocess as jp
from jumpprocess.finite.reference import loss_and_gradient, network_output
from jumpprocess.interop import bias_orthogonal_inputs

N, D, M = 5, 7, 4
RTOL = 1e-12
LOSSES = ["half-mean", "mean", "sum", "half-sum", 3.5]
SCALES = [1.0, "1/m", "1/sqrt(m)", 0.37]


class ScaledNet(nn.Module):
    """``f(x) = κ · output(relu(hidden(x)))``, two Linear layers, written the way users write it."""

    def __init__(self, kappa, bias):
        super().__init__()
        self.hidden = nn.Linear(D, M, bias=bias)
        self.output = nn.Linear(M, 1, bias=False)
        self.kappa = kappa

    def forward(self, x):
        return self.kappa * self.output(torch.relu(self.hidden(x)))


def _user_loss(kind, out, y):
    """The user's loss, spelled as in training code (torch's own reductions)."""
    if kind == "mean":
        return nn.MSELoss()(out, y)
    if kind == "sum":
        return nn.MSELoss(reduction="sum")(out, y)
    if kind == "half-mean":
        return 0.5 * ((out - y) ** 2).mean()
    if kind == "half-sum":
        return 0.5 * ((out - y) ** 2).sum()
    return kind * 0.5 * ((out - y) ** 2).mean()


def _kappa(scale):
    return {"1/m": 1.0 / M, "1/sqrt(m)": 1.0 / math.sqrt(M)}.get(scale, scale)


def _setup(loss, scale, bias, seed):
    rng = np.random.default_rng(seed)
    if bias:
        X = bias_orthogonal_inputs(rng.uniform(2.5, 4.0, N), D, rng)
    else:
        X = jp.random_orthogonal_inputs(N, D, rng, norms=rng.uniform(0.5, 2.0, N))
    y = rng.standard_normal((N, 1))
    torch.manual_seed(seed)
    net = ScaledNet(_kappa(scale), bias).double()
    with torch.no_grad():  # O(0.3) weights: most units active, no relu exactly at 0
        for parameter in net.parameters():
            parameter.copy_(0.3 * torch.randn_like(parameter))
    return net, torch.tensor(X), torch.tensor(y)


def _rel(a, b):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


@pytest.mark.parametrize("bias", [False, True], ids=["no-bias", "hidden-bias"])
@pytest.mark.parametrize("scale", SCALES, ids=str)
@pytest.mark.parametrize("loss", LOSSES, ids=str)
def test_function_loss_gradient_and_one_step_are_exact(loss, scale, bias):
    seed = LOSSES.index(loss) * 10 + SCALES.index(scale) * 2 + int(bias)
    net, X, y = _setup(loss, scale, bias, seed)
    lr, sigma = 0.05, 0.3
    convention = jp.Convention(loss, scale, hidden_bias=bias)
    imported = jp.from_torch(net, X, y, sigma=sigma, convention=convention, lr=lr)

    # the user's side, by autograd
    out = net(X)
    user_loss = _user_loss(loss, out, y)
    net.zero_grad()
    user_loss.backward()
    g_a = net.output.weight.grad.numpy().reshape(-1).copy()
    g_W = net.hidden.weight.grad.numpy().copy()
    g_b = net.hidden.bias.grad.numpy().copy() if bias else None

    # the canonical side, by the independent oracle on the inputs the dynamics sees
    a0 = sigma * imported.init.output_weights
    W0 = sigma * imported.init.input_weights
    X_seen = imported.problem.inputs
    labels = imported.problem.labels
    f = network_output(a0, W0, X_seen)
    L, ga, gW, _ = loss_and_gradient(a0, W0, X_seen, labels)
    conv = imported.convention
    c = {"half-mean": 1.0, "mean": 2.0, "sum": 2.0 * N, "half-sum": float(N)}.get(loss, loss)

    assert conv.loss_factor == c and conv.output_factor == pytest.approx(_kappa(scale), rel=1e-15)
    assert _rel(f, out.detach().numpy().reshape(-1)) <= RTOL
    assert _rel(conv.to_user_loss(float(L)), user_loss.item()) <= RTOL
    assert _rel(conv.to_canonical_loss(user_loss.item()), float(L)) <= RTOL
    user_gW = conv.to_user_gradient(gW)                # columns: w, then the bias coordinate
    assert _rel(conv.to_user_gradient(ga), g_a) <= RTOL
    assert _rel(user_gW[:, :D], g_W) <= RTOL
    if bias:
        assert _rel(user_gW[:, D], g_b) <= RTOL
    assert _rel(conv.to_canonical_gradient(g_a), ga) <= RTOL

    # one SGD step in the user's units = one canonical step of size η' = c κ lr
    assert imported.step_size == pytest.approx(c * _kappa(scale) * lr, rel=1e-15)
    optimizer = torch.optim.SGD(net.parameters(), lr=lr)
    optimizer.step()
    a1, W1 = conv.to_canonical_parameters(net.output.weight.detach(), net.hidden.weight.detach(),
                                          net.hidden.bias.detach() if bias else None)
    assert _rel(a1, a0 - imported.step_size * ga) <= RTOL
    assert _rel(W1, W0 - imported.step_size * gW) <= RTOL


@pytest.mark.parametrize("bias", [False, True])
def test_parameters_round_trip_and_init_reproduces_theta0(bias):
    net, X, y = _setup("mean", "1/sqrt(m)", bias, 99)
    imported = jp.from_torch(net, X, y, convention=jp.Convention("mean", "1/sqrt(m)", hidden_bias=bias))
    assert imported.sigma_chosen
    conv = imported.convention
    a, W, b = conv.to_user_parameters(imported.sigma * imported.init.output_weights,
                                      imported.sigma * imported.init.input_weights)
    assert _rel(a, net.output.weight.detach().numpy().reshape(-1)) <= RTOL
    assert _rel(W, net.hidden.weight.detach().numpy()) <= RTOL
    if bias:
        assert _rel(b, net.hidden.bias.detach().numpy()) <= RTOL
    # σ chosen: θ̄ = θ(0)/σ has mean_j (a_j² + ||w̃_j||²)/2 = 1 in the user's units
    theta_bar_sq = (a**2 + np.sum(W**2, axis=1) + (0 if b is None else b**2)) / imported.sigma**2
    assert np.mean(theta_bar_sq) / 2 == pytest.approx(1.0, rel=1e-12)
    # Ū = W̄ X̃ᵀ on the inputs the dynamics sees, and the norms are those of X̃
    Xs = X.numpy() if not bias else np.hstack([X.numpy(), np.ones((N, 1))])
    assert _rel(imported.init.preactivations, imported.init.input_weights @ Xs.T) <= RTOL
    np.testing.assert_allclose(imported.problem.norms, np.linalg.norm(Xs, axis=1), rtol=1e-14)


def test_squared_norms_time_and_steps_convert_exactly():
    conv = jp.Convention("sum", "1/m", n=10, m=8)      # c = 20, κ = 1/8
    assert conv.time_factor == 2.5
    assert conv.to_canonical_time(4.0) == 10.0 and conv.to_user_time(10.0) == 4.0
    assert conv.to_canonical_step_size(0.01) == pytest.approx(0.025, rel=1e-15)
    assert conv.to_user_squared_norm(3.0) == 24.0 and conv.to_canonical_squared_norm(24.0) == 3.0
    assert conv.user_time_from_rescaled(2.0, math.exp(-5.0)) == pytest.approx(2.0 * 5.0 / 2.5, rel=1e-15)
    np.testing.assert_array_equal(conv.to_user_loss(np.array([1.0, 0.5])), [20.0, 10.0])
    assert conv.to_user_loss(torch.tensor(0.5, dtype=torch.float64, requires_grad=True)) == 10.0
