"""jumpprocess: the exact σ→0 limit of two-layer ReLU training on orthogonal data.

Gradient flow (or descent) from initialization ``σ θ̄`` follows, as σ → 0 and in rescaled
time ``τ = t / ln(1/σ)``, a saddle-to-saddle jump process in which one neuron activates at
each saddle and fits a set of samples (Town, Boursier, Lewis, Englert, Lazić 2026,
arXiv:2605.27097). The mathematics implemented is in ``spec/limit-process.md``.
"""

from .alignment import Alignment, align
from .batch import BatchSummary, simulate_many, trial_seeds
from .engine import simulate
from .initialization import InitKind, Initialization, sample_initialization
from .problem import (
    LabelKind,
    OrthogonalProblem,
    gaussian_labels,
    make_problem,
    orthonormal_inputs,
    random_orthogonal_inputs,
    sign_labels,
)
from .race import JumpEvent
from .trajectory import Status, Trajectory

__version__ = "0.1.0"

__all__ = [
    "Alignment",
    "BatchSummary",
    "InitKind",
    "Initialization",
    "JumpEvent",
    "LabelKind",
    "OrthogonalProblem",
    "Status",
    "Trajectory",
    "align",
    "gaussian_labels",
    "make_problem",
    "orthonormal_inputs",
    "random_orthogonal_inputs",
    "sample_initialization",
    "sign_labels",
    "simulate",
    "simulate_many",
    "trial_seeds",
]
