"""A slow, obviously-correct float64 reference: train the real network.

docs/math/model.rst, docs/math/reduction.rst, docs/math/convergence.rst.

This module is the oracle the engine is checked against. It does not use the limit
process at all: it builds the actual two-layer network

    f(x) = Σ_{j=1..m} a_j · relu(<w_j, x>),     relu'(0) = 0,

on the actual inputs ``X`` (n × d), starts it at ``θ(0) = σ · θ̄`` and follows full-batch
gradient descent (or the gradient flow, by a classical Runge–Kutta step) of

    L(θ) = 1/(2n) Σ_i (f(x_i) − y_i)^2                                         (docs/math/model.rst)

in float64, recording when each sample is half-fitted in the rescaled time
``τ = t / ln(1/σ)`` with ``t = k·η`` after ``k`` steps of size ``η`` (docs/math/model.rst,
docs/math/convergence.rst).

Several independent runs (instances × σ values sharing one step size and one shape
``(m, n, d)``) are stacked along a leading batch axis, so the only Python loop is over
steps. Nothing here uses the reduced coordinates of docs/math/reduction.rst to *step* the network: they
appear only to build ``W̄`` when the initialization carries ``Ū`` but not ``W̄``, through
``w̄_j = Σ_i (Ū_ji / s_i^2) x_i`` (docs/math/reduction.rst), which is the minimal-norm ``w̄_j`` with
``<w̄_j, x_i> = Ū_ji`` for orthogonal inputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..limit.alignment import check_step_size
from ..precision import DTYPE, ORTHOGONALITY_ATOL, check_sigmas
from ..setting.initialization import Initialization
from ..setting.problem import OrthogonalProblem

__all__ = [
    "ReferenceRun",
    "initial_parameters",
    "coordinate_inputs",
    "network_output",
    "loss_and_gradient",
    "gradient_descent",
    "gradient_flow",
    "HALF_FIT_FRACTION",
    "CONVERGENCE_RTOL",
]

#: A sample counts as fitted once ``|r_i| <= HALF_FIT_FRACTION · |y_i|``.
HALF_FIT_FRACTION = 0.5
#: Default stopping rule: every target sample has ``|r_i| <= CONVERGENCE_RTOL · |y_i|``.
CONVERGENCE_RTOL = 1e-3

_STATUS_CONVERGED = "converged: every target sample is fitted to the tolerance"
_STATUS_BUDGET = "step budget exhausted before the target samples converged"
_STATUS_DIVERGED = "diverged: the loss or a parameter became non-finite"


@dataclass(frozen=True, eq=False)
class ReferenceRun:
    """The record of one finite-σ training run of the real network.

    Attributes
    ----------
    sigma : float
        Initialization scale σ, ``θ(0) = σ θ̄``.
    step_size : float
        Step ``η`` (gradient descent) or ``h`` (Runge–Kutta step of the gradient flow).
    method : str
        ``"gradient descent"`` or ``"gradient flow (RK4)"``.
    steps : int
        Number of steps taken when the run stopped; the run time is ``t = steps · step_size``.
    converged : bool
        True when the run stopped because every target sample had
        ``|r_i| <= tolerance · |y_i|`` for ``patience`` consecutive steps; False when the step
        budget ran out or it diverged.
    status : str
        The ending as a sentence.
    half_fit_steps : ndarray of int, shape (n,)
        First step ``k`` with ``|r_i(θ_k)| <= |y_i| / 2``; ``-1`` if never (always ``-1`` for
        ``y_i = 0``).
    half_fit_times : ndarray of float, shape (n,)
        The same in rescaled time, ``τ_i = k_i · η / ln(1/σ)``; NaN if never.
    fitted_by : ndarray of int, shape (n,)
        At the end, ``argmax_j |a_j relu(<w_j, x_i>)|``: the neuron carrying sample ``i``
        (``-1`` if no neuron is active on it).
    final_loss : float
        ``L(θ)`` at the end.
    residuals : ndarray, shape (n,)
        ``r_i = y_i − f(x_i)`` at the end.
    output_weights : ndarray, shape (m,)
        Final ``a``.
    input_weights : ndarray, shape (m, d)
        Final ``W``.
    squared_norms : ndarray, shape (m,)
        Final per-neuron ``a_j^2 + ||w_j||^2`` (docs/math/saddles.rst, docs/math/implicit-bias.rst).
    """

    sigma: float
    step_size: float
    method: str
    steps: int
    converged: bool
    status: str
    half_fit_steps: np.ndarray
    half_fit_times: np.ndarray
    fitted_by: np.ndarray
    final_loss: float
    residuals: np.ndarray
    output_weights: np.ndarray
    input_weights: np.ndarray
    squared_norms: np.ndarray

    @property
    def log_inverse_sigma(self) -> float:
        """``ln(1/σ)``, the factor between real time ``t`` and rescaled time ``τ``."""
        return float(-np.log(self.sigma))

    @property
    def final_time(self) -> float:
        """Rescaled time at the end of the run, ``steps · step_size / ln(1/σ)``."""
        return self.steps * self.step_size / self.log_inverse_sigma

    @property
    def half_fitted(self) -> np.ndarray:
        """Boolean mask (n,) of the samples that were half-fitted at some step."""
        return self.half_fit_steps >= 0

    @property
    def assignment(self) -> np.ndarray:
        """``fitted_by`` on half-fitted samples, ``-1`` elsewhere: who fitted what."""
        return np.where(self.half_fitted, self.fitted_by, -1)


def coordinate_inputs(norms, d: int | None = None, rng: np.random.Generator | int | None = 0) -> np.ndarray:
    """Inputs that are orthogonal *exactly* in float64: signed, scaled standard basis vectors.

    Row ``i`` is ``ε_i s_i e_{π(i)}`` with random signs ``ε_i``, a random injection
    ``π : {0..n−1} → {0..d−1}`` and ``s_i = norms[i]``.

    Why they matter. The limit (docs/math/reduction.rst, docs/math/alignment.rst,
    docs/math/race.rst) needs ``<x_i, x_k> = 0`` exactly: an inactive coordinate ``U_jk ≤ 0``
    is frozen only because ``dU_jk/dt = (1/n) Σ_i r_i a_j 1[U_ji > 0] <x_i, x_k>`` vanishes.
    Inputs that are orthogonal only to rounding (a Haar-random frame,
    ``|cos| ≈ 1e-16``), and every rounding of ``W + η ∇`` in a rotated frame, feed the frozen
    coordinates a leak of order ``1e-16 · |θ_j|``. Once a neuron has grown to ``|θ_j| ≫ σ / 1e-16``
    the leak beats ``σ Ū_jk`` and can re-activate a dead coordinate: at ``σ = 1e-32`` or
    ``1e-128`` the real float64 network then fits samples the σ → 0 limit of exactly
    orthogonal data never fits. With coordinate inputs every entry of ``W Xᵀ`` and of the
    gradient involves one sample only, so frozen coordinates stay exactly frozen.
    (By rotation invariance the limit process is the same for every orthogonal frame.)

    Parameters
    ----------
    norms : array_like, shape (n,)
        ``s_i > 0``.
    d : int, optional
        Ambient dimension ``d >= n`` (default ``n``).
    rng : numpy.random.Generator or int or None
        Seed or generator for ``π`` and the signs.

    Returns
    -------
    ndarray, shape (n, d)

    Examples
    --------
    >>> X = coordinate_inputs([1.0, 2.0], d=3, rng=1)
    >>> X.shape, np.sort(np.abs(X).sum(axis=1)).tolist()
    ((2, 3), [1.0, 2.0])
    >>> bool(np.all((X @ X.T)[~np.eye(2, dtype=bool)] == 0.0))
    True
    """
    s = np.asarray(norms, dtype=DTYPE).reshape(-1)
    n = s.shape[0]
    d = n if d is None else int(d)
    if n == 0 or d < n:
        raise ValueError(f"orthogonal inputs need 1 <= n <= d; got n = {n}, d = {d}")
    if not np.all(np.isfinite(s)) or np.any(s <= 0):
        raise ValueError("data norms must be finite and > 0")
    generator = np.random.default_rng(rng)
    columns = generator.permutation(d)[:n]
    signs = np.where(generator.random(n) < 0.5, -1.0, 1.0)
    X = np.zeros((n, d), dtype=DTYPE)
    X[np.arange(n), columns] = signs * s
    return X


def initial_parameters(problem: OrthogonalProblem, init: Initialization) -> tuple[np.ndarray, np.ndarray]:
    """The unit-scale parameters ``θ̄ = (ā, W̄)`` of the real network (docs/math/model.rst, docs/math/reduction.rst).

    Parameters
    ----------
    problem : OrthogonalProblem
        Must carry its inputs ``X`` (n × d), e.g. built by ``OrthogonalProblem.from_inputs``.
    init : Initialization
        ``ā = init.output_weights``; ``W̄ = init.input_weights`` when present, otherwise
        ``w̄_j = Σ_i (Ū_ji / s_i^2) x_i`` (docs/math/reduction.rst), the minimal-norm vector with
        ``<w̄_j, x_i> = Ū_ji`` on orthogonal inputs.

    Returns
    -------
    output_weights : ndarray, shape (m,)
    input_weights : ndarray, shape (m, d)

    Raises
    ------
    ValueError
        The problem has no inputs; the inputs are not orthogonal or disagree with
        ``problem.norms``; shapes disagree; ``W̄ Xᵀ`` disagrees with ``Ū``.

    Examples
    --------
    >>> import numpy as np
    >>> from jumpprocess.setting.problem import OrthogonalProblem
    >>> from jumpprocess.setting.initialization import Initialization
    >>> problem = OrthogonalProblem.from_inputs([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0]], [1.0, -1.0])
    >>> a, W = initial_parameters(problem, Initialization([[4.0, -1.0]], [1.0]))
    >>> W.tolist()
    [[2.0, -1.0, 0.0]]
    """
    X = _inputs_of(problem)
    n, d = X.shape
    if init.n != n:
        raise ValueError(f"the initialization has n = {init.n} preactivation columns but the problem has n = {n}")
    U = init.preactivations
    if init.input_weights is not None:
        W = np.array(init.input_weights, dtype=DTYPE)
        if W.shape != (init.m, d):
            raise ValueError(f"init.input_weights has shape {W.shape}; the inputs need (m={init.m}, d={d})")
        scale = max(1.0, float(np.max(np.abs(U), initial=0.0)))
        mismatch = float(np.max(np.abs(W @ X.T - U), initial=0.0))
        if mismatch > 1e-9 * scale:
            raise ValueError(
                f"init.input_weights disagrees with init.preactivations: max |W̄ Xᵀ − Ū| = {mismatch:.3g} "
                "(were they drawn against other inputs?)"
            )
    else:
        W = (U / problem.norms**2) @ X
    return np.array(init.output_weights, dtype=DTYPE), W


def _inputs_of(problem: OrthogonalProblem) -> np.ndarray:
    if problem.inputs is None:
        raise ValueError(
            "the reference trains the real network and needs the inputs X; build the problem with "
            "OrthogonalProblem.from_inputs(X, labels)"
        )
    X = np.asarray(problem.inputs, dtype=DTYPE)
    gram = X @ X.T
    norms = np.sqrt(np.diag(gram))
    if not np.allclose(norms, problem.norms, rtol=1e-12, atol=0.0):
        raise ValueError("problem.norms disagree with the row norms of problem.inputs")
    cosines = np.abs(gram / np.outer(norms, norms))
    np.fill_diagonal(cosines, 0.0)
    if cosines.size and cosines.max() > ORTHOGONALITY_ATOL:
        i, k = divmod(int(np.argmax(cosines)), X.shape[0])
        raise ValueError(f"inputs are not orthogonal: pair ({i}, {k}) has |cosine| {cosines[i, k]:.3g}")
    return X


def network_output(output_weights, input_weights, inputs) -> np.ndarray:
    """``f(x_i) = Σ_j a_j relu(<w_j, x_i>)`` for every sample, batched (docs/math/model.rst).

    Parameters
    ----------
    output_weights : array_like, shape (..., m)
    input_weights : array_like, shape (..., m, d)
    inputs : array_like, shape (..., n, d)

    Returns
    -------
    ndarray, shape (..., n)

    Examples
    --------
    >>> network_output([1.0, -2.0], [[1.0, 0.0], [0.0, 1.0]], [[3.0, 0.0], [0.0, -1.0]]).tolist()
    [3.0, 0.0]
    """
    a = np.asarray(output_weights, dtype=DTYPE)
    W = np.asarray(input_weights, dtype=DTYPE)
    X = np.asarray(inputs, dtype=DTYPE)
    U = W @ np.swapaxes(X, -1, -2)
    return np.einsum("...j,...ji->...i", a, np.maximum(U, 0.0))


def loss_and_gradient(output_weights, input_weights, inputs, labels):
    """The loss ``L = 1/(2n) Σ_i r_i^2`` and its exact gradient, batched (docs/math/model.rst).

    With ``U_ji = <w_j, x_i>`` and ``r_i = y_i − f(x_i)``:

        ∂L/∂a_j = −(1/n) Σ_i r_i relu(U_ji)
        ∂L/∂w_j = −(1/n) Σ_i r_i a_j 1[U_ji > 0] x_i          (relu'(0) = 0)

    Parameters
    ----------
    output_weights : array_like, shape (..., m)
    input_weights : array_like, shape (..., m, d)
    inputs : array_like, shape (..., n, d)
    labels : array_like, shape (..., n)

    Returns
    -------
    loss : ndarray, shape (...)
    gradient_output : ndarray, shape (..., m)
    gradient_input : ndarray, shape (..., m, d)
    residuals : ndarray, shape (..., n)
        ``r = y − f``.

    Examples
    --------
    >>> import numpy as np
    >>> loss, ga, gW, r = loss_and_gradient([1.0], [[1.0, 0.0]], [[1.0, 0.0], [0.0, 1.0]], [3.0, 1.0])
    >>> float(loss), ga.tolist(), r.tolist()
    (1.25, [-1.0], [2.0, 1.0])
    >>> bool(np.array_equal(gW, [[-1.0, 0.0]]))
    True
    """
    a = np.asarray(output_weights, dtype=DTYPE)
    W = np.asarray(input_weights, dtype=DTYPE)
    X = np.asarray(inputs, dtype=DTYPE)
    y = np.asarray(labels, dtype=DTYPE)
    n = X.shape[-2]
    U = W @ np.swapaxes(X, -1, -2)                          # (..., m, n)
    active = U > 0.0                                        # relu'(0) = 0
    hidden = np.where(active, U, 0.0)
    r = y - np.einsum("...j,...ji->...i", a, hidden)       # (..., n)
    loss = np.einsum("...i,...i->...", r, r) / (2.0 * n)
    gradient_output = -np.einsum("...ji,...i->...j", hidden, r) / n
    gradient_input = -((active * (a[..., :, None] * r[..., None, :])) @ X) / n
    return loss, gradient_output, gradient_input, r


def _broadcast_runs(problems, inits, sigmas):
    problems = [problems] if isinstance(problems, OrthogonalProblem) else list(problems)
    inits = [inits] if isinstance(inits, Initialization) else list(inits)
    sigmas = [float(s) for s in np.atleast_1d(np.asarray(sigmas, dtype=DTYPE))]
    batch = max(len(problems), len(inits), len(sigmas))
    for name, items in (("problems", problems), ("inits", inits), ("sigmas", sigmas)):
        if len(items) not in (1, batch):
            raise ValueError(f"{name} has {len(items)} entries; expected 1 or the batch size {batch}")
    if batch == 0:
        raise ValueError("no runs requested (empty problems, inits or sigmas)")

    def pick(items, b):
        return items[0] if len(items) == 1 else items[b]

    return [(pick(problems, b), pick(inits, b), float(check_sigmas(pick(sigmas, b))[0])) for b in range(batch)]


def _as_batch_mask(values, batch, n, name):
    if values is None:
        return None
    mask = np.asarray(values, dtype=bool)
    if mask.shape == (n,):
        mask = np.broadcast_to(mask, (batch, n))
    if mask.shape != (batch, n):
        raise ValueError(f"{name} must have shape (n={n},) or (batch={batch}, n={n}); got {mask.shape}")
    return mask


def _train(problems, inits, sigmas, step_size, *, runge_kutta, targets, tolerance, max_steps, min_rescaled_time,
           patience):
    step = check_step_size(step_size, allow_flow=False)
    if int(max_steps) != max_steps or max_steps < 0:
        raise ValueError(f"max_steps must be a non-negative integer; got {max_steps!r}")
    max_steps = int(max_steps)
    tolerance = float(tolerance)
    if not 0.0 < tolerance < HALF_FIT_FRACTION:
        raise ValueError(f"tolerance must lie in (0, {HALF_FIT_FRACTION}); got {tolerance!r}")
    runs = _broadcast_runs(problems, inits, sigmas)
    batch = len(runs)

    a_list, W_list, X_list, y_list = [], [], [], []
    for problem, init, sigma in runs:
        a_bar, W_bar = initial_parameters(problem, init)
        a_list.append(sigma * a_bar)
        W_list.append(sigma * W_bar)
        X_list.append(np.asarray(problem.inputs, dtype=DTYPE))
        y_list.append(problem.labels)
    shapes = {(W.shape, X.shape) for W, X in zip(W_list, X_list)}
    if len(shapes) != 1:
        raise ValueError(f"all runs of one batch must share (m, d) and (n, d); got {sorted(shapes)}")
    a = np.stack(a_list)                         # (B, m)
    W = np.stack(W_list)                         # (B, m, d)
    X = np.stack(X_list)                         # (B, n, d)
    y = np.stack(y_list)                         # (B, n)
    n = X.shape[1]
    sigma = np.array([s for _, _, s in runs])
    log_inverse_sigma = -np.log(sigma)

    target = _as_batch_mask(targets, batch, n, "targets")
    if target is None:
        target = y != 0.0
    target = target & (y != 0.0)
    min_time = np.broadcast_to(np.asarray(min_rescaled_time, dtype=DTYPE), (batch,))
    if not np.all(np.isfinite(min_time)):
        raise ValueError("min_rescaled_time must be finite")
    min_steps = np.ceil(min_time * log_inverse_sigma / step)

    half_fit_step = np.full((batch, n), -1, dtype=np.int64)
    half_threshold = HALF_FIT_FRACTION * np.abs(y)
    converge_threshold = tolerance * np.abs(y)
    if int(patience) != patience or patience < 1:
        raise ValueError(f"patience must be a positive integer; got {patience!r}")
    streak = np.zeros(batch, dtype=np.int64)   # consecutive steps with every target within tolerance
    running = np.ones(batch, dtype=bool)
    steps = np.zeros(batch, dtype=np.int64)
    diverged = np.zeros(batch, dtype=bool)
    converged = np.zeros(batch, dtype=bool)

    def velocity(a_now, W_now):
        _, ga, gW, _ = loss_and_gradient(a_now, W_now, X, y)
        return -ga, -gW

    k = 0
    while True:
        loss, ga, gW, r = loss_and_gradient(a, W, X, y)
        # Record θ_k: half-fits, divergence, convergence (only for runs still going).
        absolute = np.abs(r)
        newly = running[:, None] & (half_fit_step < 0) & (y != 0.0) & (absolute <= half_threshold)
        half_fit_step[newly] = k
        finite = np.isfinite(loss) & np.all(np.isfinite(W), axis=(1, 2)) & np.all(np.isfinite(a), axis=1)
        done_diverged = running & ~finite
        within = finite & np.all(~target | (absolute <= converge_threshold), axis=1)
        streak = np.where(within, streak + 1, 0)
        done_converged = running & within & (streak >= patience) & (k >= min_steps)
        diverged |= done_diverged
        converged |= done_converged
        stopping = done_diverged | done_converged
        if k >= max_steps:
            stopping = running.copy()
        steps[stopping] = k
        running &= ~stopping
        if not running.any():
            break
        live = running[:, None]
        if runge_kutta:
            va1, vW1 = -ga, -gW
            va2, vW2 = velocity(a + 0.5 * step * va1, W + 0.5 * step * vW1)
            va3, vW3 = velocity(a + 0.5 * step * va2, W + 0.5 * step * vW2)
            va4, vW4 = velocity(a + step * va3, W + step * vW3)
            da = (step / 6.0) * (va1 + 2.0 * va2 + 2.0 * va3 + va4)
            dW = (step / 6.0) * (vW1 + 2.0 * vW2 + 2.0 * vW3 + vW4)
        else:
            da, dW = -step * ga, -step * gW
        a = np.where(live, a + da, a)
        W = np.where(live[:, :, None], W + dW, W)
        k += 1

    _, _, _, r = loss_and_gradient(a, W, X, y)
    loss = np.einsum("bi,bi->b", r, r) / (2.0 * n)
    U = W @ np.swapaxes(X, -1, -2)
    contributions = np.abs(a[:, :, None] * np.maximum(U, 0.0))          # (B, m, n)
    fitted_by = np.where(contributions.max(axis=1) > 0, contributions.argmax(axis=1), -1)
    squared_norms = a**2 + np.einsum("bjd,bjd->bj", W, W)
    method = "gradient flow (RK4)" if runge_kutta else "gradient descent"

    results = []
    for b in range(batch):
        times = np.where(half_fit_step[b] >= 0, half_fit_step[b] * step / log_inverse_sigma[b], np.nan)
        status = _STATUS_DIVERGED if diverged[b] else _STATUS_CONVERGED if converged[b] else _STATUS_BUDGET
        arrays = [half_fit_step[b].copy(), times, fitted_by[b].copy(), r[b].copy(), a[b].copy(), W[b].copy(),
                  squared_norms[b].copy()]
        for array in arrays:
            array.setflags(write=False)
        results.append(ReferenceRun(
            sigma=float(sigma[b]), step_size=step, method=method, steps=int(steps[b]),
            converged=bool(converged[b]), status=status, half_fit_steps=arrays[0], half_fit_times=arrays[1],
            fitted_by=arrays[2], final_loss=float(loss[b]), residuals=arrays[3], output_weights=arrays[4],
            input_weights=arrays[5], squared_norms=arrays[6],
        ))
    return tuple(results)


def gradient_descent(problems, inits, sigmas, step_size, *, targets=None, tolerance=CONVERGENCE_RTOL,
                     max_steps=1_000_000, min_rescaled_time=0.0, patience=10) -> tuple[ReferenceRun, ...]:
    """Full-batch gradient descent of the real network from ``θ(0) = σ θ̄``.

    docs/math/model.rst, docs/math/convergence.rst.

    Each run iterates

        θ_{k+1} = θ_k − η ∇L(θ_k),      L = 1/(2n) Σ_i (f(x_i) − y_i)^2,

    on ``θ = (a, W)`` with the exact gradient of :func:`loss_and_gradient` (relu'(0) = 0),
    in float64, and records the first ``k`` with ``|r_i| <= |y_i|/2`` as the half-fit time
    ``τ_i = k η / ln(1/σ)`` of sample ``i``. As σ → 0 these converge, at rate
    ``O(1/ln(1/σ))``, to the jump times of the gradient-descent race, whose rates are
    ``ln(1 + η λ_j) / η`` (docs/math/race.rst, docs/math/convergence.rst).

    Parameters
    ----------
    problems : OrthogonalProblem or sequence of them
        Each must carry its inputs ``X`` (use ``OrthogonalProblem.from_inputs``). All runs
        of one call share ``n``, ``d``.
    inits : Initialization or sequence of them
        Unit-scale ``θ̄`` (see :func:`initial_parameters`); all share ``m``.
    sigmas : float or sequence of floats
        Scales σ ∈ (0, 1) with ``σ² >=`` the smallest normal float64.
        ``problems``, ``inits`` and ``sigmas`` are broadcast against each other (length 1
        or the batch size B).
    step_size : float
        ``η > 0``, shared by the batch.
    targets : array_like of bool, shape (n,) or (B, n), optional
        The samples expected to be fitted (e.g. those the engine fits). Default: every
        sample with ``y_i != 0``. Samples with ``y_i = 0`` are never targets.
    tolerance : float
        A run stops, converged, once every target has ``|r_i| <= tolerance · |y_i|`` on
        ``patience`` consecutive steps (and ``min_rescaled_time`` has passed).
    max_steps : int
        Step budget per run; a run that reaches it stops unconverged.
    min_rescaled_time : float or array_like, shape (B,)
        Do not stop a run before this rescaled time (to watch for later fits).
    patience : int
        Consecutive steps the tolerance must hold: a step too large for the final
        interpolator (``η λ_max(∇²L) > 2``) makes the loss oscillate or wander, and may pass
        through the tolerance once by chance; it does not stay there.

    Returns
    -------
    tuple of ReferenceRun, length B

    Raises
    ------
    ValueError
        σ outside (0, 1) or with σ² below the smallest normal float64 (docs/math/convergence.rst);
        non-positive step; missing or non-orthogonal inputs; shapes that do not batch.

    Notes
    -----
    Cost ``O(B m n d)`` per step; ``steps ≈ τ ln(1/σ) / η``. Runs that stop are frozen
    while the others go on.

    Examples
    --------
    One neuron, one sample, ``y = 1``, ``s = 1``: the rate is ``λ = |y s| / n = 1`` and the
    gradient-descent limit of the half-fit time is ``1 / (ln(1 + η λ)/η)``.

    >>> import numpy as np
    >>> from jumpprocess.setting.problem import OrthogonalProblem
    >>> from jumpprocess.setting.initialization import Initialization
    >>> problem = OrthogonalProblem.from_inputs([[1.0]], [1.0])
    >>> init = Initialization([[1.0]], [1.0])
    >>> (run,) = gradient_descent(problem, init, 1e-100, 0.5)
    >>> run.converged, run.fitted_by.tolist()
    (True, [0])
    >>> limit = 0.5 / np.log(1.5)
    >>> bool(abs(run.half_fit_times[0] - limit) < 2 / np.log(1e100))
    True
    """
    with np.errstate(over="ignore", invalid="ignore"):  # a diverging run is detected, stopped and reported
        return _train(problems, inits, sigmas, step_size, runge_kutta=False, targets=targets, tolerance=tolerance,
                      max_steps=max_steps, min_rescaled_time=min_rescaled_time, patience=patience)


def gradient_flow(problems, inits, sigmas, step_size, *, targets=None, tolerance=CONVERGENCE_RTOL,
                  max_steps=1_000_000, min_rescaled_time=0.0, patience=10) -> tuple[ReferenceRun, ...]:
    """The gradient flow ``dθ/dt = −∇L(θ)`` of the real network, by classical RK4 steps (docs/math/model.rst).

    Same as :func:`gradient_descent` (same arguments, same records, ``t = k h``), but each
    step of size ``h`` is the classical fourth-order Runge–Kutta step

        θ_{k+1} = θ_k + (h/6)(v_1 + 2 v_2 + 2 v_3 + v_4),   v = −∇L at the usual stages.

    Why not plain gradient descent with a small step: near a saddle its growth per unit
    time is ``ln(1 + hλ)/h = λ(1 − hλ/2 + …)``, a relative bias ``hλ/2`` in every jump
    time, so matching the σ = 1e-128 error (``≈ 1/ln(1e128) ≈ 0.003``) needs ``hλ ≲ 1e-3``,
    about a million steps. The RK4 growth factor matches ``e^{hλ}`` up to
    ``(hλ)^5/120`` per step, a relative bias ``≈ (hλ)^4/120`` (1e-6 at ``hλ = 0.1``). The
    kinks of relu (a coordinate crossing ``U_ji = 0``) only cost local accuracy there,
    an ``O(h)`` shift in real time, ``O(h / ln(1/σ))`` in τ.

    Examples
    --------
    One neuron, one sample, balanced: ``a = u`` solves ``da/dt = a(y − a²)`` with rate
    ``λ = 1``, so the half-fit time tends to ``1 / λ = 1``.

    >>> import numpy as np
    >>> from jumpprocess.setting.problem import OrthogonalProblem
    >>> from jumpprocess.setting.initialization import Initialization
    >>> problem = OrthogonalProblem.from_inputs([[1.0]], [1.0])
    >>> (run,) = gradient_flow(problem, Initialization([[1.0]], [1.0]), 1e-100, 0.05)
    >>> bool(abs(run.half_fit_times[0] - 1.0) < 2 / np.log(1e100))
    True
    """
    with np.errstate(over="ignore", invalid="ignore"):  # a diverging run is detected, stopped and reported
        return _train(problems, inits, sigmas, step_size, runge_kutta=True, targets=targets, tolerance=tolerance,
                      max_steps=max_steps, min_rescaled_time=min_rescaled_time, patience=patience)
