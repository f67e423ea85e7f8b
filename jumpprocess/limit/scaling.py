"""Extreme magnitudes: compute on normalized labels and norms, scale back exactly, or refuse.

The σ→0 limit is covariant under scaling the labels and the data norms
(docs/math/model.rst): with labels ``c y`` and norms ``b s`` every rate ``λ_j`` is
multiplied by ``C = c b`` and every jump time divided by it (gradient descent: the same
with step ``η / C``), plateau losses are multiplied by ``c²``, squared norms by ``c / b``,
output weights by ``√(c / b)``, and the exponents, signs, good sets, fitted sets and ties
do not change. The engine therefore computes with labels ``y / 2^p`` and norms ``s / 2^q``
(preactivations ``Ū / 2^q``, so that ``Ū / s`` is unchanged) and scales the results back
by the same powers of two, which is exact: the normalized run is the run, bit for bit,
whenever the unnormalized one would not overflow or underflow. Ordinary problems (largest
label and norm between ``2^-100`` and ``2^100``) are not rescaled at all (``p = q = 0``).

What cannot be represented is refused with the reason, never computed into a wrong
number or a hang:

* labels (or norms) whose largest and smallest nonzero magnitudes differ by more than
  ``2^250`` (about 1.8e75): the squares ``(y_i s_i)²`` the race sums would leave the
  float64 range relative to each other;
* a result outside the normal float64 range: a plateau loss ``(1/2n) Σ y²`` (labels of
  1e160 give 1e320, labels of 1e-160 give 1e-320), a squared norm, a jump time, or the
  step ``η · 2^(p+q)`` of the normalized gradient descent. The message says which, and
  how to rescale.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..setting.initialization import Initialization
from ..setting.problem import OrthogonalProblem

__all__ = ["Scaling", "scaling_for", "check_magnitudes", "check_results", "ldexp", "RANGE_EXPONENT", "SAFE_EXPONENT"]

#: Largest magnitudes in ``[2^-SAFE_EXPONENT, 2^SAFE_EXPONENT]`` are used as they are.
SAFE_EXPONENT = 100
#: Largest accepted ratio, as a power of two, between the largest and the smallest
#: nonzero label (and between the largest and the smallest data norm).
RANGE_EXPONENT = 250
_TINY = float(np.finfo(np.float64).tiny)
_COVARIANCE = ("the limit is covariant (docs/math/model.rst): labels c·y give times τ/c, saddles √c·a, losses "
               "c²·L, so rescale the labels (or norms) to a moderate size and convert the results back")


def ldexp(value: float, exponent: int) -> float:
    """``value · 2^exponent``, exactly when representable; ``±inf`` past the float64 range."""
    try:
        return math.ldexp(value, exponent)
    except OverflowError:
        return math.copysign(math.inf, value)


def _exponent(largest: float) -> int:
    """0 for a moderate magnitude, else ``e`` with ``largest / 2^e`` in ``[0.5, 1)``."""
    exponent = int(np.frexp(largest)[1])
    return 0 if abs(exponent) <= SAFE_EXPONENT else exponent


@dataclass(frozen=True)
class Scaling:
    """The powers of two the engine divides labels (``2^p``) and norms (``2^q``) by.

    ``rate_factor = 2^(p+q)``: rates of the problem = rates of the normalized problem times
    it, times divided by it (module notes).
    """

    p: int
    q: int

    @property
    def identity(self) -> bool:
        return self.p == 0 and self.q == 0

    @property
    def rate_factor(self) -> float:
        return ldexp(1.0, self.p + self.q)

    def problem(self, problem: OrthogonalProblem) -> OrthogonalProblem:
        """Labels ``y / 2^p`` and norms ``s / 2^q`` (no inputs: the engine does not use them)."""
        if self.identity:
            return problem
        return OrthogonalProblem(np.ldexp(problem.labels, -self.p), np.ldexp(problem.norms, -self.q))

    def init(self, init: Initialization) -> Initialization:
        """Preactivations ``Ū / 2^q`` (so that ``Ū / s`` is unchanged); ``ā`` as it is."""
        if self.q == 0:
            return init
        return Initialization(np.ldexp(init.preactivations, -self.q), init.output_weights)

    def step_size(self, step_size: float | None) -> float | None:
        """``η · 2^(p+q)``: the step of the normalized problem with the same ``η λ``."""
        return None if step_size is None else ldexp(step_size, self.p + self.q)

    def log_sigma(self, log_sigma: float) -> float:
        """``ln σ'`` of the normalized problem's run equal to the run at ``σ``: ``σ' = σ √(2^q / 2^p)``
        (labels ``c y`` at σ are the run of ``y`` at ``σ √(d/c)``, docs/math/model.rst)."""
        return log_sigma + 0.5 * (self.q - self.p) * math.log(2.0)

    def parameters(self, output_weights, preactivations) -> tuple:
        """A normalized run's ``(a, U)`` back in the problem's units: ``a · 2^((p−q)/2)``, ``U · 2^((p+q)/2)``."""
        return (np.asarray(output_weights) * 2.0 ** ((self.p - self.q) / 2),
                np.asarray(preactivations) * 2.0 ** ((self.p + self.q) / 2))


def scaling_for(problem: OrthogonalProblem) -> Scaling:
    """The :class:`Scaling` of ``problem`` (``p = q = 0`` for ordinary magnitudes)."""
    top = float(np.max(np.abs(problem.labels)))
    return Scaling(_exponent(top) if top > 0 else 0, _exponent(float(np.max(problem.norms))))


def check_magnitudes(problem: OrthogonalProblem, init: Initialization | None = None, step_size: float | None = None) -> Scaling:
    """Refuse what the engine cannot represent, before computing; return the scaling.

    Raises
    ------
    ValueError
        Labels or norms spanning more than ``2^RANGE_EXPONENT``, an initial loss or a
        minimal squared norm outside the normal float64 range, preactivations that
        underflow once normalized, or a normalized gradient-descent step that overflows.

    Notes
    -----
    A few ``O(n)`` passes. With ordinary magnitudes (``p = q = 0``) and ranges within
    ``2^RANGE_EXPONENT``, every square and sum the engine forms lies between ``2^-1000``
    and ``n · 2^1000``, so the loss and norm checks are needed only for rescaled problems.
    """
    magnitude = np.abs(problem.labels)
    top = float(magnitude.max())
    low = float(np.min(magnitude, where=magnitude > 0, initial=np.inf))
    norms_top, norms_low = float(problem.norms.max()), float(problem.norms.min())
    scaling = Scaling(_exponent(top) if top > 0 else 0, _exponent(norms_top))
    for name, largest, smallest in (("labels", top, low), ("data norms", norms_top, norms_low)):
        if largest > 0 and np.frexp(largest)[1] - np.frexp(smallest)[1] > RANGE_EXPONENT:
            raise ValueError(
                f"the {name} span {smallest:.3g} to {largest:.3g}, more than 2^{RANGE_EXPONENT} "
                f"(about {2.0**RANGE_EXPONENT:.2g}) apart: the squares the race sums (y_i s_i)² cannot all be "
                f"represented in float64 next to each other; set labels that are negligible to 0, or split the problem"
            )
    if top > 0 and not scaling.identity:
        _check_loss_and_norm(scaling.problem(problem), scaling)
    if init is not None and scaling.q:
        scaled = np.ldexp(init.preactivations, -scaling.q)
        lost = (init.preactivations != 0) & (np.abs(scaled) < _TINY)
        if np.any(lost):
            j, i = map(int, np.argwhere(lost)[0])
            raise ValueError(
                f"preactivation Ū[{j}, {i}] = {init.preactivations[j, i]:.3g} is negligible next to the data norms "
                f"(up to {norms_top:.3g}): Ū/s underflows float64; draw the initialization at the scale of the "
                "data (sample_initialization does)"
            )
    if step_size is not None:
        eta = scaling.step_size(step_size)
        if not (_TINY <= eta < math.inf):
            raise ValueError(
                f"step_size = {step_size!r} for labels and norms of this size is not representable once they are "
                f"normalized (η·2^{scaling.p + scaling.q} = {_describe(step_size, scaling.p + scaling.q)}): η·λ is far "
                f"outside float64 (gradient descent is unstable once η·λ_max(K) >= 2, docs/math/convergence.rst); "
                f"{_COVARIANCE}"
            )
    return scaling


def _check_loss_and_norm(normal: OrthogonalProblem, scaling: Scaling) -> None:
    """The initial loss and the minimal squared norm, in the problem's units, must be normal floats."""
    mass = float(np.dot(normal.labels, normal.labels)) / (2 * normal.n)  # the largest plateau loss, normalized
    if not (_TINY <= ldexp(mass, 2 * scaling.p) < math.inf):
        raise ValueError(
            f"the loss (1/2n) Σ y_i² = {_describe(mass, 2 * scaling.p)} is not a normal float64 number "
            f"(2.2e-308 to 1.8e308), so the trajectory's losses cannot be represented; {_COVARIANCE}"
        )
    ratio = normal.labels / normal.norms
    positive = np.maximum(ratio, 0.0)
    negative = ratio - positive
    least = 2.0 * (math.sqrt(float(np.dot(positive, positive))) + math.sqrt(float(np.dot(negative, negative))))
    if not (_TINY <= ldexp(least, scaling.p - scaling.q) < math.inf):
        raise ValueError(
            f"the minimal squared norm 2(||(y/s)₊|| + ||(y/s)₋||) = {_describe(least, scaling.p - scaling.q)} is "
            f"not a normal float64 number, so the saddles cannot be represented; {_COVARIANCE}"
        )


def check_results(jump_times, losses, squared_norm, rates) -> None:
    """Refuse a trajectory whose times, losses or norms left the normal float64 range."""
    times = np.asarray(jump_times, dtype=np.float64).ravel()
    times = times[~np.isnan(times)]  # NaN: "no jump" in a batch summary
    bad_time = ~np.isfinite(times) | ((times > 0) & (times < _TINY))
    if np.any(bad_time):
        k = int(np.flatnonzero(bad_time)[0])
        raise ValueError(
            f"jump {k + 1} happens at τ = {times[k]:.3g}, outside the normal float64 range: the rates λ = ||y s||/n "
            f"of these labels and norms are too small (or large) for float64 times; {_COVARIANCE}"
        )
    values = np.concatenate([np.asarray(losses, dtype=np.float64).ravel(),
                             np.asarray(squared_norm, dtype=np.float64).ravel(),
                             np.asarray(rates, dtype=np.float64).ravel()])
    bad = ~np.isfinite(values) | ((values != 0) & (np.abs(values) < _TINY))
    if np.any(bad):
        raise ValueError(f"a loss, squared norm or rate of this trajectory is not a normal float64 number; {_COVARIANCE}")


def _describe(mantissa: float, exponent: int) -> str:
    """``mantissa · 2^exponent`` as ``"1.2e+320"`` even beyond float64."""
    if mantissa == 0:
        return "0"
    log10 = math.log10(abs(mantissa)) + exponent * math.log10(2.0)
    power = math.floor(log10)
    return f"{'-' if mantissa < 0 else ''}{10 ** (log10 - power):.2g}e{power:+d}"
