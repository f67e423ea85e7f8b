"""validation: real finite-σ PyTorch training compared with the σ → 0 limit (docs/math/convergence.rst).

The limit process of :mod:`jumpprocess` is a statement about σ → 0. This package trains the
actual two-layer bias-free ReLU network from ``σ θ̄`` in float64 (a batch of runs, CPU or
CUDA), over a list of σ, and measures how its jump times, fitted sets, order of
activations and final norm approach the limit (errors O(1/ln(1/σ))).

Modules: :mod:`~validation.backend` (torch, devices, the σ range), :mod:`~validation.training`
(the batched trainer), :mod:`~validation.observables` (what a run shows, near-ties),
:mod:`~validation.comparison` (the σ sweep, table, fit, verdict), :mod:`~validation.data`
(exactly and nearly orthogonal inputs), :mod:`~validation.figures` (PNGs) and
:mod:`~validation.cli` (``jumpprocess validate``). torch and matplotlib are optional:
``pip install 'jumpprocess[validation]'``.
"""

from .backend import check_sigmas, resolve_device, smallest_sigma
from .comparison import (
    DEFAULT_SIGMAS,
    VERDICTS,
    ErrorFit,
    InitializationReport,
    SigmaRow,
    ValidationReport,
    compare,
    fit_error,
)
from .data import max_cosine, nearly_orthogonal_inputs, orthogonal_inputs
from .observables import NearTie, RunComparison, RunObservables, match, near_ties, observe
from .training import TrainingResult, lift_initialization, train, train_initializations

__all__ = [
    "DEFAULT_SIGMAS",
    "VERDICTS",
    "ErrorFit",
    "InitializationReport",
    "NearTie",
    "RunComparison",
    "RunObservables",
    "SigmaRow",
    "TrainingResult",
    "ValidationReport",
    "check_sigmas",
    "compare",
    "fit_error",
    "lift_initialization",
    "match",
    "max_cosine",
    "near_ties",
    "nearly_orthogonal_inputs",
    "observe",
    "orthogonal_inputs",
    "resolve_device",
    "smallest_sigma",
    "train",
    "train_initializations",
]
