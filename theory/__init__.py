"""theory: closed forms, exact probabilities and checkable theorems of the limit process.

Companion to :mod:`jumpprocess` (the engine), following ``spec/limit-process.md``:

* :mod:`theory.closed_forms` — saddles, norms, plateau losses, tangent-kernel blocks and
  the minimal-norm interpolator, derived in SymPy and lambdified (spec §5, §8);
* :mod:`theory.probability` — the exact interpolation probability, its log-space
  evaluation for huge ``n``, the minimal width ``m*(n, δ)`` and its bounds (spec §7);
* :mod:`theory.predicates` — theorems as functions of trajectories returning a
  :class:`~theory.predicates.Check` (holds, statement, witness);
* :mod:`theory.montecarlo` — the Monte Carlo study of the engine against §7 and §8
  (``python -m theory.montecarlo``);
* :mod:`theory.cli` — the ``jumpprocess theory`` subcommand.
"""

from .closed_forms import (
    learned_squared_norm,
    min_norm_derivation,
    min_squared_norm,
    neuron_squared_norm,
    plateau_loss,
    plateau_losses,
    saddle_derivation,
    saddle_output_weight,
    saddle_preactivations,
    tangent_kernel_block,
    tangent_kernel_derivation,
    tangent_kernel_eigenvalues,
)
from .predicates import (
    Check,
    equivariance,
    gradient_descent_converges_to_flow,
    interpolation_iff_coverage,
    one_neuron_per_jump,
    plateau_losses_strictly_decrease,
    saddles_are_critical_points,
    scaling_laws,
    squared_norm_matches_closed_forms,
)
from .probability import (
    asymptotic_width,
    failure_probability,
    forms_agree,
    interpolation_probability,
    interpolation_probability_inclusion_exclusion,
    log_failure_probability,
    log_interpolation_probability,
    min_width,
    union_bound_failure,
    union_bound_width,
)

__all__ = [
    "Check",
    "asymptotic_width",
    "equivariance",
    "failure_probability",
    "forms_agree",
    "gradient_descent_converges_to_flow",
    "interpolation_iff_coverage",
    "interpolation_probability",
    "interpolation_probability_inclusion_exclusion",
    "learned_squared_norm",
    "log_failure_probability",
    "log_interpolation_probability",
    "min_norm_derivation",
    "min_squared_norm",
    "min_width",
    "neuron_squared_norm",
    "one_neuron_per_jump",
    "plateau_loss",
    "plateau_losses",
    "plateau_losses_strictly_decrease",
    "saddle_derivation",
    "saddle_output_weight",
    "saddle_preactivations",
    "saddles_are_critical_points",
    "scaling_laws",
    "squared_norm_matches_closed_forms",
    "tangent_kernel_block",
    "tangent_kernel_derivation",
    "tangent_kernel_eigenvalues",
    "union_bound_failure",
    "union_bound_width",
]
