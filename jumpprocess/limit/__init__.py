"""The σ→0 limit: the saddle-to-saddle jump process in rescaled time ``τ = t / ln(1/σ)``.

Early alignment at ``τ = 0+`` gives each neuron a sign and a good set of samples
(docs/math/alignment.rst, :mod:`.alignment`); the exponent race then decides which neuron
escapes the origin next and when, one jump per saddle, with ties when it cannot decide
(docs/math/race.rst, docs/math/ties.rst, :mod:`.race`); the result is a piecewise-constant
path of saddles (docs/math/saddles.rst, :mod:`.trajectory`). :func:`simulate` (:mod:`.engine`)
runs alignment and race for one problem and one initialization, for gradient flow or gradient
descent with step ``η``.
"""

from .alignment import Alignment, align, check_step_size
from .engine import simulate
from .race import (
    JumpEvent,
    RaceResult,
    count_rows,
    pack_neuron_bits,
    rates_from_sums,
    run_race,
)
from .ties import JointJump, resolve_ties, tie_components
from .trajectory import Status, Trajectory, saddle_output_weight

__all__ = [
    "Alignment",
    "JointJump",
    "JumpEvent",
    "RaceResult",
    "Status",
    "Trajectory",
    "align",
    "check_step_size",
    "count_rows",
    "pack_neuron_bits",
    "rates_from_sums",
    "run_race",
    "resolve_ties",
    "saddle_output_weight",
    "simulate",
    "tie_components",
]
