"""Real finite-σ training: a batch of two-layer bias-free ReLU networks in PyTorch (docs/math/model.rst).

Every run in a batch is an independent network

    f(x) = Σ_{j=1..m} a_j relu(<w_j, x>),        L(θ) = 1/(2n) Σ_i (f(x_i) − y_i)²,

trained by full-batch gradient descent ``θ ← θ − η ∇L(θ)`` on the actual inputs ``X``
(n × d) from ``θ(0) = σ θ̄``. Time is ``t = k η`` after ``k`` steps and rescaled time is
``τ = t / ln(1/σ)`` (docs/math/model.rst). The loss is written out (PyTorch's ``MSELoss`` would be the
``c = 2`` convention, which halves every limit time) and its gradient comes from autograd;
torch's ``relu`` has derivative 0 at 0, the convention ``relu'(0) = 0`` of docs/math/model.rst.

The batch is one tensor: parameters ``a`` of shape (B, m) and ``W`` of shape (B, m, d), one
batched matrix product per step and no Python loop over runs. Runs may differ in σ,
tolerance and step budget; a run that stops is frozen (its update is masked) while the
others go on, so every run's record is that of a run trained alone.

Initialization: :func:`lift_initialization` turns the engine's reduced coordinates
``(Ū, ā)`` into ``W̄`` for the given ``X`` (see there), so the engine and the network see
the same ``θ̄``.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, field

import numpy as np

from .backend import check_sigmas, check_step_size, import_torch, resolve_device, resolve_dtype

__all__ = [
    "HALF_FIT_FRACTION",
    "TrainingResult",
    "lift_initialization",
    "log_spaced_steps",
    "train",
    "train_initializations",
]

#: A sample is *half-fitted* once ``|r_i| <= HALF_FIT_FRACTION · |y_i|``.
HALF_FIT_FRACTION = 0.5

#: Stop reasons of a run (the ``stop_reasons`` attribute of :class:`TrainingResult`).
CONVERGED, BUDGET, DIVERGED = "converged", "step budget", "diverged"
_REASONS = (CONVERGED, BUDGET, DIVERGED)  # codes 0, 1, 2 of the training loop

#: Steps between host synchronizations (checking whether every run has stopped).
_SYNC_EVERY = 64


def lift_initialization(init, inputs) -> np.ndarray:
    """Input-space weights ``W̄`` (m × d) realizing ``init`` on the inputs ``X``.

    The engine's :class:`~jumpprocess.Initialization` holds the reduced coordinates
    ``Ū_ji = <w̄_j, x_i>`` (docs/math/reduction.rst). When it also holds ``init.input_weights`` drawn against
    these inputs (``sample_initialization(..., inputs=X)``) they are returned as they are,
    after checking ``W̄ Xᵀ = Ū``. Otherwise ``W̄`` is the unique solution in span(x)

        W̄ = Ū (X Xᵀ)⁻¹ X,     i.e.  w̄_j = Σ_i (Ū_ji / s_i²) x_i  for orthogonal X,

    with *no* component orthogonal to the data (docs/math/reduction.rst: that component never moves and
    only adds ``σ² ||w̄_⊥||²`` to the squared norm, which vanishes in the limit).

    Parameters
    ----------
    init : jumpprocess.Initialization
        ``preactivations`` (m, n) and ``output_weights`` (m,).
    inputs : array_like, shape (n, d)
        Linearly independent rows (orthogonal, or nearly so).

    Returns
    -------
    ndarray of float64, shape (m, d)

    Raises
    ------
    ValueError
        Shape mismatch, linearly dependent rows, or ``init.input_weights`` of the right
        shape that do not reproduce ``Ū`` on these inputs (drawn against other inputs).

    Examples
    --------
    >>> from jumpprocess import Initialization
    >>> W = lift_initialization(Initialization([[0.5, -2.0]], [1.0]), [[2.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    >>> W.tolist()
    [[0.25, -2.0, 0.0]]
    """
    X = np.asarray(inputs, dtype=np.float64)
    U = np.asarray(init.preactivations, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] != U.shape[1]:
        raise ValueError(f"inputs must have shape (n={U.shape[1]}, d), got {X.shape}")
    scale = max(float(np.max(np.abs(U), initial=0.0)), 1e-300)
    weights = getattr(init, "input_weights", None)
    if weights is not None and weights.shape[1] == X.shape[1]:
        mismatch = float(np.max(np.abs(weights @ X.T - U), initial=0.0))
        if mismatch > 1e-8 * scale * max(1.0, float(np.max(np.linalg.norm(X, axis=1)))):
            raise ValueError(
                "init.input_weights do not reproduce init.preactivations on these inputs "
                f"(max |W X^T - U| = {mismatch:.3g}): the initialization was drawn against other inputs"
            )
        return np.array(weights, dtype=np.float64)
    gram = X @ X.T
    if X.shape[0] > X.shape[1] or np.linalg.cond(gram) > 1e12:
        raise ValueError(
            "the rows of X must be linearly independent (n <= d, well-conditioned Gram matrix) "
            "to realize arbitrary preactivations U"
        )
    return np.linalg.solve(gram, U.T).T @ X


def log_spaced_steps(last_step: int, count: int) -> np.ndarray:
    """Checkpoint steps: 0, then about ``count`` log-spaced integers in ``[1, last_step]``.

    Examples
    --------
    >>> log_spaced_steps(1000, 4).tolist()
    [0, 1, 10, 100, 1000]
    """
    if last_step < 1 or count < 1:
        return np.zeros(1, dtype=np.int64)
    steps = np.unique(np.rint(np.geomspace(1, last_step, int(count))).astype(np.int64))
    return np.concatenate([[0], steps])


@dataclass(frozen=True, eq=False)
class TrainingResult:
    """What a batch of B training runs recorded.

    Time units: ``t = k η`` for step ``k``; rescaled time ``τ = t / ln(1/σ)`` (docs/math/model.rst).
    Runs that stopped early are frozen, so their entries at later checkpoints repeat
    their final state.

    Attributes
    ----------
    sigmas : ndarray (B,)
        Initialization scale of each run.
    step_size : float
        ``η``.
    checkpoint_steps : ndarray of int (C,)
        Steps at which ``losses``, ``neuron_norms`` and ``residuals`` were recorded
        (0, log-spaced steps, and the last step run).
    losses : ndarray (C, B)
        ``L = 1/(2n) Σ_i r_i²``.
    neuron_norms : ndarray (C, B, m)
        ``|θ_j| = (a_j² + ||w_j||²)^{1/2}``; ``ln|θ_j| / ln(1/σ)`` estimates the exponent
        ``e_j`` of the race (docs/math/race.rst).
    residuals : ndarray (C, B, n) or None
        ``r_i = y_i − f(x_i)`` (None when not recorded).
    half_fit_steps : ndarray of int (B, n)
        First step ``k`` with ``|r_i| <= |y_i|/2``; 0 for ``y_i = 0``; −1 if never.
    stop_steps : ndarray of int (B,)
        Step at which the run stopped.
    stop_reasons : tuple of str (B,)
        ``"converged"`` (loss <= its tolerance), ``"step budget"`` or ``"diverged"``
        (non-finite loss: the step is too large).
    loss_tolerances, max_steps : ndarray (B,)
        The stopping rule of each run.
    final_losses : ndarray (B,)
    final_output_weights : ndarray (B, m)
        ``a_j`` at the stop.
    final_preactivations : ndarray (B, m, n)
        ``U_ji = <w_j, x_i>`` at the stop.
    final_squared_norms : ndarray (B, m)
        ``a_j² + ||w_j||²`` at the stop.
    labels : ndarray (n,)
    device, dtype : str
    wall_seconds : float
        Time spent in the training loop.
    steps_run : int
        Steps of the batch loop (the largest ``stop_steps``).
    """

    sigmas: np.ndarray
    step_size: float
    checkpoint_steps: np.ndarray
    losses: np.ndarray
    neuron_norms: np.ndarray
    residuals: np.ndarray | None = field(repr=False)
    half_fit_steps: np.ndarray = field(repr=False)
    stop_steps: np.ndarray = field(repr=False)
    stop_reasons: tuple = field(repr=False)
    loss_tolerances: np.ndarray = field(repr=False)
    max_steps: np.ndarray = field(repr=False)
    final_losses: np.ndarray = field(repr=False)
    final_output_weights: np.ndarray = field(repr=False)
    final_preactivations: np.ndarray = field(repr=False)
    final_squared_norms: np.ndarray = field(repr=False)
    labels: np.ndarray = field(repr=False)
    device: str = "cpu"
    dtype: str = "float64"
    wall_seconds: float = 0.0
    steps_run: int = 0

    @property
    def batch_size(self) -> int:
        """B, the number of runs."""
        return int(self.sigmas.shape[0])

    def to_dict(self, residuals: bool = False) -> dict:
        """JSON-ready arrays (lists) of every record; ``final_preactivations`` (B × m × n) and,
        unless ``residuals``, the residuals (C × B × n) are left out (they can be large)."""
        data = {
            "sigmas": self.sigmas.tolist(), "step_size": self.step_size,
            "checkpoint_steps": self.checkpoint_steps.tolist(), "losses": self.losses.tolist(),
            "neuron_norms": self.neuron_norms.tolist(), "half_fit_steps": self.half_fit_steps.tolist(),
            "stop_steps": self.stop_steps.tolist(), "stop_reasons": list(self.stop_reasons),
            "loss_tolerances": self.loss_tolerances.tolist(), "max_steps": self.max_steps.tolist(),
            "final_losses": self.final_losses.tolist(), "final_output_weights": self.final_output_weights.tolist(),
            "final_squared_norms": self.final_squared_norms.tolist(), "labels": self.labels.tolist(),
            "device": self.device, "dtype": self.dtype, "wall_seconds": self.wall_seconds, "steps_run": self.steps_run,
        }
        if residuals and self.residuals is not None:
            data["residuals"] = self.residuals.tolist()
        return {key: _json_safe(value) for key, value in data.items()}

    @classmethod
    def from_dict(cls, data: dict) -> "TrainingResult":
        """Inverse of :meth:`to_dict` (``final_preactivations`` and missing residuals are None)."""
        def array(key, dtype=np.float64):
            return np.array(_from_json_safe(data[key]), dtype=dtype)

        B = len(data["sigmas"])
        return cls(
            sigmas=array("sigmas"), step_size=float(data["step_size"]),
            checkpoint_steps=array("checkpoint_steps", np.int64), losses=array("losses").reshape(-1, B),
            neuron_norms=array("neuron_norms").reshape(len(data["checkpoint_steps"]), B, -1),
            residuals=array("residuals") if "residuals" in data else None,
            half_fit_steps=array("half_fit_steps", np.int64).reshape(B, -1), stop_steps=array("stop_steps", np.int64),
            stop_reasons=tuple(data["stop_reasons"]), loss_tolerances=array("loss_tolerances"),
            max_steps=array("max_steps", np.int64), final_losses=array("final_losses"),
            final_output_weights=array("final_output_weights").reshape(B, -1), final_preactivations=None,
            final_squared_norms=array("final_squared_norms").reshape(B, -1), labels=array("labels"),
            device=data["device"], dtype=data["dtype"], wall_seconds=float(data["wall_seconds"]),
            steps_run=int(data["steps_run"]),
        )

    @property
    def log_inverse_sigmas(self) -> np.ndarray:
        """``ln(1/σ)`` per run, shape (B,)."""
        return -np.log(self.sigmas)

    @property
    def checkpoint_times(self) -> np.ndarray:
        """``t = k η`` at the checkpoints, shape (C,)."""
        return self.checkpoint_steps * self.step_size

    @property
    def rescaled_times(self) -> np.ndarray:
        """``τ = t / ln(1/σ)`` at the checkpoints for every run, shape (C, B)."""
        return self.checkpoint_times[:, None] / self.log_inverse_sigmas[None, :]

    @property
    def half_fit_times(self) -> np.ndarray:
        """Rescaled half-fit times ``τ_i = k_i η / ln(1/σ)``, shape (B, n); NaN if never."""
        steps = self.half_fit_steps.astype(np.float64)
        steps[self.half_fit_steps < 0] = np.nan
        return steps * self.step_size / self.log_inverse_sigmas[:, None]

    @property
    def converged(self) -> np.ndarray:
        """Whether each run reached its loss tolerance, shape (B,)."""
        return np.array([reason == CONVERGED for reason in self.stop_reasons])

    @property
    def statuses(self) -> tuple:
        """One sentence per run saying how it stopped."""
        out = []
        for b, reason in enumerate(self.stop_reasons):
            step, loss, tol = int(self.stop_steps[b]), self.final_losses[b], self.loss_tolerances[b]
            when = f"step {step} (t = {step * self.step_size:.4g}, tau = {step * self.step_size / self.log_inverse_sigmas[b]:.4g})"
            if reason == CONVERGED:
                out.append(f"converged: loss {loss:.3g} <= tolerance {tol:.3g} at {when}")
            elif reason == BUDGET:
                out.append(f"step budget exhausted: loss {loss:.3g} > tolerance {tol:.3g} after {when}")
            else:
                out.append(f"diverged: the loss became non-finite (overflow) at {when}; is the step size {self.step_size:g} too large?")
        return tuple(out)


def _json_safe(value):
    """Nested lists with NaN and ±inf as the strings "nan", "inf", "-inf" (strict JSON, lossless)."""
    if isinstance(value, list):
        return [_json_safe(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    return value


def _from_json_safe(value):
    """Inverse of :func:`_json_safe`."""
    if isinstance(value, list):
        return [_from_json_safe(item) for item in value]
    if isinstance(value, str) and value in ("nan", "inf", "-inf"):
        return float(value)
    return value


def _broadcast(values, size: int, name: str, dtype=np.float64) -> np.ndarray:
    array = np.asarray(values, dtype=dtype)
    if array.ndim == 0:
        return np.full(size, array, dtype=dtype)
    if array.shape != (size,):
        raise ValueError(f"{name} must be a scalar or have shape ({size},), got {array.shape}")
    return array


@dataclass(frozen=True, eq=False)
class _Batch:
    """The checked inputs of :func:`train` as float64 arrays (B runs, m neurons, n samples)."""

    inputs: np.ndarray           # (n, d)
    labels: np.ndarray           # (n,)
    input_weights: np.ndarray    # (B, m, d), unit scale
    output_weights: np.ndarray   # (B, m), unit scale
    sigmas: np.ndarray           # (B,)
    budgets: np.ndarray          # (B,) int64
    tolerances: np.ndarray       # (B,)

    @property
    def shape(self) -> tuple:
        """``(B, m, n, d)``."""
        B, m, d = self.input_weights.shape
        return B, m, self.labels.shape[0], d


def _check_batch(inputs, labels, input_weights, output_weights, sigmas, max_steps, loss_tolerance, dtype_name) -> _Batch:
    """Step 1 of :func:`train`: shapes, finiteness, σ range, budgets (before any work)."""
    X = np.array(inputs, dtype=np.float64)  # copies: torch refuses read-only arrays
    y = np.array(labels, dtype=np.float64).reshape(-1)
    W0 = np.array(input_weights, dtype=np.float64)
    a0 = np.array(output_weights, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] != y.shape[0]:
        raise ValueError(f"inputs must have shape (n, d) with n = len(labels) = {y.shape[0]}, got {X.shape}")
    if W0.ndim != 3 or W0.shape[2] != X.shape[1] or a0.shape != W0.shape[:2]:
        raise ValueError(
            f"input_weights must have shape (B, m, d={X.shape[1]}) and output_weights (B, m); "
            f"got {W0.shape} and {a0.shape}"
        )
    for name, array in (("inputs", X), ("labels", y), ("input_weights", W0), ("output_weights", a0)):
        if not np.all(np.isfinite(array)):
            raise ValueError(f"{name} must be finite")
    B = W0.shape[0]
    sigma = _broadcast(sigmas, B, "sigmas")
    check_sigmas(sigma, dtype_name)
    requested = _broadcast(max_steps, B, "max_steps")
    if not np.all(np.isfinite(requested)) or np.any(requested != np.round(requested)):
        raise ValueError(f"max_steps must be whole numbers of steps, got {max_steps!r}")
    budgets = requested.astype(np.int64)
    if np.any(budgets < 0):
        raise ValueError(f"max_steps must be >= 0, got {budgets.min()}")
    tolerances = _broadcast(loss_tolerance, B, "loss_tolerance")
    return _Batch(X, y, W0, a0, sigma, budgets, tolerances)


class _Networks:
    """The B networks on the device and what :func:`train` records of them (steps 2–4).

    Parameters ``a`` (B, m) and ``W`` (B, m, d) start at ``σ_b θ̄_b``; a run that stops is
    frozen (its update masked), so its record is that of a run trained alone.
    """

    def __init__(self, torch, batch: _Batch, *, device, dtype, checkpoints: int, record_residuals: bool):
        self.torch = torch
        B, m, n, _ = batch.shape
        options = {"dtype": dtype, "device": device}
        sigma = torch.as_tensor(batch.sigmas, **options)
        self.X = torch.as_tensor(batch.inputs, **options)
        self.y = torch.as_tensor(batch.labels, **options)
        self.half = HALF_FIT_FRACTION * self.y.abs()
        self.W = (torch.as_tensor(batch.input_weights, **options) * sigma[:, None, None]).requires_grad_(True)
        self.a = (torch.as_tensor(batch.output_weights, **options) * sigma[:, None]).requires_grad_(True)
        self.budgets = torch.as_tensor(batch.budgets, device=device)
        self.tolerances = torch.as_tensor(batch.tolerances, **options)
        self.last = int(batch.budgets.max(initial=0))
        self.scheduled = set(int(k) for k in log_spaced_steps(self.last, checkpoints))
        C = len(self.scheduled) + 1  # one spare slot: the last step run is always recorded
        self.losses = torch.zeros((C, B), **options)
        self.norms = torch.zeros((C, B, m), **options)
        self.residuals = torch.zeros((C, B, n), **options) if record_residuals else None
        self.recorded_steps = []
        self.half_fit = torch.where(self.y == 0, 0, -1).to(torch.int64).expand(B, n).clone()
        self.active = torch.ones(B, dtype=torch.bool, device=device)
        self.stop_steps = torch.zeros(B, dtype=torch.int64, device=device)
        self.reason = torch.zeros(B, dtype=torch.int64, device=device)  # index into _REASONS

    def forward(self):
        """Residuals ``r = y − f(X)`` (B, n) and losses ``1/(2n) Σ r²`` (B,)."""
        U = self.W @ self.X.T  # (B, m, n)
        r = self.y - self.torch.einsum("bm,bmn->bn", self.a, self.torch.relu(U))
        return r, (r * r).sum(1) / (2 * r.shape[1])

    def observe(self, step: int, r, loss) -> None:
        """Half-fit steps, and which runs stop at this step: converged, out of budget or diverged."""
        torch = self.torch
        with torch.no_grad():
            self.half_fit = torch.where((self.half_fit < 0) & (r.abs() <= self.half), step, self.half_fit)
            finite = torch.isfinite(loss)
            done = self.active & (loss <= self.tolerances)
            out_of_budget = self.active & finite & ~done & (self.budgets <= step)
            blown = self.active & ~finite
            self.reason = torch.where(out_of_budget, 1, torch.where(blown, 2, self.reason))
            stopping = done | out_of_budget | blown
            self.stop_steps = torch.where(stopping, step, self.stop_steps)
            self.active = self.active & ~stopping
        if step in self.scheduled:
            self.record(step, r, loss)

    def record(self, step: int, r, loss) -> None:
        """Losses, neuron norms ``(a_j² + ||w_j||²)^½`` and residuals at a checkpoint."""
        slot = len(self.recorded_steps)
        with self.torch.no_grad():
            self.losses[slot] = loss.detach()
            self.norms[slot] = (self.a * self.a + (self.W * self.W).sum(2)).sqrt()
            if self.residuals is not None:
                self.residuals[slot] = r.detach()
        self.recorded_steps.append(step)

    def descend(self, loss, step_size: float) -> None:
        """One gradient-descent step ``θ ← θ − η ∇L`` for the runs still active."""
        grad_W, grad_a = self.torch.autograd.grad(loss.sum(), (self.W, self.a))
        with self.torch.no_grad():
            keep = self.active[:, None]
            self.W -= self.torch.where(keep[:, :, None], step_size * grad_W, 0.0)
            self.a -= self.torch.where(keep, step_size * grad_a, 0.0)


@contextlib.contextmanager
def _cpu_settings(torch, device_name: str, threads, work: int):
    """Threads and subnormal flushing for the training loop, restored on exit.

    Decaying parameters (wrong-sign neurons, frozen coordinates) reach subnormal numbers
    in long runs, and subnormal arithmetic is ~30x slower on x86 CPUs. Every quantity
    that matters is >= σ² >= tiny (check_sigmas), so flushing subnormals to 0 changes
    nothing but the speed. ``threads="auto"`` uses one thread when a step is small
    (``work = B m n d < 2**22``), where thread hand-offs cost more than they save.
    """
    previous_threads = torch.get_num_threads()
    if device_name == "cpu" and threads is not None:
        wanted = (1 if work < 2**22 else previous_threads) if threads == "auto" else int(threads)
        torch.set_num_threads(max(1, wanted))
    flush_supported = torch.set_flush_denormal(True)
    try:
        yield
    finally:
        if flush_supported:
            torch.set_flush_denormal(False)
        torch.set_num_threads(previous_threads)


def _run_loop(nets: _Networks, step_size: float, progress) -> int:
    """Step 3: gradient descent until every run has stopped; returns the steps run."""
    B = nets.active.shape[0]
    step = 0
    while True:
        r, loss = nets.forward()
        nets.observe(step, r, loss)
        if step % _SYNC_EVERY == 0 or step >= nets.last:
            remaining = int(nets.active.sum())
            if progress is not None:
                progress(B - remaining, step)
            if remaining == 0:
                if nets.recorded_steps[-1] != step:
                    nets.record(step, r, loss)
                return step
        nets.descend(loss, step_size)
        step += 1


def _result(nets: _Networks, batch: _Batch, step_size, device_name, dtype_name, wall, steps) -> TrainingResult:
    """Step 4: the final state and the records, on the host in float64."""
    torch = nets.torch
    kept = len(nets.recorded_steps)
    with torch.no_grad():
        U = nets.W @ nets.X.T
        final_r, final_loss = nets.forward()
        squared = nets.a * nets.a + (nets.W * nets.W).sum(2)

    def host(tensor):
        return tensor.detach().to("cpu", torch.float64).numpy()

    return TrainingResult(
        sigmas=batch.sigmas,
        step_size=step_size,
        checkpoint_steps=np.asarray(nets.recorded_steps, dtype=np.int64),
        losses=host(nets.losses[:kept]),
        neuron_norms=host(nets.norms[:kept]),
        residuals=None if nets.residuals is None else host(nets.residuals[:kept]),
        half_fit_steps=nets.half_fit.cpu().numpy(),
        stop_steps=nets.stop_steps.cpu().numpy(),
        stop_reasons=tuple(_REASONS[int(code)] for code in nets.reason.cpu().numpy()),
        loss_tolerances=batch.tolerances,
        max_steps=batch.budgets,
        final_losses=host(final_loss),
        final_output_weights=host(nets.a),
        final_preactivations=host(U),
        final_squared_norms=host(squared),
        labels=batch.labels,
        device=device_name,
        dtype=dtype_name,
        wall_seconds=wall,
        steps_run=steps,
    )


def train(
    inputs,
    labels,
    input_weights,
    output_weights,
    sigmas,
    *,
    step_size: float,
    max_steps,
    loss_tolerance=0.0,
    checkpoints: int = 128,
    record_residuals: bool = True,
    device: str = "auto",
    dtype: str = "float64",
    threads="auto",
    progress=None,
) -> TrainingResult:
    """Train B independent networks from ``θ(0) = σ_b θ̄_b`` by full-batch gradient descent.

    Parameters
    ----------
    inputs : array_like, shape (n, d)
        The data ``X`` (shared by every run).
    labels : array_like, shape (n,)
        ``y``.
    input_weights : array_like, shape (B, m, d)
        Unit-scale ``W̄`` of each run (see :func:`lift_initialization`).
    output_weights : array_like, shape (B, m)
        Unit-scale ``ā`` of each run.
    sigmas : array_like, shape (B,) or scalar
        Initialization scales, each in ``[√tiny(dtype), 1)`` (:func:`~validation.backend.check_sigmas`).
    step_size : float
        ``η > 0``.
    max_steps : int or array_like of int (B,)
        Step budget of each run.
    loss_tolerance : float or array_like (B,)
        A run stops (and is frozen) at the first step where ``L <= loss_tolerance``.
    checkpoints : int
        About this many log-spaced checkpoints (plus step 0 and the last step).
    record_residuals : bool
        Record ``r`` at the checkpoints (memory ``C × B × n``).
    device : {"auto", "cpu", "cuda"}
    dtype : {"float64", "float32"}
    threads : "auto", int or None
        CPU threads for torch during this call (restored afterwards). ``"auto"`` uses one
        thread when a step is small (``B m n d < 2**22``), where thread hand-offs cost more
        than they save and a busy machine makes them ~30x slower; ``None`` keeps torch's
        setting.
    progress : callable, optional
        Called as ``progress(finished_runs, step)`` every few dozen steps.

    Returns
    -------
    TrainingResult

    Raises
    ------
    ValueError
        Shapes, σ outside its range for ``dtype``, ``η <= 0``, ``max_steps`` negative or
        not whole, ``checkpoints < 1``, CUDA requested but unavailable.

    Notes
    -----
    Steps: check the inputs (:func:`_check_batch`), put the B networks on the device
    (:class:`_Networks`), descend until every run has stopped (:func:`_run_loop`:
    :meth:`_Networks.forward`, :meth:`~_Networks.observe`, :meth:`~_Networks.descend`),
    collect the records on the host (:func:`_result`).

    Cost per step: one batched product ``(B, m, d) × (d, n)`` forward and two backward,
    ``O(B m n d)``; memory ``O(B m d + C B (m + n))``.
    """
    torch = import_torch()
    dtype_name = resolve_dtype(dtype)
    device_name = resolve_device(device)
    eta = check_step_size(step_size)
    if isinstance(checkpoints, bool) or not isinstance(checkpoints, (int, np.integer)) or checkpoints < 1:
        raise ValueError(f"checkpoints must be an integer >= 1, got {checkpoints!r}")
    batch = _check_batch(inputs, labels, input_weights, output_weights, sigmas, max_steps, loss_tolerance, dtype_name)
    B, m, n, d = batch.shape
    nets = _Networks(torch, batch, device=device_name, dtype=getattr(torch, dtype_name),
                     checkpoints=checkpoints, record_residuals=record_residuals)
    with _cpu_settings(torch, device_name, threads, B * m * n * d):
        start = time.perf_counter()
        steps = _run_loop(nets, eta, progress)
        if device_name.startswith("cuda"):
            torch.cuda.synchronize()
        wall = time.perf_counter() - start
    return _result(nets, batch, eta, device_name, dtype_name, wall, steps)


def train_initializations(
    inputs,
    labels,
    initializations,
    sigmas,
    *,
    step_size: float,
    max_steps,
    loss_tolerance=0.0,
    **options,
) -> TrainingResult:
    """Train every initialization at every σ in one batch of ``B = len(inits) · len(sigmas)`` runs.

    Run ``b · S + s`` starts from ``σ_s θ̄_b``, with ``θ̄_b`` the engine's initialization
    ``b`` lifted to the inputs by :func:`lift_initialization`.

    Parameters
    ----------
    inputs : array_like, shape (n, d)
    labels : array_like, shape (n,)
    initializations : sequence of jumpprocess.Initialization
    sigmas : array_like, shape (S,)
    max_steps, loss_tolerance : scalar or array_like of shape (B,)
        Per run, in the order above.
    **options
        Passed to :func:`train`.

    Examples
    --------
    >>> from jumpprocess import make_problem, sample_initialization
    >>> problem = make_problem(2, "gaussian", seed=0)
    >>> init = sample_initialization(problem, 2, seed=0)
    >>> result = train_initializations(np.eye(2), problem.labels, [init], [0.1, 0.01],
    ...                                step_size=0.1, max_steps=10, device="cpu")
    >>> result.sigmas.tolist(), result.stop_reasons
    ([0.1, 0.01], ('step budget', 'step budget'))
    """
    sigmas = check_sigmas(sigmas, options.get("dtype", "float64"))
    inits = list(initializations)
    if not inits:
        raise ValueError("no initializations to train")
    lifted = [lift_initialization(init, inputs) for init in inits]
    S = len(sigmas)
    W = np.repeat(np.stack(lifted), S, axis=0)
    a = np.repeat(np.stack([np.asarray(init.output_weights, dtype=np.float64) for init in inits]), S, axis=0)
    return train(
        inputs,
        labels,
        W,
        a,
        np.tile(sigmas, len(inits)),
        step_size=step_size,
        max_steps=max_steps,
        loss_tolerance=loss_tolerance,
        **options,
    )
