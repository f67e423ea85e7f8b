"""Other people's conventions, converted exactly to the canonical model and back.

The canonical model (docs/math/model.rst) is ``f(x) = Σ_j a_j relu(<w_j, x>)`` with the
loss ``L = 1/(2n) Σ_i (f(x_i) − y_i)²``, no bias, no width scaling. A user's network is

    f_user(x) = κ Σ_j a_j relu(<w_j, x> + b_j),      L_user = c · 1/(2n) Σ_i (f_user(x_i) − y_i)²,

with an output scale ``κ > 0`` (``1``, ``1/m``, ``1/√m``, ...), a loss factor ``c > 0``
(``"half-mean"`` c = 1, ``"mean"`` c = 2 as in ``torch.nn.MSELoss()``, ``"half-sum"`` c = n,
``"sum"`` c = 2n) and optionally a hidden bias ``b_j``. Because the model is 2-homogeneous
in ``θ = (a, w)`` (docs/math/model.rst, "Converting other conventions"):

- a hidden bias is one more input coordinate: ``x̃ = (x, 1)``, ``w̃ = (w, b)``;
- the canonical parameters are ``θ' = √κ · θ`` (both layers), so ``f'(θ') = f_user(θ)``;
- losses: ``L_user(θ) = c · L(θ')``; gradients: ``∇_θ L_user = c √κ · ∇_θ' L``;
- time: gradient flow of ``L_user`` in time ``t`` is the canonical flow in ``t' = c κ t``,
  and one step ``lr`` of gradient descent is one canonical step ``η' = c κ · lr``;
- squared norms: ``||θ||² = ||θ'||² / κ``;
- the limit's rescaled time ``τ = t' / ln(1/σ)`` is user time ``t = τ ln(1/σ) / (c κ)``,
  user step ``k = τ ln(1/σ) / η'``.

An output bias is refused: ``f + β`` is not 2-homogeneous and has no saddle-to-saddle limit
of this form.

Every conversion is exact (a multiplication by one factor), so identities hold to rounding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from ..precision import DTYPE
from .._values import as_float_array, as_real

__all__ = [
    "Convention",
    "LOSS_FACTORS",
    "UserTrajectory",
    "UserFiniteRun",
    "bias_orthogonal_inputs",
]

#: Loss names and their factor ``c`` relative to ``1/(2n) Σ r²``, as a function of n.
LOSS_FACTORS = {
    "half-mean": lambda n: 1.0,
    "mean": lambda n: 2.0,
    "half-sum": lambda n: float(n),
    "sum": lambda n: 2.0 * n,
}
_SCALE_NAMES = {"1": "1", "1/m": "1/m", "1/sqrt(m)": "1/sqrt(m)", "1/√m": "1/sqrt(m)", "m^-1/2": "1/sqrt(m)",
                "1/sqrtm": "1/sqrt(m)"}
_OUTPUT_BIAS = (
    "an output bias (f = κ Σ_j a_j relu(<w_j, x>) + β) is not supported: it breaks the 2-homogeneity the "
    "jump process rests on (docs/math/model.rst). Build the output layer without it, e.g. nn.Linear(m, 1, "
    "bias=False), or fix it at 0 and do not train it"
)


def _positive_int(value, name):
    if value is None:
        return None
    number = as_real(value, name)
    if number != int(number) or number < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(number)


def _scaled(values, factor, divide=False):
    """``values * factor`` (or ``/ factor``): a float for a scalar (0-d tensors too), else a float64 array."""
    value = None
    if np.ndim(values) == 0 and not hasattr(values, "__len__"):
        try:
            value = as_real(values, "value")
        except TypeError:
            pass
    if value is None:
        value = as_float_array(values, "values")
    return value / factor if divide else value * factor


@dataclass(frozen=True)
class Convention:
    """A user's training convention and exact conversions to and from the canonical one.

    Parameters
    ----------
    loss : {"half-mean", "mean", "sum", "half-sum"} or float
        The loss as a multiple ``c`` of ``1/(2n) Σ_i r_i²``: ``"half-mean"`` (c = 1, the
        canonical loss), ``"mean"`` (c = 2, ``nn.MSELoss()``), ``"half-sum"`` (c = n),
        ``"sum"`` (c = 2n, ``nn.MSELoss(reduction="sum")``), or the factor c > 0 itself
        (e.g. Dana et al.'s ``p · mean(r²)/2`` is ``c = p``).
    output_scale : float or {"1/m", "1/sqrt(m)"}
        ``κ > 0`` in ``f = κ Σ_j a_j relu(...)``; ``"1/m"`` and ``"1/sqrt(m)"`` use the width m.
    hidden_bias : bool
        Whether the hidden layer has a bias ``b_j`` (folded in as the input coordinate 1).
    n, m : int, optional
        Sample count and width, needed only by the sum losses (n) and the width scalings (m).
        :func:`jumpprocess.from_torch` fills them in.
    output_bias : bool
        Must be False: an output bias is refused with the reason.

    Raises
    ------
    ValueError
        An unknown loss name, a non-positive or non-finite factor, an output bias.
    TypeError
        A factor that is not a real number.

    Examples
    --------
    PyTorch's ``MSELoss()`` with output scale ``1/m`` on m = 4 neurons:

    >>> conv = Convention(loss="mean", output_scale="1/m", m=4)
    >>> conv.loss_factor, conv.output_factor, conv.time_factor
    (2.0, 0.25, 0.5)
    >>> conv.to_canonical_step_size(0.1)     # one SGD step of lr = 0.1 is a canonical step 0.05
    0.05
    >>> conv.to_user_loss(0.125)              # canonical plateau loss -> MSELoss value
    0.25
    """

    loss: str | float = "half-mean"
    output_scale: float | str = 1.0
    hidden_bias: bool = False
    n: int | None = field(default=None, kw_only=True)
    m: int | None = field(default=None, kw_only=True)
    output_bias: bool = field(default=False, kw_only=True, repr=False)

    def __post_init__(self):
        if self.output_bias:
            raise ValueError(_OUTPUT_BIAS)
        loss = self.loss
        if isinstance(loss, str):
            key = loss.strip().lower().replace("_", "-")
            if key not in LOSS_FACTORS:
                raise ValueError(f"loss must be one of {sorted(LOSS_FACTORS)} or a positive number c, got {loss!r}")
            loss = key
        else:
            loss = as_real(loss, "loss (the factor c)")
            if not math.isfinite(loss) or loss <= 0:
                raise ValueError(f"a numeric loss is the factor c > 0 of 1/(2n) Σ r²; got {loss!r}")
        scale = self.output_scale
        if isinstance(scale, str):
            key = scale.replace(" ", "").lower()
            if key not in _SCALE_NAMES:
                raise ValueError(f"output_scale must be a positive number, '1/m' or '1/sqrt(m)', got {scale!r}")
            scale = 1.0 if _SCALE_NAMES[key] == "1" else _SCALE_NAMES[key]
        else:
            scale = as_real(scale, "output_scale")
            if not math.isfinite(scale) or scale <= 0:
                raise ValueError(f"output_scale must be a finite number > 0 (κ in f = κ Σ a_j relu(...)), got {scale!r}")
        if not isinstance(self.hidden_bias, (bool, np.bool_)):
            raise TypeError(f"hidden_bias must be True or False, got {self.hidden_bias!r}")
        object.__setattr__(self, "loss", loss)
        object.__setattr__(self, "output_scale", scale)
        object.__setattr__(self, "hidden_bias", bool(self.hidden_bias))
        object.__setattr__(self, "n", _positive_int(self.n, "n"))
        object.__setattr__(self, "m", _positive_int(self.m, "m"))

    # ---- the factors ----------------------------------------------------------------------
    def with_sizes(self, n=None, m=None) -> "Convention":
        """A copy with the sample count ``n`` and/or width ``m`` filled in."""
        return replace(self, n=self.n if n is None else n, m=self.m if m is None else m)

    @property
    def loss_factor(self) -> float:
        """``c`` in ``L_user = c · 1/(2n) Σ r²``."""
        if isinstance(self.loss, float):
            return self.loss
        if self.loss in ("sum", "half-sum") and self.n is None:
            raise ValueError(f"loss={self.loss!r} depends on the sample count: give Convention(..., n=...) "
                             "or call .with_sizes(n=...)")
        return LOSS_FACTORS[self.loss](self.n)

    @property
    def output_factor(self) -> float:
        """``κ`` in ``f = κ Σ_j a_j relu(...)``."""
        if isinstance(self.output_scale, float):
            return self.output_scale
        if self.m is None:
            raise ValueError(f"output_scale={self.output_scale!r} depends on the width: give Convention(..., m=...) "
                             "or call .with_sizes(m=...)")
        return 1.0 / self.m if self.output_scale == "1/m" else 1.0 / math.sqrt(self.m)

    @property
    def parameter_factor(self) -> float:
        """``√κ``: canonical parameters are ``θ' = √κ θ``."""
        return math.sqrt(self.output_factor)

    @property
    def time_factor(self) -> float:
        """``c κ``: canonical time ``t' = c κ t``, canonical step ``η' = c κ lr``."""
        return self.loss_factor * self.output_factor

    @property
    def is_canonical(self) -> bool:
        """Whether nothing needs converting (c = κ = 1, no hidden bias)."""
        return not self.hidden_bias and self.loss_factor == 1.0 and self.output_factor == 1.0

    def describe(self) -> str:
        """One line: the convention and its factors (where the sizes allow them)."""
        parts = [f"loss {self.loss!r}", f"output scale {self.output_scale!r}",
                 "hidden bias folded in as x̃ = (x, 1)" if self.hidden_bias else "no hidden bias"]
        try:
            parts.append(f"c = {self.loss_factor:g}, κ = {self.output_factor:g}, t' = {self.time_factor:g}·t")
        except ValueError:
            pass
        return ", ".join(parts)

    # ---- inputs and parameters ------------------------------------------------------------
    def augment_inputs(self, inputs) -> np.ndarray:
        """The inputs the dynamics sees: ``x̃_i = (x_i, 1)`` with a hidden bias, else ``x_i`` (float64)."""
        X = as_float_array(inputs, "X")
        if X.ndim != 2:
            raise ValueError(f"X must have shape (n, d), got {X.shape}")
        if self.hidden_bias:
            return np.hstack([X, np.ones((X.shape[0], 1), dtype=DTYPE)])
        return X

    def to_canonical_parameters(self, output_weights, hidden_weights, hidden_bias=None):
        """``(a', W̃') = √κ (a, [W, b])``: the canonical parameters of the same function.

        Parameters
        ----------
        output_weights : array_like, shape (m,) or (1, m)
        hidden_weights : array_like, shape (m, d)
        hidden_bias : array_like, shape (m,), optional
            Required exactly when ``self.hidden_bias``.

        Returns
        -------
        output_weights : ndarray, shape (m,)
        input_weights : ndarray, shape (m, d) or (m, d + 1) with the bias as last column
        """
        a = as_float_array(output_weights, "output_weights").reshape(-1)
        W = as_float_array(hidden_weights, "hidden_weights")
        if W.ndim != 2 or W.shape[0] != a.shape[0]:
            raise ValueError(f"hidden_weights must have shape (m={a.shape[0]}, d), got {W.shape}")
        if self.hidden_bias:
            if hidden_bias is None:
                raise ValueError("this convention has a hidden bias: pass hidden_bias (shape (m,))")
            b = as_float_array(hidden_bias, "hidden_bias").reshape(-1)
            if b.shape != a.shape:
                raise ValueError(f"hidden_bias must have shape ({a.shape[0]},), got {b.shape}")
            W = np.hstack([W, b[:, None]])
        elif hidden_bias is not None:
            raise ValueError("hidden_bias given but the convention has hidden_bias=False")
        root = self.parameter_factor
        return a * root, W * root

    def to_user_parameters(self, output_weights, input_weights):
        """Inverse of :meth:`to_canonical_parameters`: ``(a, W, b)`` (``b`` is None without bias)."""
        root = self.parameter_factor
        a = as_float_array(output_weights, "output_weights").reshape(-1) / root
        W = as_float_array(input_weights, "input_weights") / root
        if self.hidden_bias:
            return a, W[:, :-1], W[:, -1]
        return a, W, None

    # ---- scalars and arrays with one factor each ------------------------------------------
    def to_canonical_gradient(self, gradient):
        """``∇_θ' L = ∇_θ L_user / (c √κ)`` (any array of parameter gradients)."""
        return _scaled(gradient, self.loss_factor * self.parameter_factor, divide=True)

    def to_user_gradient(self, gradient):
        """``∇_θ L_user = c √κ ∇_θ' L``."""
        return _scaled(gradient, self.loss_factor * self.parameter_factor)

    def to_canonical_time(self, time):
        """``t' = c κ t``."""
        return _scaled(time, self.time_factor)

    def to_user_time(self, time):
        """``t = t' / (c κ)``."""
        return _scaled(time, self.time_factor, divide=True)

    def to_canonical_step_size(self, lr):
        """``η' = c κ lr``: one user step is one canonical step."""
        return _scaled(lr, self.time_factor)

    def to_user_step_size(self, step_size):
        """``lr = η' / (c κ)``."""
        return _scaled(step_size, self.time_factor, divide=True)

    def to_canonical_loss(self, loss):
        """``L = L_user / c``."""
        return _scaled(loss, self.loss_factor, divide=True)

    def to_user_loss(self, loss):
        """``L_user = c L``."""
        return _scaled(loss, self.loss_factor)

    def to_canonical_squared_norm(self, squared_norm):
        """``||θ'||² = κ ||θ||²``."""
        return _scaled(squared_norm, self.output_factor)

    def to_user_squared_norm(self, squared_norm):
        """``||θ||² = ||θ'||² / κ``."""
        return _scaled(squared_norm, self.output_factor, divide=True)

    def user_time_from_rescaled(self, tau, sigma):
        """User time ``t = τ ln(1/σ) / (c κ)`` of the limit's rescaled time ``τ``."""
        return _scaled(_scaled(tau, _log_inverse(sigma)), self.time_factor, divide=True)

    def rescaled_from_user_time(self, time, sigma):
        """``τ = c κ t / ln(1/σ)``."""
        return _scaled(time, self.time_factor / _log_inverse(sigma))

    # ---- results --------------------------------------------------------------------------
    def user_trajectory(self, trajectory, sigma, lr=None) -> "UserTrajectory":
        """The limit :class:`~jumpprocess.Trajectory` read in this convention's units."""
        return UserTrajectory(trajectory, self, float(as_real(sigma, "sigma")),
                              None if lr is None else as_real(lr, "lr"))

    def user_finite_run(self, run, lr=None) -> "UserFiniteRun":
        """A finite-σ run (``jumpprocess.simulate_finite``) read in this convention's units."""
        return UserFiniteRun(run, self, None if lr is None else as_real(lr, "lr"))


def _log_inverse(sigma) -> float:
    value = as_real(sigma, "sigma")
    if not 0.0 < value < 1.0:
        raise ValueError(f"sigma must lie in (0, 1) (θ(0) = σ θ̄, small initialization), got {value!r}")
    return -math.log(value)


@dataclass(frozen=True, eq=False)
class UserTrajectory:
    """A limit trajectory in the user's units (times, steps, losses, norms, weights).

    ``jump_times`` are user times ``t = τ ln(1/σ)/(c κ)``, ``jump_steps = t / lr`` (float:
    the limit predicts a real number of steps), ``plateau_losses = c · L``, squared norms
    ``/ κ``, output weights ``/ √κ``. Fitted sets, neurons and statuses are unchanged.
    """

    trajectory: object
    convention: Convention
    sigma: float
    lr: float | None = None

    @property
    def jump_times(self) -> np.ndarray:
        return self.convention.user_time_from_rescaled(self.trajectory.jump_times, self.sigma)

    @property
    def jump_steps(self) -> np.ndarray:
        if self.lr is None:
            raise ValueError("steps need the learning rate: pass lr")
        return self.jump_times / self.lr

    @property
    def neurons(self) -> np.ndarray:
        return self.trajectory.neurons

    @property
    def fitted(self) -> tuple:
        return self.trajectory.fitted

    @property
    def plateau_losses(self) -> np.ndarray:
        return self.convention.to_user_loss(self.trajectory.plateau_losses)

    @property
    def squared_norm(self) -> float:
        return self.convention.to_user_squared_norm(self.trajectory.squared_norm)

    @property
    def min_squared_norm(self) -> float:
        return self.convention.to_user_squared_norm(self.trajectory.min_squared_norm)

    @property
    def output_weights(self) -> np.ndarray:
        return self.trajectory.output_weights / self.convention.parameter_factor

    @property
    def status(self) -> str:
        return self.trajectory.status

    @property
    def final_time(self) -> float:
        """User time of the last jump (0.0 if none)."""
        return self.convention.user_time_from_rescaled(self.trajectory.final_time, self.sigma)

    @property
    def convergence_rate(self) -> float:
        """Local rate in user time: fitted residuals decay like ``exp(−c κ λ t)`` near the end."""
        return self.trajectory.convergence_rate * self.convention.time_factor

    def parameters_at(self, time, side: str = "right"):
        """The saddle at user time ``t``, in user units: ``a = a'/√κ``, ``U_ji = <w̃_j, x̃_i>``."""
        tau = self.convention.rescaled_from_user_time(as_real(time, "time"), self.sigma)
        a, U = self.trajectory.parameters_at(tau, side)
        root = self.convention.parameter_factor
        return a / root, U / root

    def input_weights_at(self, time, side: str = "right"):
        """``(W, b)`` at user time ``t`` in user units (``b`` is None without a hidden bias).

        Needs the problem's inputs (as built by :func:`jumpprocess.from_torch`).
        """
        tau = self.convention.rescaled_from_user_time(as_real(time, "time"), self.sigma)
        W = self.trajectory.input_weights_at(tau, side) / self.convention.parameter_factor
        return (W[:, :-1], W[:, -1]) if self.convention.hidden_bias else (W, None)

    def loss_at(self, time, side: str = "right"):
        """``c · L`` of the limit at user time(s) ``t``."""
        tau = self.convention.rescaled_from_user_time(time, self.sigma)
        return self.convention.to_user_loss(self.trajectory.loss_at(tau, side))

    def loss_at_step(self, step, side: str = "right"):
        """The same at step(s) ``k`` (user time ``k · lr``)."""
        if self.lr is None:
            raise ValueError("steps need the learning rate: pass lr")
        return self.loss_at(_scaled(step, self.lr), side)


@dataclass(frozen=True, eq=False)
class UserFiniteRun:
    """A finite-σ run (contract of ``jumpprocess.simulate_finite``) in the user's units.

    The run's times are canonical times ``t'``; here ``half_fit_times = t'/(c κ)`` and
    ``half_fit_steps = t' / η'`` (``η' = c κ lr``), losses ``c · L``, parameters ``/ √κ``.
    """

    run: object
    convention: Convention
    lr: float | None = None

    @property
    def half_fit_times(self) -> np.ndarray:
        return self.convention.to_user_time(np.asarray(self.run.half_fit_times, dtype=DTYPE))

    @property
    def half_fit_steps(self) -> np.ndarray:
        if self.lr is None:
            raise ValueError("steps need the learning rate: pass lr")
        step = self.convention.to_canonical_step_size(self.lr)          # η' = c κ lr, as the run used it
        steps = np.asarray(self.run.half_fit_times, dtype=DTYPE) / step
        whole = np.rint(steps)                                          # k η' / η' is k up to rounding
        return np.where(np.abs(steps - whole) <= 1e-9 * np.maximum(1.0, np.abs(whole)), whole, steps)

    @property
    def neurons(self) -> np.ndarray:
        return self.run.neurons

    @property
    def fitted(self) -> tuple:
        return self.run.fitted

    @property
    def activation_times(self) -> np.ndarray:
        """User time of each activation (the first half-fit among the neuron's samples)."""
        return self.convention.to_user_time(np.asarray(self.run.activation_times, dtype=DTYPE))

    @property
    def final_time(self) -> float:
        """User time of the run's last record."""
        return self.convention.to_user_time(float(self.run.final_time))

    @property
    def output_weights(self) -> np.ndarray:
        """``a`` at the end, user units (``a'/√κ``)."""
        return np.asarray(self.run.output_weights, dtype=DTYPE) / self.convention.parameter_factor

    @property
    def preactivations(self) -> np.ndarray:
        """``U_ji = <w̃_j, x̃_i>`` at the end, user units (``U'/√κ``)."""
        return np.asarray(self.run.preactivations, dtype=DTYPE) / self.convention.parameter_factor

    @property
    def status(self) -> str:
        return getattr(self.run, "status", "")

    def loss_at(self, time):
        """``c · L`` of the run at user time(s) ``t`` (scalar or array)."""
        canonical = self.convention.to_canonical_time(time)
        if np.ndim(canonical) == 0:
            return self.convention.to_user_loss(float(self.run.loss_at(float(canonical))))
        try:
            values = np.asarray(self.run.loss_at(canonical), dtype=DTYPE)
            if values.shape != np.shape(canonical):
                raise TypeError
        except (TypeError, ValueError):
            values = np.array([float(self.run.loss_at(float(t))) for t in np.ravel(canonical)]).reshape(np.shape(canonical))
        return self.convention.to_user_loss(values)

    def loss_at_step(self, step):
        if self.lr is None:
            raise ValueError("steps need the learning rate: pass lr")
        return self.loss_at(_scaled(step, self.lr))

    def parameters_at(self, time):
        """``(a, U)`` at user time ``t`` in user units: ``a = a'/√κ``, ``U_ji = <w̃_j, x̃_i>``."""
        a, U = self.run.parameters_at(self.convention.to_canonical_time(as_real(time, "time")))
        root = self.convention.parameter_factor
        return np.asarray(a, dtype=DTYPE) / root, np.asarray(U, dtype=DTYPE) / root


def bias_orthogonal_inputs(norms, d: int, rng=0) -> np.ndarray:
    """Inputs ``X`` (n × d) whose augmented rows ``x̃_i = (x_i, 1)`` are pairwise orthogonal.

    What a network with a hidden bias needs (the dynamics sees ``x̃``). The augmented norms
    ``s̃_i = ||x̃_i||`` are prescribed; they must satisfy ``Σ_i 1/s̃_i² <= 1`` (the squared
    coefficients of ``e = (0, ..., 0, 1)`` on an orthonormal frame), so ``s̃_i >= 1`` and, for
    equal norms, ``s̃ >= √n``.

    Construction: ``x̃_i = q_i / c_i`` with ``c_i = 1/s̃_i`` and orthonormal ``q_i = c_i e + p_i``,
    ``p_i ⊥ e``, ``<p_i, p_k> = δ_ik − c_i c_k``; ``p = (I − ccᵀ)^{1/2}`` embedded by a random
    orthonormal frame of ``R^d`` (``d >= n``). Orthogonal
    to rounding (``|cos| ~ 1e-16``).

    Examples
    --------
    >>> X = bias_orthogonal_inputs([2.0, 2.0, 3.0], d=4, rng=0)
    >>> Xt = np.hstack([X, np.ones((3, 1))])
    >>> (np.round(Xt @ Xt.T, 12) + 0.0).tolist()
    [[4.0, 0.0, 0.0], [0.0, 4.0, 0.0], [0.0, 0.0, 9.0]]
    """
    s = as_float_array(norms, "norms").reshape(-1)
    n = s.shape[0]
    if n == 0 or not np.all(np.isfinite(s)) or np.any(s < 1.0):
        raise ValueError("augmented norms must be finite and >= 1 (the bias coordinate alone has norm 1)")
    c = 1.0 / s
    total = float(np.sum(c * c))
    if total > 1.0 + 1e-12:
        raise ValueError(f"orthogonal (x_i, 1) need Σ 1/||x̃_i||² <= 1, got {total:.6g}; use larger norms "
                         f"(equal norms need ||x̃|| >= √n = {math.sqrt(n):.4g})")
    total = min(total, 1.0)
    if int(d) != d or d < n:
        raise ValueError(f"d must be an integer >= n = {n}, got {d!r}")
    unit = c / math.sqrt(total)
    shrink = 1.0 - math.sqrt(max(0.0, 1.0 - total))
    P = np.eye(n) - shrink * np.outer(unit, unit)                      # (I − ccᵀ)^{1/2}
    generator = np.random.default_rng(rng)
    frame, r = np.linalg.qr(generator.standard_normal((int(d), n)))
    frame = frame * np.sign(np.diag(r))                                # (d, n), orthonormal columns
    return (P @ frame.T) / c[:, None]
