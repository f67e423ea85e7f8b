"""``FiniteRun``: the training run at one σ, and how it compares with the σ→0 limit.

docs/math/finite-sigma.rst, "The run at σ" and "Offsets from the limit".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from ..setting.initialization import Initialization
from ..setting.problem import OrthogonalProblem
from .engine import Tolerances

__all__ = ["FiniteRun", "LimitComparison"]


@dataclass(frozen=True, eq=False)
class FiniteRun:
    """The run of gradient flow or descent from ``σ θ̄``, computed in reduced coordinates.

    Times are the original time ``t`` of training (``t = kη`` after k descent steps),
    not the rescaled ``τ = t / ln(1/σ)`` of the limit. Built by
    :func:`jumpprocess.simulate_finite`.

    Attributes
    ----------
    problem : OrthogonalProblem
    init : Initialization
    log_sigma : float
        ``ln σ`` (σ itself may be below the float range).
    step_size : float or None
        ``η`` for gradient descent, ``None`` for the flow.
    method : str
        ``"hybrid"`` or ``"direct"``.
    half_fit_times : ndarray, shape (n,)
        First ``t`` with ``|r_i| <= |y_i| / 2`` (GD: the step index times η); NaN where
        never half-fitted or ``y_i = 0``.
    samples : ndarray, shape (K, 4)
        Recorded ``(t, L, dL/dt, plateau)``; ``plateau = 1`` marks the end of a plateau
        skipped in closed form (the loss is constant up to it). ``loss_at`` interpolates.
    output_weights, preactivations : ndarray, shapes (m,), (m, n)
        The state at the end, ``a_j`` and ``U_ji`` (values below the float range are 0).
    left_linear : ndarray of bool, shape (m,)
        Neurons that left the linear regime (reached δ) during the run.
    status : str
        How the run ended, as a sentence.
    seconds : float
        Wall time of the computation (numba's one-time kernel loading excluded).
    startup_seconds : float
        One-time cost paid by this call to load or compile the kernels (0 after the first
        call in a process).
    """

    problem: OrthogonalProblem
    init: Initialization = field(repr=False)
    log_sigma: float
    step_size: float | None
    method: str
    tolerances: Tolerances = field(repr=False)
    half_fit_times: np.ndarray = field(repr=False)
    samples: np.ndarray = field(repr=False)
    output_weights: np.ndarray = field(repr=False)
    preactivations: np.ndarray = field(repr=False)
    left_linear: np.ndarray = field(repr=False)
    status: str = ""
    seconds: float = 0.0
    startup_seconds: float = 0.0

    @classmethod
    def _build(cls, *, problem, init, log_sigma, step_size, method, tolerances, state, records, status, seconds,
               startup_seconds=0.0, norms=None):
        scale = np.exp(state.log_scale)
        norms = problem.norms if norms is None else norms
        with np.errstate(under="ignore"):
            a = state.X[:, 0] * scale
            U = state.X[:, 1:] * scale[:, None] * norms[None, :]
        samples = records.table()
        for array in (a, U, samples, records.half_fit, state.large):
            array.setflags(write=False)
        return cls(problem=problem, init=init, log_sigma=float(log_sigma), step_size=step_size, method=method,
                   tolerances=tolerances, half_fit_times=records.half_fit, samples=samples, output_weights=a,
                   preactivations=U, left_linear=state.large.copy(), status=status, seconds=seconds,
                   startup_seconds=startup_seconds)

    def _rescaled(self, scaling) -> "FiniteRun":
        """Back from the run on labels ``y/2^p`` and norms ``s/2^q`` (docs/math/model.rst):
        times ``/2^(p+q)``, losses ``·4^p``, ``(a, U)`` by :meth:`Scaling.parameters
        <jumpprocess.limit.scaling.Scaling.parameters>`."""
        import dataclasses

        p, q = scaling.p, scaling.q
        rate = scaling.rate_factor
        samples = self.samples.copy()
        samples[:, 0] /= rate
        samples[:, 1] *= math.ldexp(1.0, 2 * p)
        samples[:, 2] *= math.ldexp(1.0, 3 * p + q)
        a, U = scaling.parameters(self.output_weights, self.preactivations)
        arrays = {"half_fit_times": self.half_fit_times / rate, "samples": samples,
                  "output_weights": a, "preactivations": U}
        for array in arrays.values():
            array.setflags(write=False)
        return dataclasses.replace(self, **arrays)

    # ---- scalars -------------------------------------------------------------------------
    @property
    def sigma(self) -> float:
        """σ as a float (0.0 when it is below the float range; see ``log_sigma``)."""
        return math.exp(self.log_sigma)

    @property
    def log_inverse_sigma(self) -> float:
        """``ln(1/σ)``, the factor between original and rescaled time."""
        return -self.log_sigma

    @property
    def final_time(self) -> float:
        """The last recorded time ``t``: after it nothing below δ can grow any more."""
        return float(self.samples[-1, 0])

    @property
    def m(self) -> int:
        return self.init.m

    @property
    def n(self) -> int:
        return self.problem.n

    # ---- who fitted what ---------------------------------------------------------------
    @cached_property
    def shares(self) -> np.ndarray:
        """``a_j relu(U_ji) / y_i`` at the end, shape (m, n): each neuron's share of each fit."""
        y = self.problem.labels
        with np.errstate(divide="ignore", invalid="ignore"):
            out = self.output_weights[:, None] * np.maximum(self.preactivations, 0.0) / np.where(y != 0, y, np.nan)
        return np.nan_to_num(out, nan=0.0)

    @cached_property
    def fitted_by(self) -> np.ndarray:
        """For each half-fitted sample, the neuron with the largest share at the end; −1 elsewhere."""
        owner = np.argmax(self.shares, axis=0) if self.m else np.zeros(self.n, dtype=np.int64)
        return np.where(np.isfinite(self.half_fit_times), owner, -1).astype(np.int64)

    @cached_property
    def _jumps(self):
        jumps = []
        for j in np.unique(self.fitted_by[self.fitted_by >= 0]):
            samples = np.flatnonzero(self.fitted_by == j)
            jumps.append((float(np.min(self.half_fit_times[samples])), int(j), samples))
        jumps.sort(key=lambda item: (item[0], item[1]))
        return jumps

    @property
    def neurons(self) -> np.ndarray:
        """The neurons that fit samples, in order of activation (first half-fit among their samples)."""
        return np.array([j for _, j, _ in self._jumps], dtype=np.int64)

    @property
    def fitted(self) -> tuple:
        """Samples fitted by each neuron of :attr:`neurons` (tuple of int arrays, same meaning as on ``Trajectory``)."""
        return tuple(samples for _, _, samples in self._jumps)

    @property
    def activation_times(self) -> np.ndarray:
        """Time ``t`` of each activation: the first half-fit among the neuron's samples."""
        return np.array([t for t, _, _ in self._jumps], dtype=np.float64)

    # ---- evaluation ------------------------------------------------------------------
    def loss_at(self, t) -> np.ndarray | float:
        """Training loss ``L(t)`` (vectorized; ``t = inf`` gives the end value).

        Flow: cubic Hermite interpolation of the recorded ``(t, L, dL/dt)`` inside
        integrated windows, constant over plateaus skipped in closed form. Descent: the
        loss of iterate ``⌊t/η⌋``.
        """
        times = np.asarray(t, dtype=np.float64)
        if np.any(np.isnan(times)) or np.any(times < 0):
            raise ValueError("t must be >= 0 (and not NaN)")
        table = self.samples
        T, L, D, P = table[:, 0], table[:, 1], table[:, 2], table[:, 3]
        flat = times.reshape(-1)
        out = np.empty_like(flat)
        if self.step_size is not None:
            steps = np.floor(flat / self.step_size + 1e-9) * self.step_size
            idx = np.searchsorted(T, steps, side="right") - 1
            out[:] = L[np.clip(idx, 0, len(L) - 1)]
        else:
            idx = np.clip(np.searchsorted(T, flat, side="right") - 1, 0, len(T) - 1)
            nxt = np.minimum(idx + 1, len(T) - 1)
            h = T[nxt] - T[idx]
            plateau = P[nxt] == 1.0
            with np.errstate(divide="ignore", invalid="ignore"):
                theta = np.where(h > 0, (flat - T[idx]) / np.where(h > 0, h, 1.0), 0.0)
            theta = np.clip(theta, 0.0, 1.0)
            t2, t3 = theta * theta, theta**3
            cubic = ((2 * t3 - 3 * t2 + 1) * L[idx] + (t3 - 2 * t2 + theta) * h * D[idx]
                     + (-2 * t3 + 3 * t2) * L[nxt] + (t3 - t2) * h * D[nxt])
            out[:] = np.where((h > 0) & ~plateau, cubic, L[idx])
            out[flat >= T[-1]] = L[-1]
        return float(out[0]) if times.ndim == 0 else out.reshape(times.shape)

    def parameters_at(self, t) -> tuple[np.ndarray, np.ndarray]:
        """``(a, U)`` at time ``t`` in reduced coordinates (``t = inf``: the end state).

        Recomputed by running the same engine up to ``t`` (deterministic); values below
        the float range are 0.
        """
        from .engine import simulate_finite

        value = float(t)
        if math.isnan(value) or value < 0:
            raise ValueError(f"t must be >= 0, got {t!r}")
        if value == math.inf:
            return self.output_weights, self.preactivations
        run = simulate_finite(self.problem, self.init, log_sigma=self.log_sigma, step_size=self.step_size,
                              method=self.method, tolerances=self.tolerances, stop_time=value)
        return run.output_weights, run.preactivations

    # ---- against the limit -------------------------------------------------------------
    def compare_limit(self, trajectory=None) -> "LimitComparison":
        """Which jumps of the σ→0 limit this run reproduces, in which order, and the offsets.

        Parameters
        ----------
        trajectory : Trajectory, optional
            The limit of the same problem, init and step size; computed when omitted.
        """
        if trajectory is None:
            from ..limit.engine import simulate

            trajectory = simulate(self.problem, self.init, self.step_size)
        return LimitComparison.of(self, trajectory)

    def to_dict(self, trajectory=None) -> dict:
        """A JSON-ready summary: σ, method, status, half-fit times, activations, the limit comparison."""
        comparison = self.compare_limit(trajectory)

        def floats(values):
            return [None if not np.isfinite(v) else float(v) for v in np.asarray(values, dtype=float)]

        return {
            "log_sigma": self.log_sigma, "step_size": self.step_size, "method": self.method,
            "status": self.status, "final_time": self.final_time,
            "half_fit_times": floats(self.half_fit_times),
            "neurons": self.neurons.tolist(), "fitted": [f.tolist() for f in self.fitted],
            "activation_times": floats(self.activation_times),
            "limit": {"reproduced": comparison.reproduced.tolist(), "offsets": floats(comparison.offsets),
                      "order_preserved": comparison.order_preserved,
                      "extra_activations": comparison.extra_activations,
                      "reproduces_all": comparison.reproduces_all},
            "tolerances": {"delta": self.tolerances.delta, "rtol": self.tolerances.rtol,
                           "convergence": self.tolerances.convergence},
        }

    def __repr__(self):
        method = "gradient flow" if self.step_size is None else f"gradient descent (η = {self.step_size:g})"
        return (f"FiniteRun(n={self.n}, m={self.m}, ln σ = {self.log_sigma:.6g}, {method}, {self.method}: "
                f"{len(self.neurons)} activations, {int(np.isfinite(self.half_fit_times).sum())}/"
                f"{int((self.problem.labels != 0).sum())} samples half-fitted; {self.status})")


@dataclass(frozen=True, eq=False)
class LimitComparison:
    """The finite run against the limit, jump by jump (docs/math/finite-sigma.rst).

    Attributes
    ----------
    reproduced : ndarray of bool, shape (J,)
        Limit jump k is reproduced when a neuron of its tie group (the neuron itself, or a
        neuron tied with it on an identical remaining set) fits exactly the same samples.
    finite_times : ndarray, shape (J,)
        Activation time ``t`` of the matching finite jump (NaN where not reproduced).
    offsets : ndarray, shape (J,)
        ``t − τ_k ln(1/σ)``: how far the finite run lags the limit, in original time.
    order_preserved : bool
        Whether the reproduced jumps happen in the limit's order (jumps at one limit time,
        a tie, may come in any order among themselves).
    reproduces_all : bool
        Every limit jump reproduced, in order, and no other activation.
    """

    limit_times: np.ndarray
    reproduced: np.ndarray
    finite_times: np.ndarray
    offsets: np.ndarray
    order_preserved: bool
    extra_activations: int

    @classmethod
    def of(cls, run: FiniteRun, trajectory) -> "LimitComparison":
        jumps = {j: (t, samples) for t, j, samples in run._jumps}
        J = trajectory.num_jumps
        reproduced = np.zeros(J, dtype=bool)
        finite_times = np.full(J, np.nan)
        used = set()
        for k, event in enumerate(trajectory.events):
            group = [event.neuron] + (list(event.tied_with) if event.identical else [])
            for j in group:
                if j in jumps and j not in used and np.array_equal(jumps[j][1], event.fitted):
                    reproduced[k] = True
                    finite_times[k] = jumps[j][0]
                    used.add(j)
                    break
        limit_times = trajectory.jump_times * run.log_inverse_sigma
        # Order between distinct limit times only: the members of a tie (one τ) have no order
        # in the limit, and at finite σ they activate in the order of their O(1) prefactors.
        order, previous = True, -np.inf
        taus = trajectory.jump_times[reproduced]
        hits = finite_times[reproduced]
        for tau in np.unique(taus):
            block = hits[taus == tau]
            order &= bool(block.min() >= previous)
            previous = max(previous, float(block.max()))
        return cls(limit_times=limit_times, reproduced=reproduced, finite_times=finite_times,
                   offsets=finite_times - limit_times, order_preserved=order,
                   extra_activations=len(jumps) - len(used))

    @property
    def reproduces_all(self) -> bool:
        return bool(self.reproduced.all() and self.order_preserved and self.extra_activations == 0)

    def __repr__(self):
        return (f"LimitComparison({int(self.reproduced.sum())}/{self.reproduced.size} limit jumps reproduced, "
                f"order {'kept' if self.order_preserved else 'changed'}, {self.extra_activations} other activations)")
