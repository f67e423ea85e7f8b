"""Real finite-σ training: a batch of two-layer bias-free ReLU networks in PyTorch (spec §1).

Every run in a batch is an independent network

    f(x) = Σ_{j=1..m} a_j relu(<w_j, x>),        L(θ) = 1/(2n) Σ_i (f(x_i) − y_i)²,

trained by full-batch gradient descent ``θ ← θ − η ∇L(θ)`` on the actual inputs ``X``
(n × d) from ``θ(0) = σ θ̄``. Time is ``t = k η`` after ``k`` steps and rescaled time is
``τ = t / ln(1/σ)`` (spec §1). The loss is written out (PyTorch's ``MSELoss`` would be the
``c = 2`` convention, which halves every limit time) and its gradient comes from autograd;
torch's ``relu`` has derivative 0 at 0, the spec's convention ``relu'(0) = 0``.

The batch is one tensor: parameters ``a`` of shape (B, m) and ``W`` of shape (B, m, d), one
batched matrix product per step and no Python loop over runs. Runs may differ in σ,
tolerance and step budget; a run that stops is frozen (its update is masked) while the
others go on, so every run's record is that of a run trained alone.

Initialization: :func:`lift_initialization` turns the engine's reduced coordinates
``(Ū, ā)`` into ``W̄`` for the given ``X`` (see there), so the engine and the network see
the same ``θ̄``.
"""

from __future__ import annotations

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

#: Steps between host synchronizations (checking whether every run has stopped).
_SYNC_EVERY = 64


def lift_initialization(init, inputs) -> np.ndarray:
    """Input-space weights ``W̄`` (m × d) realizing ``init`` on the inputs ``X``.

    The engine's :class:`~jumpprocess.Initialization` holds the reduced coordinates
    ``Ū_ji = <w̄_j, x_i>`` (spec §2). When it also holds ``init.input_weights`` drawn against
    these inputs (``sample_initialization(..., inputs=X)``) they are returned as they are,
    after checking ``W̄ Xᵀ = Ū``. Otherwise ``W̄`` is the unique solution in span(x)

        W̄ = Ū (X Xᵀ)⁻¹ X,     i.e.  w̄_j = Σ_i (Ū_ji / s_i²) x_i  for orthogonal X,

    with *no* component orthogonal to the data (spec §2: that component never moves and
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

    Time units: ``t = k η`` for step ``k``; rescaled time ``τ = t / ln(1/σ)`` (spec §1).
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
        ``e_j`` of the race (spec §4).
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


def _broadcast(values, size: int, name: str, dtype=np.float64) -> np.ndarray:
    array = np.asarray(values, dtype=dtype)
    if array.ndim == 0:
        return np.full(size, array, dtype=dtype)
    if array.shape != (size,):
        raise ValueError(f"{name} must be a scalar or have shape ({size},), got {array.shape}")
    return array


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
        Shapes, σ outside its range for ``dtype``, ``η <= 0``, ``max_steps < 0``,
        CUDA requested but unavailable.

    Notes
    -----
    Cost per step: one batched product ``(B, m, d) × (d, n)`` forward and two backward,
    ``O(B m n d)``; memory ``O(B m d + C B (m + n))``.
    """
    torch = import_torch()
    dtype_name = resolve_dtype(dtype)
    device_name = resolve_device(device)
    eta = check_step_size(step_size)
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
    B, m, _ = W0.shape
    n = y.shape[0]
    sigma = _broadcast(sigmas, B, "sigmas")
    check_sigmas(sigma, dtype_name)
    budgets = _broadcast(max_steps, B, "max_steps", dtype=np.int64)
    if np.any(budgets < 0):
        raise ValueError(f"max_steps must be >= 0, got {budgets.min()}")
    tolerances = _broadcast(loss_tolerance, B, "loss_tolerance")
    last = int(budgets.max(initial=0))
    schedule = log_spaced_steps(last, checkpoints)

    tdtype = getattr(torch, dtype_name)
    options = {"dtype": tdtype, "device": device_name}
    Xt = torch.as_tensor(X, **options)
    yt = torch.as_tensor(y, **options)
    half = HALF_FIT_FRACTION * yt.abs()
    W = (torch.as_tensor(W0, **options) * torch.as_tensor(sigma, **options)[:, None, None]).requires_grad_(True)
    a = (torch.as_tensor(a0, **options) * torch.as_tensor(sigma, **options)[:, None]).requires_grad_(True)
    budgets_t = torch.as_tensor(budgets, device=device_name)
    tolerances_t = torch.as_tensor(tolerances, **options)

    C = len(schedule) + 1  # one spare slot: the last step run is always recorded
    losses = torch.zeros((C, B), **options)
    norms = torch.zeros((C, B, m), **options)
    residuals = torch.zeros((C, B, n), **options) if record_residuals else None
    half_fit = torch.where(yt == 0, 0, -1).to(torch.int64).expand(B, n).clone()
    active = torch.ones(B, dtype=torch.bool, device=device_name)
    stop_steps = torch.zeros(B, dtype=torch.int64, device=device_name)
    reason = torch.zeros(B, dtype=torch.int64, device=device_name)  # 0 converged, 1 budget, 2 diverged
    recorded_steps = []

    def record(loss, r):
        slot = len(recorded_steps)
        with torch.no_grad():
            losses[slot] = loss
            norms[slot] = (a * a + (W * W).sum(2)).sqrt()
            if residuals is not None:
                residuals[slot] = r
        recorded_steps.append(step)

    scheduled = set(int(k) for k in schedule)
    # Decaying parameters (wrong-sign neurons, frozen coordinates) reach subnormal numbers
    # in long runs, and subnormal arithmetic is ~30x slower on x86 CPUs. Every quantity
    # that matters is >= σ² >= tiny (check_sigmas), so flushing subnormals to 0 changes
    # nothing but the speed; the setting is restored on exit.
    previous_threads = torch.get_num_threads()
    if device_name == "cpu" and threads is not None:
        wanted = (1 if B * m * n * X.shape[1] < 2**22 else previous_threads) if threads == "auto" else int(threads)
        torch.set_num_threads(max(1, wanted))
    flush_supported = torch.set_flush_denormal(True)
    try:
        start = time.perf_counter()
        step = 0
        while True:
            U = W @ Xt.T  # (B, m, n)
            f = torch.einsum("bm,bmn->bn", a, torch.relu(U))
            r = yt - f
            loss = (r * r).sum(1) / (2 * n)
            with torch.no_grad():
                half_fit = torch.where((half_fit < 0) & (r.abs() <= half), step, half_fit)
                finite = torch.isfinite(loss)
                done = active & (loss <= tolerances_t)
                out_of_budget = active & finite & ~done & (budgets_t <= step)
                blown = active & ~finite
                reason = torch.where(out_of_budget, 1, torch.where(blown, 2, reason))
                stopping = done | out_of_budget | blown
                stop_steps = torch.where(stopping, step, stop_steps)
                active = active & ~stopping
            if step in scheduled:
                record(loss.detach(), r.detach())
            if step % _SYNC_EVERY == 0 or step >= last:
                remaining = int(active.sum())
                if progress is not None:
                    progress(B - remaining, step)
                if remaining == 0:
                    if recorded_steps[-1] != step:
                        record(loss.detach(), r.detach())
                    break
            grad_W, grad_a = torch.autograd.grad(loss.sum(), (W, a))
            with torch.no_grad():
                keep = active[:, None]
                W -= torch.where(keep[:, :, None], eta * grad_W, 0.0)
                a -= torch.where(keep, eta * grad_a, 0.0)
            step += 1
    finally:
        if flush_supported:
            torch.set_flush_denormal(False)
        torch.set_num_threads(previous_threads)
    if device_name.startswith("cuda"):
        torch.cuda.synchronize()
    wall = time.perf_counter() - start

    kept = len(recorded_steps)
    with torch.no_grad():
        U = W @ Xt.T
        final_r = yt - torch.einsum("bm,bmn->bn", a, torch.relu(U))
        final_loss = (final_r * final_r).sum(1) / (2 * n)
        squared = a * a + (W * W).sum(2)
    codes = reason.cpu().numpy()
    names = (CONVERGED, BUDGET, DIVERGED)

    def host(tensor):
        return tensor.detach().to("cpu", torch.float64).numpy()

    return TrainingResult(
        sigmas=sigma,
        step_size=eta,
        checkpoint_steps=np.asarray(recorded_steps, dtype=np.int64),
        losses=host(losses[:kept]),
        neuron_norms=host(norms[:kept]),
        residuals=None if residuals is None else host(residuals[:kept]),
        half_fit_steps=half_fit.cpu().numpy(),
        stop_steps=stop_steps.cpu().numpy(),
        stop_reasons=tuple(names[int(code)] for code in codes),
        loss_tolerances=tolerances,
        max_steps=budgets,
        final_losses=host(final_loss),
        final_output_weights=host(a),
        final_preactivations=host(U),
        final_squared_norms=host(squared),
        labels=y,
        device=device_name,
        dtype=dtype_name,
        wall_seconds=wall,
        steps_run=step,
    )


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
