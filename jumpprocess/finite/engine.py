"""``simulate_finite``: the training run at a given σ, computed without training.

docs/math/finite-sigma.rst, "The hybrid engine" and "The direct reference".

Both methods integrate the reduced m × n system exactly (:mod:`.vector_field`): the
gradient flow with the adaptive integrator of :mod:`.integrator`, gradient descent by
iterating its map. They differ in what they do with neurons far below the saddle scale:

* ``"direct"`` keeps every neuron in raw float64 for the whole run, plateaus included.
  Its cost grows like ln(1/σ), and σ is limited to what float64 represents (σ² a normal
  number). It is the reference the hybrid engine is tested against.
* ``"hybrid"`` keeps a neuron *small* while its amplitude is below ``δ`` times the
  amplitude scale of the labels: small neurons are left out of the residual, which makes
  them exactly linear, and are stored as a unit row times ``exp(log_scale)``. Whenever no
  large neuron moves (the residual has converged to ``r*``, which is 0 where a large
  neuron is active and ``y`` elsewhere), every small neuron is advanced in closed form
  (:mod:`.closed_form`) to the first time one of them reaches δ. Plateaus cost nothing,
  so the cost is bounded in σ: on the benchmark instance (n = 1000, m = 40)
  ``log_sigma = −10⁶`` costs 2.4 times ``−10`` under descent and less than it under the
  flow (docs/math/finite-sigma.rst, "What a run costs").
  Nothing assumes which neuron escapes when: co-escapes and cascades are integrated as
  they happen. Under gradient descent, samples whose residual is quiet (moves by at most
  ``Tolerances.quiet · max|y|`` over 32 steps) are advanced in closed form inside the
  windows too (:mod:`.quiet_descent`, checked and redone when wrong). The error comes
  from dropping the small neurons' own share of the residual, O(δ²) relative, and from
  the tolerances.
"""

from __future__ import annotations

import math
import numbers
import time
from dataclasses import dataclass, replace

import numpy as np

from .._values import as_real
from ..limit.alignment import check_compatible, check_step_size
from ..limit.scaling import check_magnitudes
from ..precision import smallest_sigma
from ..setting.initialization import Initialization
from ..setting.problem import OrthogonalProblem

__all__ = ["simulate_finite", "Tolerances", "check_log_sigma", "warm_up"]

_HUGE_STEPS = 2**62
_QUIET_INTERVAL = 32  # descent steps between the checks of the quiet samples (Tolerances.quiet)


@dataclass(frozen=True)
class Tolerances:
    """Accuracy knobs of the finite-σ engines (defaults meet the documented accuracy).

    Attributes
    ----------
    delta : float
        A neuron is small while its amplitude is below ``delta`` times the amplitude
        scale ``sqrt(min_i |y_i| / s_i)`` of the labels (hybrid only; the direct method
        uses it only to decide when the run is over).
    rtol : float
        Local error per gradient-flow step, relative to each neuron's amplitude.
    convergence : float
        A window ends when ``max_i |r_i − r*_i| <= convergence · max|y|``. The error this
        leaves is second order in it: ``r − r*`` vanishes off the covered samples, where
        small neurons have ``w = r* s = 0`` (docs/math/finite-sigma.rst).
    projection : float
        When ``max_i |r_i − r*_i| <= projection · max|y|`` and no small neuron is due to
        grow before the tail has died out, the rest of the convergence tail is done in
        closed form (:mod:`.projection`, error O(projection²)); 0 integrates every tail.
        Hybrid only.
    quiet : float
        Gradient descent, hybrid only: a sample whose residual moves by at most
        ``quiet · max|y|`` over an interval of 32 steps is *quiet*, and the coordinates of
        every neuron on it are advanced in closed form over the interval
        (:mod:`.quiet_descent`; checked at its end, and redone with the sample active if it
        moved more); 0 steps every coordinate. The error is absolute: a coordinate far
        below its neuron's amplitude on a converged sample (``r_i`` of order ``quiet``)
        can be off by a large fraction of its tiny value in ``parameters_at``; half-fit
        times and the loss are not (docs/math/finite-sigma.rst, "Quiet samples").
    max_steps : int
        Budget of integrator steps (flow) or descent steps integrated one by one (GD).
    """

    delta: float = 1e-6
    rtol: float = 1e-10
    convergence: float = 1e-5
    projection: float = 3e-4
    quiet: float = 1e-8
    max_steps: int = 20_000_000

    def __post_init__(self):
        for name in ("delta", "rtol", "convergence"):
            value = getattr(self, name)
            if not (isinstance(value, numbers.Real) and 0 < float(value) < 1):
                raise ValueError(f"{name} must be a number in (0, 1), got {value!r}")
        for name in ("projection", "quiet"):
            value = getattr(self, name)
            if not (isinstance(value, numbers.Real) and 0 <= float(value) < 1):
                raise ValueError(f"{name} must be a number in [0, 1), got {value!r}")
        if not isinstance(self.max_steps, numbers.Integral) or self.max_steps < 1:
            raise ValueError(f"max_steps must be a positive integer, got {self.max_steps!r}")


def check_log_sigma(sigma=None, log_sigma=None) -> float:
    """``ln σ`` from exactly one of ``sigma`` (0 < σ < 1) or ``log_sigma`` (< 0, finite)."""
    if (sigma is None) == (log_sigma is None):
        raise ValueError("give exactly one of sigma (0 < sigma < 1) or log_sigma (= ln sigma < 0), "
                         f"got sigma={sigma!r}, log_sigma={log_sigma!r}")
    if sigma is not None:
        value = _as_real(sigma, "sigma")
        if not (0.0 < value < 1.0):
            raise ValueError(f"sigma must satisfy 0 < sigma < 1, got {sigma!r}; "
                             "for sigma below the float range pass log_sigma = ln(sigma)")
        return math.log(value)
    value = _as_real(log_sigma, "log_sigma")
    if not (value < 0.0) or not math.isfinite(value):
        raise ValueError(f"log_sigma = ln(sigma) must be a finite number < 0, got {log_sigma!r}")
    return value


def _as_real(value, name) -> float:
    """A real number (numpy scalars and 0-d tensors accepted) that is not NaN."""
    value = as_real(value, name)
    if math.isnan(value):
        raise ValueError(f"{name} must be a number, got NaN")
    return value


@dataclass
class _State:
    X: np.ndarray          # (m, n+1): a_j, z_j·   (raw if large, unit-scaled if small)
    alive: np.ndarray      # (m, n) ReLU indicator
    large: np.ndarray      # (m,)
    log_scale: np.ndarray  # (m,) true row = exp(log_scale) · X
    clock: float           # t (flow) or step index (GD)

    def copy(self):
        return _State(self.X.copy(), self.alive.copy(), self.large.copy(), self.log_scale.copy(), self.clock)


def initial_state(problem, init, log_sigma, *, all_large: bool) -> _State:
    """``θ(0) = σ θ̄`` in reduced coordinates (docs/math/reduction.rst)."""
    m, n = init.m, problem.n
    X = np.zeros((m, n + 1))
    X[:, 0] = init.output_weights
    X[:, 1:] = init.preactivations / problem.norms
    alive = init.preactivations > 0.0
    if all_large:
        X *= math.exp(log_sigma)
        return _State(X, alive, np.ones(m, bool), np.zeros(m), 0.0)
    amp = np.sqrt(X[:, 0] ** 2 + np.sum(np.where(alive, X[:, 1:], 0.0) ** 2, axis=1))
    safe = np.where(amp > 0, amp, 1.0)
    X /= safe[:, None]
    return _State(X, alive, np.zeros(m, bool), log_sigma + np.log(safe), 0.0)


def simulate_finite(problem: OrthogonalProblem, init: Initialization, sigma=None, *, log_sigma=None,
                    step_size=None, method: str = "hybrid", tolerances: Tolerances | None = None,
                    stop_time: float | None = None):
    """The run at initialization scale σ, computed in reduced coordinates without training.

    Gradient flow (``step_size=None``) or gradient descent with step η of the real network
    from ``θ(0) = σ θ̄`` (docs/math/model.rst), in the original time ``t`` (``t = kη``
    after k descent steps), not the rescaled ``τ``.

    Parameters
    ----------
    problem : OrthogonalProblem
    init : Initialization
        The unit-scale ``θ̄ = (ā, Ū)``.
    sigma : float, optional
        ``0 < σ < 1``. Exactly one of ``sigma`` and ``log_sigma``.
    log_sigma : float, optional
        ``ln σ < 0``, for σ below the float range (``log_sigma = -1e6`` is fine for the
        hybrid method).
    step_size : float, optional
        ``None`` for gradient flow, else the gradient-descent step η > 0.
    method : {"hybrid", "direct"}
        See the module docstring; ``"direct"`` needs ``σ ≥ 1.5e-154`` (σ² a normal float).
    tolerances : Tolerances, optional
    stop_time : float, optional
        Stop at this time ``t`` (used by :meth:`FiniteRun.parameters_at`).

    Returns
    -------
    FiniteRun

    Raises
    ------
    ValueError
        Bad σ (≤ 0, ≥ 1, NaN, both or neither given), unknown method, a σ the direct
        method would underflow at, bad step size or tolerances, mismatched problem/init.

    Examples
    --------
    >>> from jumpprocess import make_problem, sample_initialization, simulate_finite
    >>> problem = make_problem(6, "sign-balanced", seed=0)
    >>> init = sample_initialization(problem, 4, "balanced", seed=1)
    >>> run = simulate_finite(problem, init, sigma=1e-8)
    >>> bool(run.loss_at(0.0) > run.loss_at(float("inf")))
    True
    """
    from .run import FiniteRun

    check_compatible(problem, init)
    eta = check_step_size(step_size)
    ln_sigma = check_log_sigma(sigma, log_sigma)
    if method not in ("hybrid", "direct"):
        raise ValueError(f"method must be 'hybrid' or 'direct', got {method!r}")
    tol = Tolerances() if tolerances is None else tolerances
    if not isinstance(tol, Tolerances):
        raise ValueError(f"tolerances must be a Tolerances, got {type(tol).__name__}")
    # Labels c·y and norms d·s: the run is that of (y, s) with σ' = σ √(d/c), times divided
    # by c d (docs/math/model.rst, the scaling covariance); c, d are powers of two, and
    # what float64 cannot hold is refused here, before any work.
    scaling = check_magnitudes(problem, init, eta)
    run_log_sigma = scaling.log_sigma(ln_sigma)
    if abs(3 * scaling.p + scaling.q) > 1000:
        raise ValueError(f"labels of size up to {float(np.max(np.abs(problem.labels))):.3g} (norms up to "
                         f"{float(np.max(problem.norms)):.3g}): the loss rate dL/dt of the run scales like "
                         "labels³ · norms and leaves float64; the dynamics are covariant (docs/math/model.rst): "
                         "rescale the labels to a moderate size and convert times (÷c) and losses (×c²) back")
    if method == "direct" and run_log_sigma < math.log(smallest_sigma()):
        raise ValueError(f"method='direct' runs in raw float64 and needs sigma >= {smallest_sigma():.3g} "
                         f"(sigma^2 a normal float); got ln(sigma) = {ln_sigma:.6g}. "
                         "Use method='hybrid', which takes any log_sigma.")
    if stop_time is not None:
        stop_time = _as_real(stop_time, "stop_time")
        if stop_time < 0:
            raise ValueError(f"stop_time must be >= 0, got {stop_time!r}")
    startup = warm_up()
    start = time.perf_counter()
    rate = scaling.rate_factor
    runner = _Runner(scaling.problem(problem), scaling.init(init), run_log_sigma, scaling.step_size(eta), method, tol)
    state, records, status = runner.run(math.inf if stop_time is None else stop_time * rate)
    run = FiniteRun._build(problem=problem, init=init, log_sigma=ln_sigma, step_size=eta, method=method,
                           tolerances=tol, state=state, records=records, status=status,
                           seconds=time.perf_counter() - start, startup_seconds=startup, norms=runner.s)
    return run if scaling.identity else run._rescaled(scaling)


_WARM = []


def warm_up() -> float:
    """Load (or compile, the first time on a machine) the numba kernels; seconds spent.

    Runs once per process on a two-sample problem through every kernel, so that the
    ``seconds`` of a :class:`FiniteRun` measure the computation, not compilation. Later
    calls return 0.
    """
    if _WARM:
        return 0.0
    start = time.perf_counter()
    _WARM.append(True)
    tiny = OrthogonalProblem([1.0, -0.5])
    init = Initialization([[0.3, 0.2], [-0.1, 0.4]], [0.5, -0.6])
    for eta in (None, 0.5):
        for log_sigma, method in ((-3.0, "direct"), (-40.0, "hybrid")):
            _Runner(tiny, init, log_sigma, eta, method, Tolerances()).run(math.inf)
    return time.perf_counter() - start


class _Records:
    """What the run leaves behind: loss samples (time, loss, dL/dt) and half-fit times."""

    def __init__(self, n):
        self.chunks = []
        self.half_fit = np.full(n, np.nan)

    def add(self, t, loss, rate, plateau=False):
        self.chunks.append(np.array([[t, loss, rate, 1.0 if plateau else 0.0]]))

    def extend(self, times, losses):
        self.chunks.append(np.column_stack([times, losses, np.zeros_like(losses), np.zeros_like(losses)]))

    def last_loss(self):
        return float(self.chunks[-1][-1, 1])

    def set_last_rate(self, rate):
        self.chunks[-1][-1, 2] = rate

    def table(self):
        return np.concatenate(self.chunks, axis=0)


class _Runner:
    def __init__(self, problem, init, log_sigma, eta, method, tol):
        from . import closed_form, quiet_descent, vector_field

        self.cf = closed_form
        self.qd = quiet_descent
        self.vf = vector_field
        self.problem, self.init, self.eta, self.tol = problem, init, eta, tol
        self.hybrid = method == "hybrid"
        self.y = np.asarray(problem.labels, dtype=np.float64)
        self.s = np.asarray(problem.norms, dtype=np.float64)
        self.n = self.y.shape[0]
        nonzero = self.y != 0
        scale = math.sqrt(float(np.min(np.abs(self.y[nonzero]) / self.s[nonzero]))) if nonzero.any() else 1.0
        self.log_delta = math.log(tol.delta * scale)
        self.log_cover = self.log_delta - 1e-9  # a large neuron this close to δ is on δ (rounding)
        self.state = initial_state(problem, init, log_sigma, all_large=not self.hybrid)
        self.records = _Records(self.n)
        self._ymax = float(np.max(np.abs(self.y), initial=0.0))
        self.quiet_counts = np.zeros(4, dtype=np.int64)  # see quiet_descent_window

    # -- small neurons -------------------------------------------------------------------
    def _small_rows(self):
        """Neurons below δ: every small one, and large ones that shrank below δ.

        "Below δ" for a large neuron means below ``log_cover``, δ less a relative 1e-9: a
        neuron promoted at δ sits on δ only up to rounding, and counting it as shrunk would
        give it a time to δ of order 1e-14, which the clock (up to 1e7 at ln σ = −1e6)
        cannot represent, while it would not cover its samples either (no window).
        """
        st = self.state
        amps = self.vf.amplitudes(st.X, st.alive)
        with np.errstate(divide="ignore"):
            return np.flatnonzero(~st.large | (np.log(amps) + st.log_scale < self.log_cover))

    def _promote(self):
        """Small neurons that reached δ become large; returns how many did."""
        if not self.hybrid:
            return 0
        st = self.state
        return self.vf.manage_small(st.X, st.alive, st.large, st.log_scale, self.log_delta)

    def _target_residual(self):
        st = self.state
        return self.vf.covered_residual(st.X, st.alive, st.large, st.log_scale, self.y, self.log_cover)

    def _time_to_delta(self, rows, w):
        """Time (flow) or steps (GD) until each small row would reach δ under ``w``."""
        st = self.state
        out = np.full(len(rows), np.inf)
        for k, j in enumerate(rows):
            row = st.X[j].copy()
            alive = st.alive[j].copy()
            amp = float(self.vf.row_amplitude(st.X, st.alive, j))
            if amp == 0.0:
                continue
            row /= amp
            target = self.log_delta - (st.log_scale[j] + math.log(amp))
            if self.eta is None:
                elapsed, _, reached, _ = self.cf.flow_segment(row, alive, w, self.n, math.inf, target)
            else:
                elapsed, _, reached, _ = self.cf.descent_segment(row, alive, w, self.n, self.eta, _HUGE_STEPS, target)
            if reached:
                out[k] = elapsed
        return out

    def _advance_small(self, rows, w, amount):
        st = self.state
        for j in rows:
            row = st.X[j]
            amp = float(self.vf.row_amplitude(st.X, st.alive, j))
            if amp == 0.0:
                continue
            row /= amp
            if self.eta is None:
                _, growth, _, _ = self.cf.flow_segment(row, st.alive[j], w, self.n, float(amount), math.inf)
            else:
                _, growth, _, _ = self.cf.descent_segment(row, st.alive[j], w, self.n, self.eta, int(amount), math.inf)
            st.log_scale[j] += math.log(amp) + growth
            if st.large[j]:  # raw rows: fold the scale back in
                st.X[j] *= math.exp(st.log_scale[j])
                st.log_scale[j] = 0.0

    def _reach_delta(self, rows):
        """Put the rows that were advanced exactly to their time to δ on δ.

        The closed form lands them on ``ln δ`` up to rounding, which for a log-scale of
        size 10⁶ (ln σ = −10⁶) is about 1e-10: a row left that far below δ would be given
        an ever smaller time to δ and the plateau loop would not end.
        """
        st = self.state
        for j in rows:
            if st.large[j]:
                continue
            amp = float(self.vf.row_amplitude(st.X, st.alive, j))
            if amp > 0.0:
                st.log_scale[j] = max(st.log_scale[j], self.log_delta - math.log(amp))

    def _loss(self):
        st = self.state
        r = self.vf.residual(st.X, st.alive, st.large, self.y, self.s)
        return 0.5 * float(r @ r) / self.n

    # -- the run ---------------------------------------------------------------------------
    def run(self, stop_time):
        self._promote()
        self.records.add(0.0, self._loss(), 0.0)
        if self._ymax == 0.0:
            # Every label is 0: nothing is ever fitted, and the network only decays from σθ̄.
            return self.state, self.records, "nothing to fit: every label is 0"
        status = "finished: no neuron below the threshold can grow any more"
        idle = 0  # plateaus in a row after which nothing became large (a guard: 0 or 1 in practice)
        while True:
            if self._promote():
                idle = 0
                self._projection_blocked = False  # a new cover: the tail may be projectable again
            elif idle > 100:
                raise RuntimeError("simulate_finite: 100 plateaus in a row ended with no neuron reaching the "
                                   "threshold; please report this instance")
            code = self._window(stop_time)
            if code != "converged":
                status = code
                break
            rows = self._small_rows()
            w = self._target_residual() * self.s
            times = self._time_to_delta(rows, w)
            dt = float(times.min(initial=math.inf))
            clock = self.state.clock
            if dt == math.inf:
                break
            if not self.hybrid:
                # The direct method integrates the plateau; it only learns when to look again.
                self._check_after = clock + dt
                continue
            if stop_time == math.inf:
                limit = math.inf
            else:
                limit = (stop_time - clock) if self.eta is None else math.floor(stop_time / self.eta + 1e-9) - clock
            if limit <= 0:
                status = "stopped at the requested time"
                break
            amount = min(dt, limit)
            loss = self.records.last_loss()
            self._advance_small(rows, w, amount)
            idle += 1
            if amount == dt:
                self._reach_delta(rows[times == dt])
            self.state.clock = clock + amount
            self.records.add(self._time(), loss, 0.0, plateau=True)
            if amount < dt:
                status = "stopped at the requested time"
                break
        return self.state, self.records, status

    def _time(self):
        return self.state.clock if self.eta is None else self.state.clock * self.eta

    _check_after = -math.inf

    def _window(self, stop_time):
        if self.eta is None:
            return self._flow_window(stop_time)
        return self._descent_window(stop_time)

    def _descent_window(self, stop_time):
        st = self.state
        vf = self.vf
        half = np.full(self.n, -1, dtype=np.int64)
        stop_step = _HUGE_STEPS if stop_time == math.inf else int(math.floor(stop_time / self.eta + 1e-9))
        chunk = 4096
        taken_total = 0
        quiet = self.hybrid and self.tol.quiet > 0
        drift = np.full(self.n, np.inf)  # nothing is known to be quiet at a window's start
        while True:
            losses = np.empty(chunk)
            step0 = int(st.clock)
            args = (st.X, st.alive, st.large, st.log_scale, self.y, self.s, self.eta,
                    self.log_delta if self.hybrid else math.inf, self.log_cover, self.tol.convergence,
                    self._projection_tol(), chunk, step0, _check_step(self._check_after), stop_step, half, losses)
            if quiet:
                k, code = self.qd.quiet_descent_window(*args, float(self.tol.quiet), _QUIET_INTERVAL, drift,
                                                     self.quiet_counts)
            else:
                k, code = vf.descent_window(*args)
            recorded = k if code in (1, 2) else k + 1
            self.records.extend(np.arange(step0, step0 + recorded) * self.eta, losses[:recorded].copy())
            st.clock = step0 + k
            taken_total += k
            newly = (half >= 0) & np.isnan(self.records.half_fit)
            self.records.half_fit[newly] = half[newly] * self.eta
            if code == 0:
                return "converged"
            if code == 5:
                self._try_projection()
                continue
            if code == 1:
                self._projection_blocked = False
            if code == 3:
                return "stopped at the requested time"
            if code == 4:
                return "diverged: the loss became non-finite (step size too large?)"
            if taken_total >= self.tol.max_steps:
                return f"step budget exhausted after {taken_total} descent steps (unstable step size?)"
            # code 1 (a neuron became large) or 2 (chunk done): keep going.

    def _flow_window(self, stop_time):
        from .integrator import FlowSystem, first_crossing

        st = self.state
        system = FlowSystem(self.y, self.s)
        r, f = system.derivative(st.X, st.alive, st.large)
        dr = system.residual_rate(st.X, f, st.alive, st.large)
        self.records.set_last_rate(float(r @ dr) / self.n)
        h = getattr(self, "_h", None) or self._initial_step()
        steps = 0
        while True:
            if steps % 4 == 0 and st.clock >= self._check_after:
                gap = self._gap()
                if gap <= self.tol.convergence * self._ymax:
                    self._h = h
                    return "converged"
                if gap <= self._projection_tol() * self._ymax:
                    self._try_projection()
                    r, f = system.derivative(st.X, st.alive, st.large)
                    dr = system.residual_rate(st.X, f, st.alive, st.large)
                    self.records.set_last_rate(float(r @ dr) / self.n)
                    steps += 1
                    continue
            if st.clock >= stop_time:
                return "stopped at the requested time"
            h = min(h, stop_time - st.clock)
            X1, r1, f1, err = system.step(st.X, f, h, st.alive, st.large)
            steps += 1
            if steps > self.tol.max_steps:
                return f"step budget exhausted after {steps} integrator steps"
            if not np.isfinite(err) or err > self.tol.rtol:
                h *= 0.1 if not np.isfinite(err) else max(0.1, 0.9 * (self.tol.rtol / err) ** 0.2)
                continue
            used = h
            crossing = st.alive & (X1[:, 1:] <= 0.0)
            changed = bool(crossing.any())
            if changed:
                # A ReLU death inside the step: redo the step up to the first crossing.
                rows, cols = np.nonzero(crossing)
                theta = first_crossing(st.X[rows, cols + 1], X1[rows, cols + 1], h * f[rows, cols + 1],
                                       h * f1[rows, cols + 1], 0.0)
                k = int(np.argmin(theta))
                if theta[k] < 1.0:
                    used = float(theta[k]) * h
                    X1, r1, f1, _ = system.step(st.X, f, used, st.alive, st.large)
                dying = st.alive & (X1[:, 1:] <= 0.0)
                dying[rows[k], cols[k]] = True
                X1[:, 1:][dying] = 0.0
                st.alive[dying] = False
            t0 = st.clock
            st.X = X1
            st.clock = t0 + used
            promoted = self._promote()
            if promoted or changed:
                self._projection_blocked = False
                r1, f1 = system.derivative(st.X, st.alive, st.large)
            dr1 = system.residual_rate(st.X, f1, st.alive, st.large)
            self.records.add(st.clock, 0.5 * float(r1 @ r1) / self.n, float(r1 @ dr1) / self.n)
            self._half_fits(t0, used, r, dr, r1, dr1, first_crossing)
            if used == h:
                h = used * min(5.0, 0.9 * (self.tol.rtol / max(err, 1e-300)) ** 0.2)
            r, f, dr = r1, f1, dr1

    def _half_fits(self, t0, h, r0, dr0, r1, dr1, first_crossing):
        """First times with ``|r_i| <= |y_i|/2``, located on the Hermite interpolant of the step."""
        half = 0.5 * np.abs(self.y)
        hit = (np.abs(r1) <= half) & (self.y != 0)
        if not hit.any():
            return
        hit &= np.isnan(self.records.half_fit)
        if not hit.any():
            return
        idx = np.flatnonzero(hit)
        sign = np.sign(r0[idx])
        inside = np.abs(r0[idx]) > half[idx]
        theta = np.zeros(idx.size)
        if inside.any():
            k = idx[inside]
            theta[inside] = first_crossing(sign[inside] * r0[k], sign[inside] * r1[k], h * sign[inside] * dr0[k],
                                           h * sign[inside] * dr1[k], half[k])
        self.records.half_fit[idx] = t0 + theta * h

    def _initial_step(self):
        v = self.y * self.s
        rate = max(float(np.linalg.norm(v)) / self.n, float(np.max(np.abs(v))) / self.n, 1e-300)
        return 1e-2 / rate

    def _gap(self):
        st = self.state
        return self.vf.stationarity_gap(st.X, st.alive, st.large, st.log_scale, self.y, self.s, self.log_cover)

    _projection_blocked = False

    def _projection_tol(self):
        if not self.hybrid or self._projection_blocked:
            return 0.0
        return float(self.tol.projection)

    def _try_projection(self):
        """Do the rest of the convergence tail in closed form, if nothing grows before it ends.

        Refused (and not tried again until the cover changes) when a covered sample is not
        half-fitted yet or a small neuron would reach δ within twice the tail's duration.
        """
        from .projection import kernel_diagonal, project_tail

        self._projection_blocked = True
        st = self.state
        amps = self.vf.amplitudes(st.X, st.alive)
        with np.errstate(divide="ignore"):
            cover = st.large & (st.X[:, 0] != 0.0) & (np.log(amps) + st.log_scale >= self.log_cover)
        covered = st.alive[cover].any(axis=0)
        if np.any(covered & (self.y != 0) & np.isnan(self.records.half_fit)):
            return False
        r = self.vf.residual(st.X, st.alive, st.large, self.y, self.s)
        gap = float(np.max(np.abs(r[covered]), initial=0.0))
        if gap == 0.0:
            return False
        D = kernel_diagonal(st.X, st.alive, st.large, covered, self.s, self.n)
        if D.size == 0 or np.min(D) <= 0:
            return False
        tail = math.log(max(gap / (1e-12 * self._ymax), 1.0)) / float(np.min(D))
        if self.eta is not None:
            tail /= self.eta
        small = self._small_rows()
        times = self._time_to_delta(small, self._target_residual() * self.s)
        if times.size and float(times.min()) < 2.0 * tail:
            return False
        project_tail(st.X, st.alive, st.large, covered, r, self.y, self.s, self.n)
        self.records.add(self._time(), self._loss(), 0.0)
        return True


def _check_step(value):
    if value == -math.inf:
        return -(2**62)
    return int(math.ceil(value))
