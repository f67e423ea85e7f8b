"""Scale: many trials of the limit process at once, and parameter sweeps.

Statistics of the jump process — the probability of interpolation
(docs/math/probability.rst), the number of activations, the time to interpolate, the
implicit-bias norm ratio (docs/math/implicit-bias.rst) — need thousands of independent
initializations. :func:`simulate_many` (:mod:`.batch`) runs them as one
vectorized call, with the compiled race of :mod:`.kernels` (numba, a core dependency);
:mod:`.sweep` runs resumable grids of such calls on all local cores or a Dask cluster (the
``scale`` extra). :mod:`.kernels` is not imported here: ``import jumpprocess`` does not
pay numba's import until a compiled kernel is used.
"""

from .batch import (
    SUMMARY_FIELDS,
    BatchSummary,
    Sampling,
    pattern_initialization,
    pattern_trajectory,
    sample_pattern_masks,
    simulate_many,
    trial_initialization,
    trial_seeds,
)
from .sweep import (
    SweepTask,
    auto_width,
    load_results,
    plot_sweep,
    run_sweep,
    run_task,
    sweep_tasks,
    write_csv,
)

__all__ = [
    "SUMMARY_FIELDS",
    "BatchSummary",
    "Sampling",
    "SweepTask",
    "auto_width",
    "load_results",
    "pattern_initialization",
    "pattern_trajectory",
    "plot_sweep",
    "run_sweep",
    "run_task",
    "sample_pattern_masks",
    "simulate_many",
    "sweep_tasks",
    "trial_initialization",
    "trial_seeds",
    "write_csv",
]
