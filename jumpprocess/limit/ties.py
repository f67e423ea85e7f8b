"""Exact overlapping ties resolved by the joint escape (docs/math/ties.rst, docs/math/finite-sigma.rst).

At an exact tie of the race (docs/math/ties.rst) the tied neurons reach the saddle scale
together, with amplitude ratios (more generally, arrival-time offsets) of order one that do
not depend on σ (docs/math/finite-sigma.rst, "Co-escapes": for an exact limit tie
``ρ_jk = K_j/K_k`` does not shrink with σ). They escape *jointly* and may share the samples
their remaining sets have in common; the end state of that joint escape is the next saddle,
the same at every small σ, so the σ→0 limit is determined by the initialization after all.

What is computed here
---------------------
* **Tie groups** (:func:`tie_components`): within the neurons that tie at one τ, the
  connected components of the graph joining neurons whose remaining sets ``G_j ∩ R``
  overlap (``networkx``). A component of one neuron, or whose remaining sets are all
  identical, is already determined by the race (docs/math/ties.rst) and is left as it is.
* **The joint escape**: the remaining components' end state is read from the finite-σ
  hybrid engine (:func:`jumpprocess.simulate_finite`) at ``ln σ = JOINT_LOG_SIGMA``, run with
  the neurons that activate up to the last tie and the tied ones only (the others are
  negligible in the limit when the tie escapes) and stopped before the next activation. Its
  cost is bounded in σ, it integrates the escape with every nonlinear interaction and
  with the prefactors and offsets accumulated over the whole history (alignment prefactors,
  mode changes and the windows of earlier escapes, docs/math/finite-sigma.rst), and its
  error at that σ is that of its tolerances: the O(1) terms that decide a tie are
  σ-independent up to corrections that vanish with σ. The run is checked against the race:
  each component's samples must be fitted by that component's neurons only. When a check
  fails on a run stopped before the next activation, the escape may not have converged yet
  (the next activation can follow within ``Δτ ≈ 0.01``, ``Δt ≈ 10⁴`` at ``ln σ = −10⁶``,
  about what the slowest kernel mode needs at ``n = 10⁵``), so the run is made once more at
  ``RETRY_LOG_SIGMA_FACTOR`` times that ``ln σ``, ten times further apart at the same cost;
  a component that still fails is left to the index convention and the trajectory stays
  ``ambiguous``.
* Everything else (jump times, losses, fitted union, later jumps) is the race's: after the
  component has fitted the union of its remaining sets, every other neuron sees the same
  remaining set ``R`` as under the index convention (docs/math/race.rst), so only the split
  of the shared samples between the component's neurons, and what depends on it (output
  weights, parameters, squared norm, local rates), changes.

Gradient descent: the escape starts at an integer step, and the phase of each exponent in
steps changes with ln σ (docs/math/finite-sigma.rst, "Escape"), so the split of shared
samples need not converge as σ → 0; ``ties="joint"`` is refused for gradient descent.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

__all__ = ["JointJump", "JOINT_LOG_SIGMA", "RETRY_LOG_SIGMA_FACTOR", "SHARE_FLOOR", "tie_components", "resolve_ties", "check_ties"]

JOINT_LOG_SIGMA = -1.0e6
"""``ln σ`` at which the joint escape is read from the finite-σ engine (cost independent of σ)."""

RETRY_LOG_SIGMA_FACTOR = 10.0
"""The ``ln σ`` of the one retry of a joint escape whose check failed on a stopped run, as a factor."""

SHARE_FLOOR = 1e-6
"""A neuron whose largest share of any sample is below this takes no part in a joint jump."""

_FIT_RTOL = 1e-4  # the component's samples must be fitted to this (relative to max |y|), by it alone


@dataclass(frozen=True, eq=False)
class JointJump:
    """One joint escape of a tie component: neurons sharing the fit of ``fitted``.

    Attributes
    ----------
    time : float
        Rescaled jump time τ.
    neurons : ndarray of int64
        The component's neurons that take part (positive share somewhere), increasing.
    fitted : ndarray of int64
        The union of their remaining sets, increasing: all fitted by them together.
    output_weights : ndarray, shape (k,)
        Their ``a_j`` at the saddle after the jump.
    preactivations : ndarray, shape ``(k, len(fitted))``
        Their ``U_ji`` on ``fitted`` at that saddle (0 elsewhere).
    """

    time: float
    neurons: np.ndarray
    fitted: np.ndarray
    output_weights: np.ndarray
    preactivations: np.ndarray

    def __post_init__(self):
        for name, dtype in (("neurons", np.int64), ("fitted", np.int64), ("output_weights", np.float64),
                            ("preactivations", np.float64)):
            value = np.array(getattr(self, name), dtype=dtype)
            value.setflags(write=False)
            object.__setattr__(self, name, value)
        object.__setattr__(self, "time", float(self.time))
        self.preactivations.shape = (self.neurons.size, self.fitted.size)

    @property
    def shares(self) -> np.ndarray:
        """``a_j relu(U_ji) / y_i`` for ``y`` the outputs they produce, shape ``(k, len(fitted))``."""
        parts = self.output_weights[:, None] * np.maximum(self.preactivations, 0.0)
        total = parts.sum(axis=0)
        return parts / np.where(total != 0, total, 1.0)

    @property
    def squared_norm(self) -> float:
        """``Σ_j a_j²`` plus ``Σ_ji U_ji²/s_i²`` is added by the trajectory (it knows the norms)."""
        return float(np.sum(self.output_weights**2))

    def to_dict(self) -> dict:
        return {"time": self.time, "neurons": self.neurons.tolist(), "fitted": self.fitted.tolist(),
                "output_weights": self.output_weights.tolist(), "preactivations": self.preactivations.tolist()}

    @classmethod
    def from_dict(cls, data: dict) -> "JointJump":
        return cls(data["time"], data["neurons"], data["fitted"], data["output_weights"],
                   np.array(data["preactivations"], dtype=np.float64).reshape(len(data["neurons"]), len(data["fitted"])))


_DESCENT_REFUSAL = ("ties='joint' is defined for gradient flow only: under gradient descent the split of shared "
                    "samples depends on the phase of the exponents in steps, which changes with ln σ "
                    "(docs/math/ties.rst); use ties='index' (the convention) or simulate_finite at your σ")


def check_ties(ties, step_size=None) -> str:
    """``"index"`` or ``"joint"``; anything else is a ValueError saying what is expected.

    With a gradient-descent ``step_size``, ``"joint"`` is refused too (no σ→0 limit exists
    there): for callers that refuse it before any work. :func:`resolve_ties` refuses it
    only when a descent trajectory actually has an overlapping tie.
    """
    if not isinstance(ties, str) or ties not in ("index", "joint"):
        raise ValueError(f"ties must be 'index' (lowest neuron index first, the race's convention) or 'joint' "
                         f"(overlapping ties resolved by the joint escape, docs/math/ties.rst), got {ties!r}")
    if ties == "joint" and step_size is not None:
        raise ValueError(_DESCENT_REFUSAL)
    return ties


def _tie_blocks(events):
    """Consecutive runs of events forming one tie group: (start, stop) index pairs."""
    blocks, start = [], 0
    while start < len(events):
        members = {events[start].neuron, *events[start].tied_with}
        stop = start + 1
        while stop < len(events) and events[stop].neuron in members and events[stop].time == events[start].time:
            stop += 1
        blocks.append((start, stop))
        start = stop
    return blocks


def tie_components(good_sets: np.ndarray, remaining: np.ndarray, group) -> list:
    """Connected components of the tied neurons ``group`` under overlapping remaining sets.

    Parameters
    ----------
    good_sets : ndarray of bool, shape (m, n)
    remaining : ndarray of bool, shape (n,)
        ``R`` just before the tie.
    group : iterable of int
        The neurons whose candidate times tie.

    Returns
    -------
    list of list of int
        Components with more than one neuron, each increasing. (When their remaining sets
        are all identical the race determines the function but not which neuron carries
        it; the joint escape determines both.)

    Examples
    --------
    >>> G = np.array([[1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 0, 1]], dtype=bool)
    >>> tie_components(G, np.ones(4, dtype=bool), [0, 1, 2])
    [[0, 1]]
    """
    import networkx as nx

    group = sorted(int(j) for j in group)
    sets = {j: good_sets[j] & remaining for j in group}
    graph = nx.Graph()
    graph.add_nodes_from(j for j in group if sets[j].any())
    for a_index, j in enumerate(group):
        for k in group[a_index + 1:]:
            if np.any(sets[j] & sets[k]):
                graph.add_edge(j, k)
    out = []
    for component in nx.connected_components(graph):
        component = sorted(component)
        if len(component) > 1:
            out.append(component)
    return sorted(out)


def resolve_ties(trajectory, init, *, log_sigma: float = JOINT_LOG_SIGMA):
    """The trajectory with its overlapping ties resolved by the joint escape (module notes).

    Without an overlapping, non-identical tie it returns the same trajectory (``ties`` set
    to ``"joint"``; no finite-σ run is made).
    """
    from dataclasses import replace

    events = trajectory.events
    good = trajectory.good_sets
    y = trajectory.problem.labels
    covered = good.any(axis=0) & (y != 0)
    plans = []  # (start, stop, components, remaining)
    fitted_so_far = np.zeros(trajectory.n, dtype=bool)
    for start, stop in _tie_blocks(events):
        block = events[start:stop]
        if stop - start > 1 or block[0].tied_with:
            if any(e.overlapping and not e.identical for e in block):
                group = {block[0].neuron, *block[0].tied_with}
                remaining = covered & ~fitted_so_far
                components = tie_components(good, remaining, group)
                if components:
                    plans.append((start, stop, components, remaining.copy()))
        for e in block:
            fitted_so_far[e.fitted] = True
    if not plans:  # nothing the race leaves open: today's trajectory, recorded as resolved jointly
        return replace(trajectory, ties="joint")
    if trajectory.step_size is not None:
        raise ValueError(_DESCENT_REFUSAL)
    from ..finite.engine import simulate_finite  # only now: a trajectory without a tie needs no finite run
    from ..setting.initialization import Initialization
    from .race import JumpEvent
    from .scaling import check_magnitudes

    last = plans[-1][1]
    # Only the neurons that activate up to the last tie, and the tied ones, take part: in the
    # limit every other neuron is still smaller by a power of σ when the tie escapes, whereas
    # at ln σ = -1e6 one whose candidate time trails the tie by less than ~1e-6 relative (no
    # tie for the race) would join the escape. The others are set to 0, which they stay.
    keep = np.zeros(trajectory.m, dtype=bool)
    for e in events[:last]:
        keep[[e.neuron, *e.tied_with]] = True
    for _, _, components, _ in plans:
        for component in components:
            keep[component] = True
    init = Initialization(np.where(keep[:, None], init.preactivations, 0.0), np.where(keep, init.output_weights, 0.0))
    # On labels y/2^p and norms s/2^q (the scale covariance, docs/math/model.rst), so that any
    # problem the race takes is one the finite run takes; a and U are scaled back exactly.
    scaling = check_magnitudes(trajectory.problem, init)
    scale = float(np.max(np.abs(y))) if y.size else 1.0

    def joint_shares(log_sigma):
        """The finite run's ``a``, ``U``, shares ``a_j relu(U_ji) / y_i``, and whether it was stopped."""
        # The last component escapes within O(1) of t = τ ln(1/σ); the next activation comes
        # a time of order ln(1/σ) later. Stopping half-way skips every later window (the
        # plateau up to the stop is skipped in closed form), which leaves the components'
        # neurons where the full run would leave them: no later neuron touches their samples.
        stop = -log_sigma * 0.5 * (events[last - 1].time + events[last].time) if last < len(events) else None
        run = simulate_finite(scaling.problem(trajectory.problem), scaling.init(init),
                              log_sigma=scaling.log_sigma(log_sigma),
                              stop_time=None if stop is None else stop * scaling.rate_factor)
        a, U = scaling.parameters(run.output_weights, run.preactivations)
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.nan_to_num(a[:, None] * np.maximum(U, 0.0) / np.where(y != 0, y, np.nan), nan=0.0)
        return a, U, share, stop is not None

    def checked(share, component, remaining):
        """The component's samples if the run fitted them by its neurons alone, else None."""
        union = np.flatnonzero(np.any(good[component] & remaining, axis=0))
        own = share[component][:, union]
        others = np.delete(share[:, union], component, axis=0)
        fit_error = np.max(np.abs(y[union] - own.sum(axis=0) * y[union])) / scale
        if fit_error > _FIT_RTOL or (others.size and np.max(np.abs(others)) > _FIT_RTOL):
            return None
        return union

    try:
        a, U, share, stopped = joint_shares(log_sigma)
        if stopped and any(checked(share, component, remaining) is None
                           for _, _, components, remaining in plans for component in components):
            a, U, share, _ = joint_shares(log_sigma * RETRY_LOG_SIGMA_FACTOR)
    except (RuntimeError, ValueError) as error:  # the race stands; only the split is unknown
        warnings.warn(f"ties='joint': the joint escape could not be computed ({error}); the overlapping tie is "
                      "left to the index convention and the trajectory stays ambiguous", RuntimeWarning, stacklevel=3)
        return replace(trajectory, ties="joint")
    new_events, new_exp, new_rates, joints = [], [], [], []
    position = 0
    for start, stop, components, remaining in plans:
        for k in range(position, start):
            new_events.append(events[k]); new_exp.append(trajectory.exponents[k]); new_rates.append(trajectory.rates[k])
        block = events[start:stop]
        time = block[0].time
        group = sorted({block[0].neuron, *block[0].tied_with})
        joint_members, replaced = set(), []
        for component in components:
            union = checked(share, component, remaining)
            if union is None:
                continue  # the finite run did not do what the race says: keep the convention (still ambiguous)
            own = share[component][:, union]
            part = [j for j, row in zip(component, own) if np.max(row) > SHARE_FLOOR]
            rows = np.array([U[j, union] for j in part])
            rows[rows < 0] = 0.0  # dead coordinates: the limit's saddle has them at 0
            joints.append(JointJump(time, part, union, a[part], rows))
            joint_members.update(component)
            owner = np.array(part)[np.argmax(share[part][:, union], axis=0)]
            for j in part:
                mine = union[owner == j]
                if mine.size:
                    replaced.append(JumpEvent(time, j, mine, tuple(k for k in group if k != j), True, False))
        # a member outside every component shares nothing: its tie is disjoint
        in_component = {j for component in components for j in component}
        kept = [e if e.neuron in in_component else JumpEvent(e.time, e.neuron, e.fitted, e.tied_with, False, False)
                for e in block if e.neuron not in joint_members]
        block_events = sorted(kept + replaced, key=lambda e: e.neuron)
        for e in block_events:
            new_events.append(e); new_exp.append(trajectory.exponents[start]); new_rates.append(trajectory.rates[start])
        position = stop
    for k in range(position, len(events)):
        new_events.append(events[k]); new_exp.append(trajectory.exponents[k]); new_rates.append(trajectory.rates[k])
    if not joints:
        return replace(trajectory, ties="joint")
    J, m = len(new_events), trajectory.m
    return replace(trajectory, events=tuple(new_events), exponents=np.array(new_exp).reshape(J, m),
                   rates=np.array(new_rates).reshape(J, m), joint=tuple(joints), ties="joint")
