"""How small must σ be? The threshold below which the finite run reproduces the limit.

docs/math/finite-sigma.rst, "How small must σ be".

For one instance, ``σ*`` is found by bisection on ``ln(−ln σ)`` between a σ whose run
reproduces every limit jump (same fitted sets, same order, no other activation; see
:class:`~jumpprocess.finite.run.LimitComparison`) and one whose run does not, with the
hybrid engine, whose cost is bounded in σ. Reproduction need not be monotone in σ (a
near-tie can be resolved the limit's way at one σ and the other way at a smaller one), so
after each bisection a few smaller σ are checked too; if one fails, the search continues
below it. Where no σ above the floor reproduces the limit, the answer is ``None`` with the
reason: under gradient descent, an exact overlapping tie (the limit keeps the index
convention there, docs/math/ties.rst, and the split depends on the phase of ln σ); otherwise
a near-tie closer than the floor. Under gradient flow an exact overlapping tie is resolved by
the joint escape (the default of :func:`~jumpprocess.simulate`), which the runs do reproduce.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

__all__ = ["sigma_for_limit", "limit_threshold", "LimitThreshold", "LimitNotReproducedWarning"]

#: Default floor of the search: ``ln σ = −10⁶``.
LOG_SIGMA_FLOOR = -1e6
#: The largest σ considered: ``ln σ = −1``.
LOG_SIGMA_TOP = -1.0
#: Multipliers of ``ln σ*`` probed below the bisection's answer.
PROBES = (1.25, 1.5, 2.0, 4.0, 10.0, 100.0)


class LimitNotReproducedWarning(UserWarning):
    """No σ above the floor gives a run that reproduces the limit (the reason is the message)."""


@dataclass(frozen=True)
class LimitThreshold:
    """The answer of :func:`limit_threshold`.

    Attributes
    ----------
    log_sigma : float or None
        ``ln σ*``: runs at every checked ``ln σ <= ln σ*`` reproduce the limit; ``None`` if
        none above the floor does.
    reason : str
        Why ``None``, or a sentence describing the answer.
    checked : tuple of (float, bool)
        Every ``(ln σ, reproduces)`` evaluated, in order.
    """

    log_sigma: float | None
    reason: str
    checked: tuple

    @property
    def sigma(self) -> float | None:
        """σ* as a float (0.0 when below the float range), or ``None``."""
        return None if self.log_sigma is None else math.exp(self.log_sigma)


def limit_threshold(problem, init, step_size=None, *, floor: float = LOG_SIGMA_FLOOR, rtol: float = 1e-3,
                    tolerances=None) -> LimitThreshold:
    """Find ``ln σ*`` (see the module docstring); the full record behind :func:`sigma_for_limit`.

    Parameters
    ----------
    problem, init, step_size
        As for :func:`jumpprocess.simulate`.
    floor : float
        Smallest ``ln σ`` tried (default −10⁶).
    rtol : float
        Relative precision of ``ln σ*`` (the bisection stops when the bracket is this tight).
    tolerances : Tolerances, optional
        Passed to the hybrid engine.
    """
    from ..limit.engine import simulate
    from .engine import _as_real, simulate_finite

    floor = _as_real(floor, "floor")
    if not (floor < LOG_SIGMA_TOP) or not math.isfinite(floor):
        raise ValueError(f"floor must be a finite ln(sigma) below {LOG_SIGMA_TOP}, got {floor!r}")
    rtol = _as_real(rtol, "rtol")
    if not 0 < rtol < 1:
        raise ValueError(f"rtol must be in (0, 1), got {rtol!r}")
    trajectory = simulate(problem, init, step_size)
    checked = []

    def reproduces(log_sigma):
        run = simulate_finite(problem, init, log_sigma=log_sigma, step_size=step_size, tolerances=tolerances)
        ok = run.compare_limit(trajectory).reproduces_all
        checked.append((float(log_sigma), ok))
        return ok

    if trajectory.num_jumps == 0:
        return LimitThreshold(LOG_SIGMA_TOP, "the limit makes no jump: nothing to reproduce", ())
    if not reproduces(floor):
        if trajectory.ambiguous:
            tie = next(e for e in trajectory.events if e.overlapping and not e.identical)
            reason = (f"the limit has an overlapping tie at tau = {tie.time:.6g} (neurons {tie.neuron} and "
                      f"{', '.join(map(str, tie.tied_with))}): who fits the shared samples is decided by O(1) "
                      "prefactors at every sigma, and the limit's index convention is not what training does"
                      + (" (gradient descent: no joint limit exists, docs/math/ties.rst)" if step_size is not None else ""))
        else:
            reason = (f"even at ln(sigma) = {floor:g} the run does not reproduce every limit jump "
                      "(a near-tie closer than the floor resolves)")
        return LimitThreshold(None, reason, tuple(checked))
    good = floor
    bad = LOG_SIGMA_TOP
    if reproduces(bad):
        good, bad = bad, None
    while True:
        if bad is not None:
            # Bisect on u = ln(−ln σ): both ends are negative numbers of very different size.
            lo, hi = math.log(-good), math.log(-bad)   # lo > hi
            while lo - hi > math.log1p(rtol):
                mid = 0.5 * (lo + hi)
                if reproduces(-math.exp(mid)):
                    lo = mid
                else:
                    hi = mid
            good = -math.exp(lo)
        failing = next((good * p for p in PROBES if good * p > floor and not reproduces(good * p)), None)
        if failing is None:
            return LimitThreshold(good, f"runs at ln(sigma) <= {good:.6g} reproduce every limit jump "
                                        f"(checked {len(checked)} values of sigma down to {floor:g})", tuple(checked))
        bad = failing
        good = floor


def sigma_for_limit(problem, init, step_size=None) -> float | None:
    """``ln σ*``: below it the finite run reproduces every limit jump (fitted sets and order).

    Returns a float ``log_sigma`` (= ln σ*; σ* itself may be below the float range), or
    ``None`` when no σ above ``ln σ = −10⁶`` does, with the reason issued as a
    :class:`LimitNotReproducedWarning`. :func:`limit_threshold` returns the full record.

    Examples
    --------
    >>> from jumpprocess import OrthogonalProblem, Initialization
    >>> p = OrthogonalProblem([1.0, -1.0])
    >>> init = Initialization([[1.0, -1.0], [-1.0, 1.0]], [1.5, -1.5])
    >>> sigma_for_limit(p, init, step_size=0.5)   # no race to lose: any sigma will do
    -1.0
    """
    answer = limit_threshold(problem, init, step_size)
    if answer.log_sigma is None:
        warnings.warn(answer.reason, LimitNotReproducedWarning, stacklevel=2)
    return answer.log_sigma
