"""Saved runs: a trajectory with the initialization it came from, so it can be recomputed.

``jumpprocess simulate --json PATH`` writes :func:`run_record`: the lossless trajectory
(:meth:`~jumpprocess.Trajectory.to_dict`, which holds the problem), the initialization
(``Ū``, ``ā`` as exact floats) and the provenance (version, options, seed, timings).
:func:`load_run` reads it back; :meth:`SavedRun.recompute` runs ``simulate`` again on the
stored problem and initialization, which gives the stored trajectory exactly.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

from ..setting.initialization import Initialization
from .trajectory import Trajectory

__all__ = ["SavedRun", "load_run", "run_record"]


def run_record(trajectory: Trajectory, init: Initialization, provenance: dict | None = None) -> dict:
    """The JSON-ready record of one run: trajectory, ``"initialization"`` and ``"provenance"``."""
    data = trajectory.to_dict()
    data["initialization"] = init.to_dict()
    if provenance is not None:
        data["provenance"] = provenance
    return data


@dataclass(frozen=True, eq=False)
class SavedRun:
    """A run read back by :func:`load_run`.

    Attributes
    ----------
    trajectory : Trajectory
        As stored (``trajectory.problem`` is the problem).
    initialization : Initialization or None
        The unit-scale ``θ̄`` of the run (None in files written without it).
    provenance : dict
        What produced it (empty if not stored).
    """

    trajectory: Trajectory
    initialization: Initialization | None
    provenance: dict = field(default_factory=dict)

    @property
    def problem(self):
        return self.trajectory.problem

    @property
    def step_size(self) -> float | None:
        return self.trajectory.step_size

    def recompute(self) -> Trajectory:
        """``simulate(problem, initialization, step_size, ties=...)`` from the stored values (the stored tie rule)."""
        if self.initialization is None:
            raise ValueError("this run was saved without its initialization, so it cannot be recomputed "
                             "(files written by jumpprocess simulate --json hold it)")
        from .engine import simulate

        return simulate(self.problem, self.initialization, self.step_size, ties=self.trajectory.ties)

    def __repr__(self) -> str:
        return f"SavedRun({self.trajectory!r}, initialization {'stored' if self.initialization is not None else 'missing'})"


def load_run(source) -> SavedRun:
    """Read a run written by ``jumpprocess simulate --json`` (a path, JSON text or a dict).

    Examples
    --------
    >>> from jumpprocess import make_problem, sample_initialization, simulate
    >>> problem = make_problem(20, seed=0)
    >>> init = sample_initialization(problem, 5, seed=1)
    >>> run = load_run(run_record(simulate(problem, init), init))
    >>> run.recompute().events == simulate(problem, init).events
    True
    """
    if isinstance(source, dict):
        data = source
    elif isinstance(source, (str, os.PathLike)) and not str(source).lstrip().startswith("{"):
        with open(source) as handle:
            data = json.load(handle)
    elif isinstance(source, str):
        data = json.loads(source)
    else:
        raise TypeError(f"load_run takes a path, JSON text or a dict, got {type(source).__name__}")
    trajectory = Trajectory.from_dict(data)
    init = data.get("initialization")
    return SavedRun(trajectory, None if init is None else Initialization.from_dict(init), data.get("provenance", {}))
