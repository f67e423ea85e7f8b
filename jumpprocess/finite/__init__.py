"""Finite σ: the real two-layer ReLU network trained from ``σ θ̄``.

docs/math/model.rst, docs/math/reduction.rst, docs/math/convergence.rst.

Where :mod:`jumpprocess.limit` describes the σ→0 jump process, this subpackage trains the
actual network on the inputs ``X`` at a given σ. :mod:`.reference` is the slow,
obviously-correct float64 oracle (gradient descent and gradient flow of the real network)
that the limit engine is checked against; it does not use the limit process at all.
"""

from .reference import (
    CONVERGENCE_RTOL,
    HALF_FIT_FRACTION,
    ReferenceRun,
    coordinate_inputs,
    gradient_descent,
    gradient_flow,
    initial_parameters,
    loss_and_gradient,
    network_output,
)

__all__ = [
    "CONVERGENCE_RTOL",
    "HALF_FIT_FRACTION",
    "ReferenceRun",
    "coordinate_inputs",
    "gradient_descent",
    "gradient_flow",
    "initial_parameters",
    "loss_and_gradient",
    "network_output",
]

from .engine import Tolerances, simulate_finite
from .run import FiniteRun, LimitComparison

__all__ += ["FiniteRun", "LimitComparison", "Tolerances", "simulate_finite"]
from .threshold import LimitNotReproducedWarning, LimitThreshold, limit_threshold, sigma_for_limit

__all__ += ["LimitNotReproducedWarning", "LimitThreshold", "limit_threshold", "sigma_for_limit"]
