"""jumpprocess: the exact σ→0 limit of two-layer ReLU training on orthogonal data.

Gradient flow (or descent) from initialization ``σ θ̄`` follows, as σ → 0 and in rescaled
time ``τ = t / ln(1/σ)``, a saddle-to-saddle jump process in which one neuron activates at
each saddle and fits a set of samples (Town, Boursier, Lewis, Englert, Lazić 2026,
arXiv:2605.27097). The mathematics implemented is explained in the documentation, ``docs/math/`` (one page
per topic, e.g. docs/math/race.rst).

The subpackages follow the mathematics: :mod:`.setting` (the problem and the
initialization), :mod:`.limit` (the σ→0 jump process: alignment, race, trajectory),
:mod:`.finite` (the real network at finite σ) and :mod:`.scale` (many trials, sweeps);
:mod:`.precision` holds the dtype and tolerances they all share.
"""

from .finite.engine import Tolerances, simulate_finite
from .finite.run import FiniteRun, LimitComparison
from .finite.threshold import LimitThreshold, limit_threshold, sigma_for_limit
from .interop.conventions import Convention
from .interop.torch_model import from_torch
from .limit.alignment import Alignment, align
from .limit.engine import simulate
from .limit.race import JumpEvent
from .limit.runs import SavedRun, load_run
from .limit.trajectory import Status, Trajectory
from .scale.batch import BatchSummary, simulate_many, trial_seeds
from .setting.initialization import InitKind, Initialization, sample_initialization
from .setting.instance import make_instance
from .setting.problem import (
    LabelKind,
    OrthogonalProblem,
    gaussian_labels,
    make_problem,
    orthonormal_inputs,
    random_orthogonal_inputs,
    sign_labels,
)

__version__ = "0.1.0"

__all__ = [
    "Alignment",
    "BatchSummary",
    "Convention",
    "FiniteRun",
    "InitKind",
    "Initialization",
    "JumpEvent",
    "LabelKind",
    "LimitComparison",
    "LimitThreshold",
    "OrthogonalProblem",
    "SavedRun",
    "Status",
    "Tolerances",
    "Trajectory",
    "align",
    "from_torch",
    "gaussian_labels",
    "limit_threshold",
    "load_run",
    "make_instance",
    "make_problem",
    "orthonormal_inputs",
    "random_orthogonal_inputs",
    "sample_initialization",
    "sigma_for_limit",
    "sign_labels",
    "simulate",
    "simulate_finite",
    "simulate_many",
    "trial_seeds",
]
