"""The limit trajectory: a piecewise-constant path of saddles in rescaled time.

docs/math/race.rst, docs/math/saddles.rst, docs/math/ties.rst.

Time is rescaled: ``τ = t / ln(1/σ)`` for the loss ``L = 1/(2n) Σ (f(x_i) − y_i)²``
(docs/math/model.rst; a loss ``c/(2n) Σ`` divides every time by ``c``). Between jumps the network
sits at a saddle (docs/math/saddles.rst); at each jump time one neuron (or a tie group, docs/math/ties.rst)
jumps to its saddle value.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from enum import Enum
from functools import cached_property

import numpy as np

from .._values import as_float_array, as_real
from ..precision import DTYPE
from ..setting.problem import OrthogonalProblem
from .race import JumpEvent
from .scaling import ldexp as _ldexp

__all__ = ["Trajectory", "Status", "saddle_output_weight"]

FORMAT_VERSION = 1


class Status(str, Enum):
    """How a run ended; :attr:`Trajectory.status` gives the full sentence."""

    INTERPOLATED = "interpolated"
    STALLED = "stalled"
    AMBIGUOUS = "ambiguous"
    UNSTABLE_STEP = "unstable-step"


def saddle_output_weight(labels, norms, sign) -> float:
    """``a_k = sgn_k (Σ_{i∈F} y_i² / s_i²)^{1/4}`` for a neuron fitting ``F`` (docs/math/saddles.rst)."""
    return float(sign) * float(np.sum((np.asarray(labels) / np.asarray(norms)) ** 2)) ** 0.25


def _side_for_search(side: str) -> str:
    if side not in ("left", "right"):
        raise ValueError(f"side must be 'left' (limit from before a jump) or 'right' (after), got {side!r}")
    return side


@dataclass(frozen=True, eq=False)
class Trajectory:
    """The σ→0 limit of training: jumps between saddles.

    docs/math/race.rst, docs/math/saddles.rst, docs/math/ties.rst.

    Do not build one by hand: :func:`jumpprocess.simulate` returns it.

    Attributes
    ----------
    problem : OrthogonalProblem
    step_size : float or None
        Gradient-descent step η, or ``None`` for gradient flow.
    signs : ndarray of int8, shape (m,)
        Early-alignment signs ``sgn_j`` (docs/math/alignment.rst).
    good_sets : ndarray of bool, shape (m, n)
        Good sets ``G_j`` (docs/math/alignment.rst).
    events : tuple of JumpEvent
        One per activation, in order.
    exponents : ndarray, shape (J, m)
        Exponents ``e_j`` just after each jump (0 for active neurons; docs/math/race.rst).
    rates : ndarray, shape (J, m)
        Rates ``λ_j`` in force on the plateau that ends at each jump.
    joint : tuple of JointJump
        Joint escapes of overlapping ties (``ties="joint"``, :mod:`jumpprocess.limit.ties`):
        neurons that share the fit of their samples; empty under ``ties="index"``.
    ties : str
        How overlapping ties were resolved: ``"index"`` (lowest index first, a convention)
        or ``"joint"`` (the joint escape, docs/math/ties.rst).

    Examples
    --------
    >>> from jumpprocess import OrthogonalProblem, Initialization, simulate
    >>> p = OrthogonalProblem([1.0, 1.0, -1.0])
    >>> init = Initialization([[1.0, 1.0, -1.0], [-1.0, 1.0, 1.0]], [2.0, -2.0])
    >>> traj = simulate(p, init)
    >>> traj.neurons.tolist(), [f.tolist() for f in traj.fitted]
    ([0, 1], [[0, 1], [2]])
    >>> traj.jump_times.round(4).tolist()   # 1/λ_0 = 3/√2; neuron 1 never changes rate: 1/λ_1 = 3
    [2.1213, 3.0]
    >>> traj.loss_at([0.0, 2.5, np.inf]).tolist()
    [0.5, 0.16666666666666666, 0.0]
    """

    problem: OrthogonalProblem
    step_size: float | None
    signs: np.ndarray
    good_sets: np.ndarray
    events: tuple
    exponents: np.ndarray
    rates: np.ndarray
    joint: tuple = ()
    ties: str = "index"

    # ---- the contract -------------------------------------------------------------
    @cached_property
    def jump_times(self) -> np.ndarray:
        """Rescaled jump times τ_1 <= τ_2 <= ... (float array, length J)."""
        return np.array([event.time for event in self.events], dtype=DTYPE)

    @cached_property
    def neurons(self) -> np.ndarray:
        """The neuron activated at each jump (int array, length J)."""
        return np.array([event.neuron for event in self.events], dtype=np.int64)

    @cached_property
    def fitted(self) -> tuple:
        """Samples fitted at each jump (tuple of int arrays)."""
        return tuple(event.fitted for event in self.events)

    @cached_property
    def plateau_losses(self) -> np.ndarray:
        """``(1/2n) Σ_{i∈R} y_i²`` on each plateau (length J + 1; docs/math/saddles.rst)."""
        # Suffix sums of positive terms (uncovered mass + what later jumps fit): no
        # cancellation, unlike total − cumulative fitted mass.
        # Labels of extreme size are summed normalized and scaled back exactly (scaling module).
        y2 = self._normal_problem.labels**2
        masses = [math.fsum(y2[self.uncovered])] + [math.fsum(y2[f]) for f in reversed(self.fitted)]
        remaining = np.cumsum(masses)[::-1]
        with np.errstate(over="ignore"):  # a loss past float64 is inf (simulate refuses such problems)
            return np.ldexp(remaining / (2 * self.problem.n), 2 * self._scaling.p)

    @cached_property
    def _scaling(self):
        """Powers of two normalizing extreme labels and norms (:mod:`jumpprocess.limit.scaling`)."""
        from .scaling import scaling_for

        return scaling_for(self.problem)

    @cached_property
    def _normal_problem(self) -> OrthogonalProblem:
        """The problem with labels ``y / 2^p`` and norms ``s / 2^q`` (itself when p = q = 0)."""
        return self._scaling.problem(self.problem)

    def _normal_saddle_weight(self, event) -> float:
        normal = self._normal_problem
        return saddle_output_weight(normal.labels[event.fitted], normal.norms[event.fitted], self.signs[event.neuron])

    @cached_property
    def interpolates(self) -> bool:
        """Whether every sample with ``y_i != 0`` is fitted (⇔ coverage, docs/math/race.rst)."""
        return self.uncovered.size == 0

    @cached_property
    def squared_norm(self) -> float:
        """Final ``Σ_j (a_j² + ||w_j||²) = 2 Σ_k ||(y/s)_{F_k}||_2`` (docs/math/saddles.rst, docs/math/implicit-bias.rst)."""
        ratio = self._normal_problem.labels / self._normal_problem.norms  # (y/s)·2^(q-p), exactly
        joint = self._joint_rows
        total = float(sum(2.0 * np.sqrt(np.sum(ratio[e.fitted] ** 2)) for e in self.events if e.neuron not in joint))
        # joint jumps: the end state itself, Σ_j (a_j² + Σ_i U_ji²/s_i²) (docs/math/saddles.rst)
        shared = sum(a * a + float(np.sum((row / self.problem.norms) ** 2)) for a, row in joint.values())
        return _ldexp(total, self._scaling.p - self._scaling.q) + shared

    @cached_property
    def _joint_rows(self) -> dict:
        """Neuron → (a_j, U_j as a full row) for the neurons of joint jumps (docs/math/ties.rst)."""
        rows = {}
        for jump in self.joint:
            for a, j, part in zip(jump.output_weights, jump.neurons, jump.preactivations):
                row = np.zeros(self.n)
                row[jump.fitted] = part
                rows[int(j)] = (float(a), row)
        return rows

    @cached_property
    def ambiguous(self) -> bool:
        """Whether the limit function is not determined by the race (docs/math/ties.rst).

        True when some tie group's remaining sets overlapped without being identical: which
        samples each tied neuron fits, and everything after, then depends on O(1)
        prefactors, and the trajectory continues by the convention "lowest neuron index
        first". Ties between neurons with identical remaining sets do not make a run
        ambiguous (see :attr:`identical_ties`), and neither do ties resolved by the joint
        escape (``simulate(..., ties="joint")``, :attr:`joint`). Always ``not function_determined``.
        """
        joint = self._joint_rows
        return any(event.overlapping and not event.identical and event.neuron not in joint for event in self.events)

    @cached_property
    def identical_ties(self) -> bool:
        """Whether some tie was between neurons with identical remaining sets (docs/math/ties.rst).

        The fitted set, the function, the losses and every later time are then determined;
        only which of the tied neurons carries the fit is not (the lowest index does, by
        convention; finite σ decides by prefactors). Neurons sharing a good set tie exactly
        with positive probability, even for continuous labels.
        """
        return any(event.overlapping and event.identical for event in self.events)

    @cached_property
    def function_determined(self) -> bool:
        """Whether the learned function, losses and times are determined despite ties.

        True unless some overlapping tie had non-identical remaining sets, i.e.
        ``not ambiguous``.
        """
        return not self.ambiguous

    # ---- derived results --------------------------------------------------------------
    @property
    def m(self) -> int:
        return int(self.signs.shape[0])

    @property
    def n(self) -> int:
        return self.problem.n

    @property
    def num_jumps(self) -> int:
        return len(self.events)

    @cached_property
    def fitted_by(self) -> np.ndarray:
        """For each sample, the neuron that fitted it, or −1 (zero label or uncovered)."""
        owner = np.full(self.n, -1, dtype=np.int64)
        for event in self.events:
            owner[event.fitted] = event.neuron
        return owner

    @cached_property
    def uncovered(self) -> np.ndarray:
        """Samples with ``y_i != 0`` in no good set: never fitted (docs/math/race.rst)."""
        return np.flatnonzero((self.problem.labels != 0) & (self.fitted_by < 0))

    @cached_property
    def output_weights(self) -> np.ndarray:
        """Final saddle output weights ``a_k`` (0 for neurons that never activate; docs/math/saddles.rst)."""
        half, odd = divmod(self._scaling.p - self._scaling.q, 2)  # a scales like sqrt(labels / norms)
        factor = _ldexp(math.sqrt(2.0) if odd else 1.0, half)
        a = np.zeros(self.m)
        joint = self._joint_rows
        for event in self.events:
            if event.neuron not in joint:
                a[event.neuron] = self._normal_saddle_weight(event) * factor
        for j, (value, _) in joint.items():
            a[j] = value
        return a

    @cached_property
    def min_squared_norm(self) -> float:
        """Least squared norm of any interpolator: ``2(||(y/s)₊|| + ||(y/s)₋||)`` (docs/math/implicit-bias.rst)."""
        ratio = self._normal_problem.labels / self._normal_problem.norms  # (y/s)·2^(q-p), exactly
        least = float(2.0 * (np.linalg.norm(ratio[ratio > 0]) + np.linalg.norm(ratio[ratio < 0])))
        return _ldexp(least, self._scaling.p - self._scaling.q)

    @cached_property
    def norm_ratio(self) -> float:
        """``squared_norm / min_squared_norm`` (docs/math/implicit-bias.rst) when the run interpolates, else NaN.

        1.0 when all labels are 0 (both norms are 0). A stalled run is no interpolator and
        has no ratio: NaN keeps it out of means by accident (``np.nanmean`` skips it).
        """
        if not self.interpolates:
            return float("nan")
        if self.min_squared_norm == 0.0:
            return 1.0
        return self.squared_norm / self.min_squared_norm

    def _kernel_blocks(self):
        """Per jump: sorted diagonal ``d`` and matching ``u²`` of ``K_F = diag(d) + u uᵀ`` (docs/math/saddles.rst).

        In the units of the normalized problem: the eigenvalues of the problem's blocks are
        those of these times ``self._scaling.rate_factor`` (they scale like rates).
        """
        y, s = self._normal_problem.labels, self._normal_problem.norms
        for event in self.events:
            if event.neuron in self._joint_rows:
                continue  # joint jumps: _joint_kernel_eigenvalues
            f = event.fitted
            a2 = self._normal_saddle_weight(event) ** 2
            diagonal = a2 * s[f] ** 2 / self.n
            order = np.argsort(diagonal, kind="stable")
            yield diagonal[order], (y[f] ** 2 / (a2 * self.n))[order]

    @cached_property
    def _joint_kernel_eigenvalues(self) -> dict:
        """Per joint jump (by time): extreme eigenvalues of its block ``(B Bᵀ + D)/n`` of the tangent kernel.

        ``B_ij = relu(U_ji)``, ``D_ii = s_i² Σ_j a_j² 1[U_ji > 0]`` over the jump's samples
        (docs/math/finite-sigma.rst, "Convergence tails"), from the end state.
        """
        out = {}  # neuron → (smallest, largest) of its joint jump's block
        for jump in self.joint:
            B = np.maximum(jump.preactivations, 0.0).T
            D = self.problem.norms[jump.fitted] ** 2 * ((jump.preactivations > 0).T @ jump.output_weights**2)
            values = np.linalg.eigvalsh((B @ B.T + np.diag(D)) / self.n)
            for j in jump.neurons:
                out[int(j)] = (float(values[0]), float(values[-1])) if values.size else (np.inf, 0.0)
        return out

    @cached_property
    def convergence_rate(self) -> float:
        """Smallest eigenvalue of the tangent-kernel Gram ``J Jᵀ / n`` over the fitted samples.

        Block diagonal over fitted sets with ``K_F = (y_F y_Fᵀ / a² + a² diag(s_F²)) / n``
        (docs/math/saddles.rst): a diagonal plus rank-one matrix, whose smallest eigenvalue lies between
        the two smallest diagonal entries (interlacing) and is found from the secular
        equation ``1 + Σ u_i² / (d_i − λ) = 0``. Near the final interpolator the fitted
        residuals decay like ``exp(−λ t)`` (unscaled time). ``nan`` if nothing was fitted.
        """
        from scipy.optimize import brentq

        best = np.inf
        for d, u2 in self._kernel_blocks():
            if d.size == 1:
                low = float(d[0] + u2[0])
            elif d[0] == d[1]:
                low = float(d[0])
            else:
                secular = lambda lam: 1.0 + np.sum(u2 / (d - lam))  # noqa: E731
                low = brentq(secular, d[0] + 1e-15 * d[1], d[1] * (1 - 1e-15), xtol=1e-300, rtol=1e-15)
            best = min(best, low)
        best = float(best) * self._scaling.rate_factor
        for low, _ in self._joint_kernel_eigenvalues.values():
            best = min(best, low)
        return best if np.isfinite(best) else float("nan")

    @cached_property
    def largest_kernel_eigenvalues(self) -> np.ndarray:
        """Per jump, the largest eigenvalue of its tangent-kernel block ``K_F`` (docs/math/saddles.rst).

        The root of ``1 + Σ u_i² / (d_i − λ) = 0`` above ``max d`` (it lies in
        ``(max d, max d + Σ u²]``). Gradient descent with step η is stable near the saddles
        only if ``η · λ_max(K_F) < 2`` for every fitted block (linearized residual map
        ``r ← (I − η K) r``).
        """
        from scipy.optimize import brentq

        out = []
        blocks = self._kernel_blocks()
        for event in self.events:
            if event.neuron in self._joint_rows:
                out.append(self._joint_kernel_eigenvalues[event.neuron][1] / self._scaling.rate_factor)
                continue
            d, u2 = next(blocks)
            top, spread = float(d[-1]), float(np.sum(u2))
            secular = lambda lam: 1.0 + np.sum(u2 / (d - lam))  # noqa: E731
            if d[0] == top:  # equal diagonal (e.g. unit norms): eigenvalue top + Σu² exactly
                out.append(top + spread)
                continue
            low, high = top + 1e-12 * spread, (top + spread) * (1 + 1e-12)
            if secular(low) >= 0:  # root within rounding of top
                out.append(low)
            elif secular(high) <= 0:  # root within rounding of the upper bound
                out.append(high)
            else:
                out.append(brentq(secular, low, high, xtol=1e-300, rtol=1e-15))
        return np.array(out, dtype=DTYPE) * self._scaling.rate_factor

    @cached_property
    def unstable_jumps(self) -> np.ndarray:
        """Jumps (indices) whose saddle block makes the gradient-descent step unstable.

        Empty for gradient flow. If not empty, real gradient descent oscillates instead of
        settling at those saddles and this trajectory is not its limit past the first one.
        """
        if self.step_size is None or not self.events:
            return np.zeros(0, dtype=np.int64)
        return np.flatnonzero(self.step_size * self.largest_kernel_eigenvalues >= 2.0)

    @cached_property
    def status(self) -> str:
        """How the run ended, as a sentence."""
        parts = []
        if self.unstable_jumps.size:
            k = int(self.unstable_jumps[0])
            parts.append(
                f"unstable step: η·λ_max(K_F) = {self.step_size * self.largest_kernel_eigenvalues[k]:.4g} ≥ 2 at the "
                f"saddle of jump {k + 1} (τ = {self.jump_times[k]:.6g}); gradient descent oscillates there and does "
                "not follow this trajectory beyond it"
            )
        if self.ambiguous:
            first = next(e for e in self.events if e.overlapping and not e.identical)
            group = sorted((first.neuron,) + first.tied_with)
            parts.append(f"ambiguous tie at τ = {first.time:.6g} (neurons {', '.join(map(str, group))} overlap; "
                         "resolved lowest index first)")
        elif self.joint:
            first = self.joint[0]
            parts.append(f"overlapping tie at τ = {first.time:.6g} resolved by the joint escape (neurons "
                         f"{', '.join(map(str, first.neurons.tolist()))} share samples)")
        elif self.identical_ties:
            first = next(e for e in self.events if e.overlapping)
            group = sorted((first.neuron,) + first.tied_with)
            parts.append(f"tie at τ = {first.time:.6g} between neurons {', '.join(map(str, group))} with identical "
                         "remaining sets (function and losses determined, not which neuron fits)")
        if self.interpolates:
            parts.append("interpolated")
        else:
            shown = ", ".join(map(str, self.uncovered[:10].tolist()))
            more = f" and {self.uncovered.size - 10} more" if self.uncovered.size > 10 else ""
            parts.append(f"stalled: samples {shown}{more} uncovered")
        return "; ".join(parts)

    @property
    def status_code(self) -> Status:
        if self.unstable_jumps.size:
            return Status.UNSTABLE_STEP
        if self.ambiguous:
            return Status.AMBIGUOUS
        return Status.INTERPOLATED if self.interpolates else Status.STALLED

    @property
    def final_time(self) -> float:
        """Time of the last jump (0.0 if none)."""
        return float(self.jump_times[-1]) if self.events else 0.0

    # ---- evaluation at any τ ------------------------------------------------------------
    def _plateau_index(self, tau, side: str):
        tau = as_float_array(tau, "τ")  # numbers, arrays, tensors (grad or not)
        if np.any(np.isnan(tau)) or np.any(tau < 0):
            raise ValueError("τ must be >= 0 (rescaled time τ = t / ln(1/σ)); got a negative or NaN value")
        return np.searchsorted(self.jump_times, tau, side=_side_for_search(side))

    def loss_at(self, tau, side: str = "right"):
        """The limit loss at rescaled time(s) ``τ`` (scalar or array; ``np.inf`` = the end).

        ``side="right"`` gives the value just after a jump at exactly ``τ``, ``"left"``
        the value just before it.
        """
        index = self._plateau_index(tau, side)
        values = self.plateau_losses[index]
        return float(values) if np.ndim(values) == 0 else values

    def parameters_at(self, tau, side: str = "right") -> tuple[np.ndarray, np.ndarray]:
        """The saddle at rescaled time ``τ`` in reduced coordinates (docs/math/saddles.rst).

        Returns
        -------
        output_weights : ndarray, shape (m,)
            ``a_k = sgn_k (Σ_{F_k} y²/s²)^{1/4}`` for neurons active by ``τ``, else 0.
        preactivations : ndarray, shape (m, n)
            ``U_ki = y_i / a_k`` on ``F_k``, 0 elsewhere.

        Notes
        -----
        These are the gradient-flow saddles (balanced: ``a_k² = ||w_k||²``). Under gradient
        descent ``a² − ||w||²`` is not conserved, so the real limit splits ``a_k U_k`` between
        the layers differently, by a relative O(η) (the function, fitted sets, times and
        losses are unaffected).
        """
        count = int(self._plateau_index(as_real(tau, "τ"), side))
        a = np.zeros(self.m)
        U = np.zeros((self.m, self.n))
        final = self.output_weights
        joint = self._joint_rows
        for event in self.events[:count]:
            k, f = event.neuron, event.fitted
            if k in joint:
                continue
            a[k] = final[k]
            U[k, f] = self.problem.labels[f] / final[k]
        reached = self.jump_times[count - 1] if count else -np.inf
        for jump in self.joint:  # a joint jump's saddle: its end state (shared samples included),
            if jump.time <= reached:  # every member, also one with the largest share nowhere
                for j in jump.neurons:
                    a[j], U[j] = joint[int(j)]
        return a, U

    def input_weights_at(self, tau, side: str = "right", inputs=None) -> np.ndarray:
        """Input-space hidden weights ``w_k = Σ_{i∈F_k} (U_ki / s_i²) x_i`` (docs/math/saddles.rst), shape (m, d).

        Uses ``inputs`` or the problem's stored inputs; raises ``ValueError`` if neither.
        """
        X = self.problem.inputs if inputs is None else np.asarray(inputs, dtype=DTYPE)
        if X is None:
            raise ValueError("input-space weights need the inputs X: pass inputs= or build the problem with from_inputs")
        if X.shape[0] != self.n:
            raise ValueError(f"inputs have {X.shape[0]} rows but the problem has n = {self.n}")
        _, U = self.parameters_at(tau, side)
        norms = self.problem.norms
        return ((U / norms) / norms) @ X  # U / s², without squaring norms of extreme size

    # ---- display ------------------------------------------------------------------------
    @property
    def method(self) -> str:
        """``"gradient flow"`` or ``"gradient descent, η = …"``: the dynamics whose limit this is."""
        return "gradient flow" if self.step_size is None else f"gradient descent, η = {self.step_size:g}"

    def jump_table(self) -> list[dict]:
        """The jumps as data, one dict per jump (what the notebook display shows).

        Keys: ``jump`` (1, 2, …), ``tau`` (rescaled time τ), ``neuron``, ``sign``,
        ``fitted`` (``|F_k|``), ``rate`` (``λ`` of the neuron on the plateau it ends),
        ``loss`` (plateau loss after the jump), ``ties`` (``""`` or which neurons tied,
        disjoint, overlapping or with identical remaining sets, docs/math/ties.rst).
        ``pandas.DataFrame(traj.jump_table())`` makes a data frame of it.

        Examples
        --------
        >>> from jumpprocess import OrthogonalProblem, Initialization, simulate
        >>> traj = simulate(OrthogonalProblem([1.0, -1.0]), Initialization([[1.0, -1.0], [-1.0, 1.0]], [1.0, -1.0]))
        >>> [(row["tau"], row["neuron"], row["fitted"], row["loss"], row["ties"]) for row in traj.jump_table()]
        [(2.0, 0, 1, 0.25, 'disjoint with 1'), (2.0, 1, 1, 0.0, 'disjoint with 0')]
        """
        rows = []
        for k, event in enumerate(self.events):
            ties = ""
            if event.tied_with:
                kind = ("identical sets with " if event.identical else "overlapping with ") if event.overlapping else "disjoint with "
                if event.neuron in self._joint_rows:
                    kind = "joint escape, sharing samples with "
                ties = kind + ", ".join(map(str, event.tied_with))
            rows.append({
                "jump": k + 1, "tau": float(event.time), "neuron": int(event.neuron),
                "sign": int(self.signs[event.neuron]), "fitted": int(event.fitted.size),
                "rate": float(self.rates[k, event.neuron]), "loss": float(self.plateau_losses[k + 1]), "ties": ties,
            })
        return rows

    def __repr__(self) -> str:
        last = f", last at τ = {self.final_time:.4g}" if self.events else ""
        return (f"Trajectory(n = {self.n}, m = {self.m}, {self.method}: {self.num_jumps} jumps{last}, "
                f"loss {self.plateau_losses[0]:.4g} → {self.plateau_losses[-1]:.4g}; {self.status})")

    def _repr_html_(self) -> str:
        from .._display import html_block, html_table

        lines = [self.status,
                 f"loss {self.plateau_losses[0]:.6g} → {self.plateau_losses[-1]:.6g}; squared norm "
                 f"{self.squared_norm:.6g} (minimal interpolator {self.min_squared_norm:.6g}); "
                 "τ = t / ln(1/σ)"]
        columns = {"jump": "#", "tau": "τ", "neuron": "neuron", "sign": "sign", "fitted": "|fitted|",
                   "rate": "rate λ", "loss": "loss after", "ties": "ties"}
        title = f"σ→0 limit: n = {self.n}, m = {self.m}, {self.method}, {self.num_jumps} jumps"
        return html_block(title, lines, html_table(self.jump_table(), columns, more="jumps"))

    # ---- persistence --------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {
            "format": "jumpprocess.Trajectory",
            "format_version": FORMAT_VERSION,
            "problem": self.problem.to_dict(),
            "step_size": self.step_size,
            "signs": self.signs.tolist(),
            "good_sets": [np.flatnonzero(row).tolist() for row in self.good_sets],
            "events": [
                {"time": e.time, "neuron": e.neuron, "fitted": e.fitted.tolist(),
                 "tied_with": list(e.tied_with), "overlapping": e.overlapping, "identical": e.identical}
                for e in self.events
            ],
            "exponents": self.exponents.tolist(),
            "rates": self.rates.tolist(),
            "ties": self.ties,
            "joint": [jump.to_dict() for jump in self.joint],
            "summary": {
                "status": self.status, "interpolates": self.interpolates,
                "squared_norm": self.squared_norm, "min_squared_norm": self.min_squared_norm,
                "norm_ratio": self.norm_ratio if self.interpolates else None, "num_jumps": self.num_jumps,
            },
        }

    def to_json(self, **kwargs) -> str:
        """Lossless JSON (floats are written with ``repr``, which round-trips float64)."""
        return json.dumps(self.to_dict(), allow_nan=False, **kwargs)

    @classmethod
    def from_dict(cls, data: dict) -> "Trajectory":
        if data.get("format") != "jumpprocess.Trajectory":
            raise ValueError("not a jumpprocess trajectory (missing format tag)")
        problem = OrthogonalProblem.from_dict(data["problem"])
        m = len(data["signs"])
        good = np.zeros((m, problem.n), dtype=bool)
        for j, row in enumerate(data["good_sets"]):
            good[j, row] = True
        events = tuple(
            JumpEvent(float(e["time"]), int(e["neuron"]), e["fitted"], e["tied_with"], bool(e["overlapping"]),
                      bool(e.get("identical", False)))
            for e in data["events"]
        )
        J = len(events)
        from .ties import JointJump

        return cls(
            problem, data["step_size"], np.array(data["signs"], dtype=np.int8), good, events,
            np.array(data["exponents"], dtype=DTYPE).reshape(J, m), np.array(data["rates"], dtype=DTYPE).reshape(J, m),
            tuple(JointJump.from_dict(j) for j in data.get("joint", ())), data.get("ties", "index"),
        )

    @classmethod
    def from_json(cls, text: str) -> "Trajectory":
        return cls.from_dict(json.loads(text))
