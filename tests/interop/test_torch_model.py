"""from_torch and Convention: what they accept, what they refuse, and what the messages say."""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn

import jumpprocess as jp
from jumpprocess.interop import SIGMA_RULE, bias_orthogonal_inputs, from_parameters

D, M = 4, 3
X = np.diag([1.0, 2.0, 0.5, 1.5])
Y = np.array([1.0, -1.0, 0.5, 2.0])


def _net(bias=False, out_bias=False, activation=None, dtype=torch.float64, scale=1e-3):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(D, M, bias=bias), activation or nn.ReLU(), nn.Linear(M, 1, bias=out_bias))
    net = net.to(dtype)
    with torch.no_grad():
        for parameter in net.parameters():
            parameter.mul_(scale)
    return net


def test_a_plain_sequential_imports_with_the_canonical_defaults():
    imported = jp.from_torch(_net(), X, Y, sigma=1e-3)
    assert imported.convention.is_canonical and imported.step_size is None and not imported.sigma_chosen
    W = _net()[0].weight.detach().numpy()
    np.testing.assert_allclose(imported.init.preactivations, W @ X.T / 1e-3, rtol=1e-13)
    np.testing.assert_allclose(imported.problem.norms, [1.0, 2.0, 0.5, 1.5])
    assert "σ = 0.001 (stated)" in imported.summary()


def test_float32_model_tensors_on_any_dtype_and_labels_as_a_column():
    net = _net(dtype=torch.float32)
    imported = jp.from_torch(net, torch.tensor(X, dtype=torch.float32), torch.tensor(Y[:, None]).float(),
                             sigma=np.float32(1e-3), lr=torch.tensor(0.1))
    W = net[0].weight.detach().double().numpy()
    np.testing.assert_allclose(imported.init.preactivations, W @ X.T / float(np.float32(1e-3)), rtol=1e-6)
    assert imported.step_size == pytest.approx(0.1, rel=1e-7)


def test_sigma_when_not_stated_is_the_per_neuron_rms_scale_and_is_reported():
    net = _net()
    imported = jp.from_torch(net, X, Y)
    a = net[2].weight.detach().numpy().ravel()
    W = net[0].weight.detach().numpy()
    expected = math.sqrt((np.sum(a**2) + np.sum(W**2)) / (2 * M))
    assert imported.sigma == pytest.approx(expected, rel=1e-14) and imported.sigma_chosen
    assert "not stated; chosen as" in imported.summary() and SIGMA_RULE in imported.summary()


def test_an_initialization_that_is_not_small_is_refused_unless_sigma_is_stated():
    with pytest.raises(ValueError, match="the initialization is not small"):
        jp.from_torch(_net(scale=10.0), X, Y)
    with pytest.raises(ValueError, match="outside \\(0, 1\\)"):
        jp.from_torch(_net(), X, Y, sigma=2.0)


def test_an_output_bias_is_refused_with_the_reason():
    with pytest.raises(ValueError, match="output bias .* breaks the 2-homogeneity"):
        jp.from_torch(_net(out_bias=True), X, Y, sigma=1e-3)
    with pytest.raises(ValueError, match="output bias .* is not supported"):
        jp.Convention(output_bias=True)
    net = _net(out_bias=True)
    with torch.no_grad():
        net[2].bias.zero_()
    net[2].bias.requires_grad_(False)              # frozen at exactly 0: harmless, accepted
    assert jp.from_torch(net, X, Y, sigma=1e-3).init.m == M


def test_activations_other_than_relu_and_wrong_layer_counts_are_refused():
    with pytest.raises(ValueError, match="must be ReLU; the model contains Tanh"):
        jp.from_torch(_net(activation=nn.Tanh()), X, Y, sigma=1e-3)
    deep = nn.Sequential(nn.Linear(D, M), nn.ReLU(), nn.Linear(M, M), nn.ReLU(), nn.Linear(M, 1))
    with pytest.raises(ValueError, match="exactly two nn.Linear layers .* found 3"):
        jp.from_torch(deep, X, Y)
    wide = nn.Sequential(nn.Linear(D, M, bias=False), nn.ReLU(), nn.Linear(M, 2, bias=False))
    with pytest.raises(ValueError, match="one output"):
        jp.from_torch(wide, X, Y)
    with pytest.raises(TypeError, match="torch.nn.Module"):
        jp.from_torch(lambda x: x, X, Y)


def test_a_forward_with_another_output_scale_is_caught_and_the_scale_named():
    class Scaled(nn.Module):
        def __init__(self):
            super().__init__()
            self.hidden = nn.Linear(D, M, bias=False)
            self.output = nn.Linear(M, 1, bias=False)

        def forward(self, x):
            return self.output(torch.relu(self.hidden(x))) / M

    net = Scaled().double()
    with torch.no_grad():
        net.hidden.weight.copy_(torch.rand(M, D, dtype=torch.float64) * 1e-3)   # all units active
        net.output.weight.mul_(1e-3)
    with pytest.raises(ValueError, match=r"κ = 1: .* exactly 0.333333 × Σ_j a_j relu\(...\): is output_scale = 0.333333"):
        jp.from_torch(net, X, Y, sigma=1e-3)
    imported = jp.from_torch(net, X, Y, sigma=1e-3, convention=jp.Convention(output_scale="1/m"))
    assert imported.convention.output_factor == pytest.approx(1 / 3)


def test_the_hidden_bias_must_match_the_convention():
    Xb = bias_orthogonal_inputs([2.5, 3.0, 2.5, 3.5], D, 0)
    with pytest.raises(ValueError, match="has a bias but the convention says hidden_bias=False"):
        jp.from_torch(_net(bias=True), Xb, Y, sigma=1e-3, convention=jp.Convention("mean"))
    with pytest.raises(ValueError, match="hidden_bias=True but the model's hidden layer has no"):
        jp.from_torch(_net(), X, Y, sigma=1e-3, convention=jp.Convention(hidden_bias=True))
    imported = jp.from_torch(_net(bias=True), Xb, Y, sigma=1e-3)          # inferred from the model
    assert imported.convention.hidden_bias and imported.problem.inputs.shape == (4, D + 1)
    frozen = _net(bias=True)
    frozen[0].bias.requires_grad_(False)
    with pytest.raises(ValueError, match="hidden bias is frozen"):
        jp.from_torch(frozen, Xb, Y, sigma=1e-3)


def test_shapes_are_checked_before_anything_runs():
    with pytest.raises(ValueError, match=r"X must have shape \(n, d = 4\)"):
        jp.from_torch(_net(), np.eye(3), Y[:3], sigma=1e-3)
    with pytest.raises(ValueError, match=r"y must have shape \(n,\) or \(n, 1\) with n = 4"):
        jp.from_torch(_net(), X, Y[:3], sigma=1e-3)
    with pytest.raises(ValueError, match="lr|step_size"):
        jp.from_torch(_net(), X, Y, sigma=1e-3, lr=-0.1)


def test_below_the_rounding_floor_shared_coordinate_inputs_warn():
    Xb = bias_orthogonal_inputs([2.5, 3.0, 2.5, 3.5], D, 0)
    with pytest.warns(RuntimeWarning, match="rounding can re-activate"):
        from_parameters(np.ones(M) * 1e-20, np.ones((M, D)) * 1e-20, Xb, Y, hidden_bias=np.full(M, 1e-20),
                        sigma=1e-20)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")     # coordinate inputs: no warning at any σ
        from_parameters(np.ones(M) * 1e-20, np.ones((M, D)) * 1e-20, X, Y, sigma=1e-20)


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(loss="cross-entropy"), ValueError, "loss must be one of"),
    (dict(loss=-1.0), ValueError, "factor c > 0"),
    (dict(loss=float("nan")), ValueError, "factor c > 0"),
    (dict(output_scale="1/n"), ValueError, "output_scale must be"),
    (dict(output_scale=0.0), ValueError, "finite number > 0"),
    (dict(hidden_bias="yes"), TypeError, "True or False"),
    (dict(n=0), ValueError, "positive integer"),
])
def test_convention_refuses_what_it_cannot_mean(kwargs, error, message):
    with pytest.raises(error, match=message):
        jp.Convention(**kwargs)


def test_convention_factors_that_need_sizes_say_which():
    with pytest.raises(ValueError, match="depends on the sample count"):
        jp.Convention("sum").loss_factor
    with pytest.raises(ValueError, match="depends on the width"):
        jp.Convention(output_scale="1/sqrt(m)").output_factor
    conv = jp.Convention("sum", "1/√m").with_sizes(n=np.int64(10), m=torch.tensor(4))
    assert (conv.loss_factor, conv.output_factor, conv.time_factor) == (20.0, 0.5, 10.0)
    assert jp.Convention(loss=torch.tensor(3.0)).loss_factor == 3.0
