"""A user's two-layer network in, the canonical problem and initialization out.

:func:`from_torch` reads a PyTorch model (``nn.Sequential(Linear, ReLU, Linear)`` or any
module holding two ``nn.Linear`` layers), :func:`from_parameters` the same weights as arrays.
Both return an :class:`ImportedModel`: the :class:`~jumpprocess.OrthogonalProblem` on the
inputs the dynamics sees (``x̃ = (x, 1)`` with a hidden bias), the unit-scale
:class:`~jumpprocess.Initialization` ``θ̄' = √κ θ(0) / σ``, the scale σ, the canonical step
``η' = c κ lr`` and the :class:`~jumpprocess.interop.conventions.Convention` (with n and m
filled in), so that ``σ θ̄'`` *is* the user's ``θ(0)`` in canonical coordinates and one
canonical step *is* one user step (docs/math/model.rst, "Converting other conventions").

σ when not stated: the per-neuron root-mean-square scale of the user's ``θ(0)``::

    σ = sqrt( Σ_j (a_j² + ||w̃_j||²) / (2m) ),        w̃_j = (w_j, b_j)

so that ``θ̄ = θ(0)/σ`` has ``mean_j (ā_j² + ||w̄_j||²)/2 = 1``, as the samplers of
:mod:`jumpprocess.setting.initialization` draw it (balanced: ``ā_j² = ||w̄_j||² ≈ 1``). The
finite-σ run depends only on ``σ θ̄'`` and is the same for every choice; the limit's
rescaled time ``τ = t'/ln(1/σ)`` shifts by ``O(1)/ln(1/σ)``, the limit's own accuracy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..limit.alignment import check_step_size
from ..precision import ORTHOGONALITY_ATOL, check_sigmas
from ..setting.initialization import Initialization
from ..setting.problem import OrthogonalProblem
from .._values import as_float_array, as_real
from .conventions import _OUTPUT_BIAS, Convention

__all__ = ["ImportedModel", "from_torch", "from_parameters", "SIGMA_RULE"]

#: How σ is chosen when the user does not state it.
SIGMA_RULE = "σ = sqrt(Σ_j (a_j² + ||w̃_j||²) / (2m)), the per-neuron RMS scale of θ(0) in the user's units"


@dataclass(frozen=True, eq=False)
class ImportedModel:
    """A user's network and data in canonical form (see the module docstring).

    Attributes
    ----------
    problem : OrthogonalProblem
        Labels and the inputs the dynamics sees (``x̃_i = (x_i, 1)`` with a hidden bias).
    init : Initialization
        ``θ̄' = √κ θ(0) / σ``: ``ā'``, ``Ū' = W̄' X̃ᵀ``, ``W̄'`` and ``||w̄'_j||``.
    sigma : float
        The initialization scale σ (stated, or chosen by :data:`SIGMA_RULE`).
    step_size : float or None
        Canonical step ``η' = c κ lr``; None without ``lr`` (gradient flow).
    convention : Convention
        The user's convention with ``n`` and ``m`` filled in.
    lr : float or None
        The user's learning rate.
    sigma_chosen : bool
        True when σ was not stated and :data:`SIGMA_RULE` chose it.
    """

    problem: OrthogonalProblem
    init: Initialization
    sigma: float
    step_size: float | None
    convention: Convention
    lr: float | None = None
    sigma_chosen: bool = False

    @property
    def log_inverse_sigma(self) -> float:
        """``ln(1/σ)``."""
        return -math.log(self.sigma)

    def limit(self):
        """The σ→0 limit (``jumpprocess.simulate``) in the user's units (a ``UserTrajectory``)."""
        from ..limit.engine import simulate

        trajectory = simulate(self.problem, self.init, self.step_size)
        return self.convention.user_trajectory(trajectory, self.sigma, self.lr)

    def finite_run(self, **options):
        """The finite-σ run (``jumpprocess.simulate_finite``) in the user's units (a ``UserFiniteRun``).

        ``options`` go to ``simulate_finite`` (e.g. ``method``).
        """
        import jumpprocess

        simulate_finite = getattr(jumpprocess, "simulate_finite", None)
        if simulate_finite is None:
            raise ImportError("this jumpprocess has no finite-σ engine (jumpprocess.simulate_finite)")
        run = simulate_finite(self.problem, self.init, self.sigma, step_size=self.step_size, **options)
        return self.convention.user_finite_run(run, self.lr)

    def summary(self) -> str:
        """A few lines: sizes, convention, σ (and how it was chosen), the step sizes."""
        chosen = f" (not stated; chosen as {SIGMA_RULE})" if self.sigma_chosen else " (stated)"
        step = ("gradient flow (no lr)" if self.lr is None
                else f"SGD lr = {self.lr:g} -> canonical step η' = {self.step_size:g}")
        return (f"n = {self.problem.n}, m = {self.init.m}, inputs seen by the dynamics: d = "
                f"{self.problem.inputs.shape[1]}\nconvention: {self.convention.describe()}\n"
                f"σ = {self.sigma:.6g}{chosen}\n{step}")


def _worst_pair(X: np.ndarray):
    """``(i, k, cosine)`` of the least orthogonal pair of rows, or None if none exceeds the tolerance."""
    norms = np.linalg.norm(X, axis=1)
    if X.shape[0] < 2 or np.any(norms == 0):
        return None
    unit = X / norms[:, None]
    gram = unit @ unit.T
    np.fill_diagonal(gram, 0.0)
    i, k = divmod(int(np.argmax(np.abs(gram))), X.shape[0])
    if abs(gram[i, k]) <= ORTHOGONALITY_ATOL:
        return None
    i, k = min(i, k), max(i, k)
    return i, k, float(gram[i, k])


def _check_orthogonal(X: np.ndarray, hidden_bias: bool) -> None:
    """Raise a ValueError saying which inputs failed and which would have passed."""
    seen = np.hstack([X, np.ones((X.shape[0], 1))]) if hidden_bias else X
    worst = _worst_pair(seen)
    if worst is None:
        return
    i, k, cosine = worst
    if hidden_bias:
        other = _worst_pair(X) if np.all(np.linalg.norm(X, axis=1) > 0) else (0, 0, float("nan"))
        message = (f"the inputs the dynamics sees are not orthogonal: with a hidden bias it sees x̃_i = (x_i, 1), "
                   f"and pair ({i}, {k}) has cosine {cosine!r} (tolerance {ORTHOGONALITY_ATOL!r}); orthogonal "
                   "(x_i, 1) need <x_i, x_k> = -1 for i != k (jumpprocess.interop.bias_orthogonal_inputs builds such X)")
        if other is None:
            message += ("; the raw inputs x_i are orthogonal: the same network without the hidden bias "
                        "(nn.Linear(d, m, bias=False), Convention(hidden_bias=False)) would satisfy the assumption")
    else:
        augmented = np.hstack([X, np.ones((X.shape[0], 1))])
        message = (f"the inputs are not orthogonal: pair ({i}, {k}) has cosine {cosine!r} "
                   f"(tolerance {ORTHOGONALITY_ATOL!r})")
        if _worst_pair(augmented) is None:
            message += ("; the augmented inputs (x_i, 1) are orthogonal: a network with a hidden bias sees those "
                        "(nn.Linear(d, m, bias=True), Convention(hidden_bias=True)) and would satisfy the assumption")
    raise ValueError(message)


#: Below this σ, float64 rounding can re-activate frozen coordinates unless the inputs are coordinate vectors.
ROUNDING_SIGMA = 1e-12


def _warn_rounding(X_seen: np.ndarray, sigma: float) -> None:
    """Warn when float64 training on these inputs cannot follow the exact dynamics at this σ.

    A coordinate ``<w_j, x̃_k> <= 0`` is frozen only because ``<x̃_i, x̃_k> = 0`` exactly; when
    inputs share coordinates (a hidden bias always does: every x̃ ends in 1), rounding of
    ``W + η ∇`` feeds it about ``1e-16 · ||w_j|| · ||x̃_k||`` per step once neuron j has grown,
    which beats its initial ``σ Ū_jk`` when σ is below ~1e-13 and can make the real network
    fit samples the limit never fits. Coordinate inputs (one nonzero per column) are immune.
    """
    if sigma >= ROUNDING_SIGMA:
        return
    if np.all(np.count_nonzero(X_seen, axis=0) <= 1):
        return
    import warnings

    warnings.warn(
        f"σ = {sigma:.3g} is below ~{ROUNDING_SIGMA:g}: on inputs that share coordinates"
        + (" (a hidden bias makes every x̃ end in 1)" if np.all(X_seen[:, -1] == 1) else "")
        + ", float64 rounding can re-activate coordinates the exact dynamics keeps frozen, so a real "
        "run may fit samples the limit never fits; compare at a larger σ, or on coordinate inputs",
        RuntimeWarning, stacklevel=3,
    )


def _labels(y, n: int) -> np.ndarray:
    labels = as_float_array(y, "y")
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.shape != (n,):
        raise ValueError(f"y must have shape (n,) or (n, 1) with n = {n} (the rows of X), got {labels.shape}")
    return labels


def _choose_sigma(a, W):
    m = a.shape[0]
    value = math.sqrt((float(a @ a) + float(np.sum(W * W))) / (2 * m))
    if not value > 0:
        raise ValueError("θ(0) = 0: every weight is zero, so there is no initialization scale and training never starts")
    if value >= 1:
        raise ValueError(
            f"the initialization is not small: its per-neuron RMS scale is {value:.4g} >= 1 ({SIGMA_RULE}); the jump "
            "process describes σ -> 0. Initialize smaller, or state sigma (θ̄ = θ(0)/σ) if you mean another split"
        )
    return value


def from_parameters(output_weights, hidden_weights, X, y, *, hidden_bias=None, sigma=None, convention=None,
                    lr=None) -> ImportedModel:
    """Import a user's initial weights given as arrays (the engine behind :func:`from_torch`).

    Parameters
    ----------
    output_weights : array_like, shape (m,) or (1, m)
        ``a(0)`` in the user's units.
    hidden_weights : array_like, shape (m, d)
        ``W(0)``.
    X : array_like, shape (n, d)
    y : array_like, shape (n,) or (n, 1)
    hidden_bias : array_like, shape (m,), optional
        ``b(0)``; given exactly when ``convention.hidden_bias``. With ``convention=None``
        its presence sets ``hidden_bias``.
    sigma, convention, lr
        As in :func:`from_torch`.

    Examples
    --------
    Two orthogonal samples, one neuron, ``MSELoss()`` (c = 2), SGD with lr = 0.1:

    >>> model = from_parameters([0.01], [[0.01, 0.0]], [[1.0, 0.0], [0.0, 1.0]], [[1.0], [-1.0]],
    ...                         convention=Convention("mean"), lr=0.1)
    >>> model.sigma, model.step_size, model.init.preactivations.tolist()
    (0.01, 0.2, [[1.0, 0.0]])
    """
    if convention is None:
        convention = Convention(hidden_bias=hidden_bias is not None)
    elif not isinstance(convention, Convention):
        raise TypeError(f"convention must be a jumpprocess.Convention, got {type(convention).__name__}")
    X = as_float_array(X, "X")
    if X.ndim != 2:
        raise ValueError(f"X must have shape (n, d), got {X.shape}")
    n = X.shape[0]
    if n == 0:
        raise ValueError("X has no rows (n = 0); at least one sample is required")
    labels = _labels(y, n)
    if not np.all(np.isfinite(X)):
        row, col = map(int, np.argwhere(~np.isfinite(X))[0])
        raise ValueError(f"X must be finite; X[{row}, {col}] = {X[row, col]}")
    W_user = as_float_array(hidden_weights, "hidden_weights")
    if W_user.ndim != 2 or W_user.shape[1] != X.shape[1]:
        raise ValueError(f"hidden_weights must have shape (m, d = {X.shape[1]}) to act on X, got {W_user.shape}")
    m = W_user.shape[0]
    if m == 0:
        raise ValueError("the hidden layer has no neurons (m = 0)")
    convention = convention.with_sizes(n=n, m=m)
    a, W = convention.to_canonical_parameters(output_weights, W_user, hidden_bias)
    for name, array in (("output weights", a), ("hidden weights", W)):
        if not np.all(np.isfinite(array)):
            raise ValueError(f"the initial {name} must be finite")
    X_seen = convention.augment_inputs(X)
    _check_orthogonal(X, convention.hidden_bias)
    problem = OrthogonalProblem.from_inputs(X_seen, labels)
    root = convention.parameter_factor
    if sigma is None:
        sigma_value, chosen = _choose_sigma(a / root, W / root), True
    else:
        sigma_value, chosen = as_real(sigma, "sigma"), False
    sigma_value = float(check_sigmas([sigma_value])[0])
    step = None
    lr_value = None
    if lr is not None:
        lr_value = check_step_size(as_real(lr, "lr"), allow_flow=False)
        step = check_step_size(convention.to_canonical_step_size(lr_value), allow_flow=False)
    _warn_rounding(X_seen, sigma_value)
    W_bar = W / sigma_value
    init = Initialization(W_bar @ X_seen.T, a / sigma_value, np.linalg.norm(W_bar, axis=1), W_bar)
    return ImportedModel(problem, init, sigma_value, step, convention, lr_value, chosen)


# ---- PyTorch ------------------------------------------------------------------------------
_NON_RELU = ("Tanh", "Sigmoid", "GELU", "LeakyReLU", "ELU", "SELU", "SiLU", "Softplus", "Mish", "Hardtanh",
             "PReLU", "ReLU6", "CELU", "Softsign", "Tanhshrink", "LogSigmoid", "Hardswish", "Hardsigmoid")


def _import_torch():
    try:
        import torch
    except ImportError as error:  # pragma: no cover - exercised only without torch
        raise ImportError("from_torch needs PyTorch: pip install 'jumpprocess[validation]'") from error
    return torch


def _two_linears(model, nn):
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module holding two nn.Linear layers, got {type(model).__name__}")
    linears = [module for module in model.modules() if isinstance(module, nn.Linear)]
    if len(linears) != 2:
        raise ValueError(f"the model must hold exactly two nn.Linear layers (hidden and output), found {len(linears)}")
    for module in model.modules():
        if type(module).__name__ in _NON_RELU:
            raise ValueError(f"the hidden activation must be ReLU; the model contains {type(module).__name__}")
    first, second = linears
    if second.out_features != 1 and first.out_features == 1 and first.in_features == second.out_features:
        first, second = second, first  # registered output first
    hidden, output = first, second
    if output.out_features != 1:
        raise ValueError(f"the output layer must have one output (scalar regression), got out_features = "
                         f"{output.out_features}")
    if output.in_features != hidden.out_features:
        raise ValueError(f"the layers do not chain: hidden has {hidden.out_features} outputs, output layer takes "
                         f"{output.in_features}")
    return hidden, output


def _frozen_zero(parameter) -> bool:
    return parameter is None or (not parameter.requires_grad and not bool(parameter.detach().ne(0).any()))


def _check_forward(model, torch, X, a, W, b, kappa):
    """The model's output on X must be κ Σ_j a_j relu(<w_j, x> + b_j) (checked in the model's dtype)."""
    parameter = next(model.parameters())
    with torch.no_grad():
        out = model(torch.as_tensor(X, dtype=parameter.dtype, device=parameter.device))
    out = out.detach().to(device="cpu", dtype=torch.float64).numpy().reshape(-1)
    if out.shape != (X.shape[0],):
        raise ValueError(f"the model's output on X has {out.size} entries; expected one per sample ({X.shape[0]})")
    pre = X @ W.T + (0.0 if b is None else b)
    terms = a * np.maximum(pre, 0.0)                    # (n, m)
    g = terms.sum(axis=1)
    scale = np.abs(terms).sum(axis=1) * kappa + np.abs(out)
    eps = float(torch.finfo(parameter.dtype).eps)
    tolerance = 8 * eps * (X.shape[1] + a.shape[0] + 2) * scale + 1e-300
    if np.all(np.abs(out - kappa * g) <= tolerance):
        return
    worst = int(np.argmax(np.abs(out - kappa * g) / tolerance))
    fitted = float(out @ g / (g @ g)) if g @ g > 0 else float("nan")
    hint = ""
    if np.isfinite(fitted) and np.all(np.abs(out - fitted * g) <= tolerance * max(1.0, abs(fitted / kappa))):
        hint = f"; the outputs are exactly {fitted:.6g} × Σ_j a_j relu(...): is output_scale = {fitted:.6g}?"
    raise ValueError(
        f"the model's output is not κ Σ_j a_j relu(<w_j, x> + b_j) with κ = {kappa:g}: on sample {worst} it is "
        f"{out[worst]!r}, the formula gives {kappa * g[worst]!r}{hint}"
    )


def from_torch(model, X, y, *, sigma=None, convention=None, lr=None) -> ImportedModel:
    """Import a two-layer PyTorch ReLU network, its data and its learning rate.

    Parameters
    ----------
    model : torch.nn.Module
        ``nn.Sequential(nn.Linear(d, m), nn.ReLU(), nn.Linear(m, 1, bias=False))``, or any
        module holding two ``nn.Linear`` layers whose forward is
        ``κ · output(relu(hidden(x)))``. Read at its current parameters, taken as ``θ(0)``.
        The hidden bias is allowed (folded in as ``x̃ = (x, 1)``); an output bias is refused
        unless it is frozen at exactly 0.
    X : tensor or array_like, shape (n, d)
        Inputs as fed to the model (any dtype or device; requires_grad allowed).
    y : tensor or array_like, shape (n,) or (n, 1)
        Labels.
    sigma : float, optional
        The initialization scale (``θ(0) = σ θ̄``, user units). Default: chosen by
        :data:`SIGMA_RULE` and flagged in ``sigma_chosen``.
    convention : Convention, optional
        Loss and output scale. Default: half-mean loss, κ = 1, and a hidden bias exactly
        when the model's first layer has a trainable (or nonzero) bias.
    lr : float, optional
        The (full-batch) SGD learning rate; sets ``step_size = c κ lr``.

    Returns
    -------
    ImportedModel
        With ``problem``, ``init``, ``sigma``, ``step_size``, ``convention`` (contract).

    Raises
    ------
    ValueError
        Not two chained ``nn.Linear`` layers with a scalar output; an output bias; an
        activation other than ReLU; a forward that is not ``κ Σ a_j relu(...)`` for the
        convention's κ (the message names the κ that would fit); a hidden bias the
        convention disagrees with; inputs the dynamics sees that are not orthogonal (the
        message says which inputs failed and which would pass); σ outside (0, 1).

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> net = nn.Sequential(nn.Linear(2, 1), nn.ReLU(), nn.Linear(1, 1, bias=False)).double()
    >>> with torch.no_grad():
    ...     _ = net[0].weight.copy_(torch.tensor([[3e-3, 0.0]], dtype=torch.float64))
    ...     _ = net[0].bias.fill_(1e-3)
    ...     _ = net[2].weight.fill_(2e-3)
    >>> X = torch.tensor([[1.0, 0.0], [-1.0, 0.0]])             # (x_i, 1) are orthogonal
    >>> imported = from_torch(net, X, torch.tensor([[1.0], [2.0]]), sigma=1e-3,
    ...                       convention=Convention("mean", hidden_bias=True), lr=0.05)
    >>> imported.init.preactivations.tolist(), imported.step_size
    ([[4.0, -2.0]], 0.1)
    """
    torch = _import_torch()
    nn = torch.nn
    hidden, output = _two_linears(model, nn)
    if not _frozen_zero(output.bias):
        raise ValueError(f"{_OUTPUT_BIAS} (found a trainable output bias = {output.bias.detach().flatten().tolist()[:4]})")
    has_bias = not _frozen_zero(hidden.bias)
    if has_bias and not hidden.bias.requires_grad:
        raise ValueError("the hidden bias is frozen (requires_grad=False) but nonzero: the dynamics would train it as "
                         "the input coordinate 1; make it trainable, or zero it")
    if convention is None:
        convention = Convention(hidden_bias=has_bias)
    elif not isinstance(convention, Convention):
        raise TypeError(f"convention must be a jumpprocess.Convention, got {type(convention).__name__}")
    elif convention.hidden_bias and not has_bias:
        raise ValueError("the convention says hidden_bias=True but the model's hidden layer has no (trainable) bias")
    elif has_bias and not convention.hidden_bias:
        raise ValueError("the model's hidden layer has a bias but the convention says hidden_bias=False: pass "
                         "Convention(..., hidden_bias=True) (the bias is folded in as the input coordinate 1)")
    X_array = as_float_array(X, "X")
    if X_array.ndim != 2 or X_array.shape[1] != hidden.in_features:
        raise ValueError(f"X must have shape (n, d = {hidden.in_features}) for this model, got {X_array.shape}")
    a = as_float_array(output.weight, "output weight").reshape(-1)
    W = as_float_array(hidden.weight, "hidden weight")
    b = as_float_array(hidden.bias, "hidden bias").reshape(-1) if has_bias else None
    kappa = convention.with_sizes(n=max(X_array.shape[0], 1), m=W.shape[0]).output_factor
    _check_forward(model, torch, X_array, a, W, b, kappa)
    return from_parameters(a, W, X_array, y, hidden_bias=b, sigma=sigma, convention=convention, lr=lr)

