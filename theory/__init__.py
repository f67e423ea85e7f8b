"""theory: closed forms, exact probabilities and checkable theorems of the limit process.

Companion to :mod:`jumpprocess` (the engine), following the mathematics of ``docs/math/``:

* :mod:`theory.closed_forms` — saddles, norms, plateau losses, tangent-kernel blocks and
  the minimal-norm interpolator, derived in SymPy and lambdified (docs/math/saddles.rst,
  docs/math/implicit-bias.rst);
* :mod:`theory.probability` — the exact interpolation probability, its log-space
  evaluation for huge ``n``, the minimal width ``m*(n, δ)`` and its bounds (docs/math/probability.rst);
* :mod:`theory.predicates` — theorems as functions of trajectories returning a
  :class:`~theory.predicates.Check` (holds, statement, witness);
* :mod:`theory.montecarlo` — the Monte Carlo study of the engine against docs/math/probability.rst
  and docs/math/implicit-bias.rst
  (``python -m theory.montecarlo``);
* :mod:`theory.cli` — the ``jumpprocess theory`` subcommand.
"""

import importlib

# Public names and the module defining each. They are imported on first use (PEP 562), so
# that ``import theory.cli`` (loaded by every ``jumpprocess`` command) does not pay for SymPy.
_EXPORTS = {
    "Check": "predicates",
    "asymptotic_width": "probability",
    "equivariance": "predicates",
    "failure_probability": "probability",
    "forms_agree": "probability",
    "gradient_descent_converges_to_flow": "predicates",
    "interpolation_iff_coverage": "predicates",
    "interpolation_probability": "probability",
    "interpolation_probability_inclusion_exclusion": "probability",
    "learned_squared_norm": "closed_forms",
    "log_failure_probability": "probability",
    "log_interpolation_probability": "probability",
    "min_norm_derivation": "closed_forms",
    "min_squared_norm": "closed_forms",
    "min_width": "probability",
    "neuron_squared_norm": "closed_forms",
    "one_neuron_per_jump": "predicates",
    "plateau_loss": "closed_forms",
    "plateau_losses": "closed_forms",
    "plateau_losses_strictly_decrease": "predicates",
    "saddle_derivation": "closed_forms",
    "saddle_output_weight": "closed_forms",
    "saddle_preactivations": "closed_forms",
    "saddles_are_critical_points": "predicates",
    "scaling_laws": "predicates",
    "squared_norm_matches_closed_forms": "predicates",
    "tangent_kernel_block": "closed_forms",
    "tangent_kernel_derivation": "closed_forms",
    "tangent_kernel_eigenvalues": "closed_forms",
    "union_bound_failure": "probability",
    "union_bound_width": "probability",
}


def __getattr__(name):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'theory' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))


__all__ = sorted(_EXPORTS)
