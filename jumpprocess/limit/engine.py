"""``simulate``: early alignment followed by the exponent race (docs/math/alignment.rst, docs/math/race.rst)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..setting.initialization import Initialization
from ..setting.problem import OrthogonalProblem
from .alignment import align, check_compatible, check_step_size
from .race import run_race
from .scaling import check_magnitudes, check_results
from .ties import check_ties, resolve_ties
from .trajectory import Trajectory

__all__ = ["simulate"]


def simulate(problem: OrthogonalProblem, init: Initialization, step_size: float | None = None, *,
             ties: str | None = None) -> Trajectory:
    """The σ→0 limit of training ``init`` on ``problem``, exactly (docs/math/alignment.rst to docs/math/ties.rst).

    Parameters
    ----------
    problem : OrthogonalProblem
        Labels ``y`` and norms ``s`` of the orthogonal data (n samples).
    init : Initialization
        Unit-scale ``(ā, Ū)``, ``m`` neurons (``m = 0`` allowed).
    step_size : float, optional
        ``None`` for gradient flow; ``η > 0`` for gradient descent with step η, whose
        limit is the race with rates ``ln(1 + η λ)/η`` (docs/math/race.rst, docs/math/convergence.rst).
    ties : {"joint", "index"}, optional
        What to do at an overlapping tie (docs/math/ties.rst). ``"joint"``: the tied
        neurons escape together and share their common samples, as they do at every small
        σ (:mod:`jumpprocess.limit.ties`); ``ambiguous`` is then false where this resolved
        the tie (it stays true only if the finite-σ escape does not fit the tie's samples
        by the tied neurons alone, which then continue by the index convention). Gradient
        flow only: under gradient descent the split of shared samples depends on the phase
        of ln σ and has no σ→0 limit (docs/math/ties.rst, "The joint escape").
        ``"index"``: lowest neuron index first, a convention kept for comparison; the
        trajectory is then flagged ``ambiguous``. Default: ``"joint"`` under gradient
        flow, ``"index"`` under gradient descent (where nothing else is defined).
        Trajectories without overlapping ties are the same for both, and cost the same;
        a tied one costs one finite-σ run (tens of milliseconds to seconds with n).

    Returns
    -------
    Trajectory
        Jump times in rescaled time ``τ = t / ln(1/σ)`` with ``t = kη`` for gradient
        descent (docs/math/model.rst).

    Raises
    ------
    ValueError
        Mismatched sizes, or a step size that is not a finite number > 0; labels, norms
        or results that float64 cannot represent (:mod:`jumpprocess.limit.scaling`: the
        engine computes on normalized magnitudes and scales back exactly, and refuses,
        saying why, what it cannot represent).

    Examples
    --------
    >>> from jumpprocess import make_problem, sample_initialization
    >>> problem = make_problem(200, "sign-balanced", seed=1)
    >>> traj = simulate(problem, sample_initialization(problem, 24, "balanced", seed=2))
    >>> traj.interpolates, bool(np.all(np.diff(traj.plateau_losses) < 0))
    (True, True)
    """
    step_size = check_step_size(step_size)  # a float or None (numpy scalars, 0-d tensors accepted)
    ties = ("joint" if step_size is None else "index") if ties is None else check_ties(ties)
    check_compatible(problem, init)
    scaling = check_magnitudes(problem, init, step_size)  # p = q = 0 for ordinary magnitudes
    normal, eta = scaling.problem(problem), scaling.step_size(step_size)
    alignment = align(normal, scaling.init(init), eta)
    signal = normal.signal
    race = run_race(alignment.good_sets, signal * signal, problem.n, eta)
    events, rates = race.events, race.rates
    if not scaling.identity:  # back to the problem's units, exactly (powers of two)
        factor = scaling.rate_factor
        events = tuple(replace(event, time=event.time / factor) for event in events)
        rates = rates * factor
    trajectory = Trajectory(
        problem=problem,
        step_size=step_size,
        signs=alignment.signs,
        good_sets=alignment.good_sets,
        events=events,
        exponents=race.exponents,
        rates=rates,
    )
    if not scaling.identity:
        check_results(trajectory.jump_times, trajectory.plateau_losses, trajectory.squared_norm, rates)
    if ties == "joint":
        trajectory = resolve_ties(trajectory, init)
    return trajectory
