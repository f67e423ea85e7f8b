"""One seeded instance, exactly as the command line draws it: ``make_instance``.

``jumpprocess simulate --seed S`` (and ``validate``, for its first initialization) draws
the problem and the initialization from two seeds spawned from ``S``:

    problem_seed, init_seed = numpy.random.SeedSequence(S).spawn(2)

so that the two draws are independent streams. :func:`make_instance` does the same, so
``make_instance(n, m, labels, init, seed=S)`` in Python is the run of
``jumpprocess simulate -n n -m m --labels labels --init init --seed S`` on the command line.
Calling :func:`~jumpprocess.make_problem` and :func:`~jumpprocess.sample_initialization`
with integer seeds of one's own is equally valid, but draws other instances.
"""

from __future__ import annotations

import numpy as np

from .initialization import InitKind, Initialization, sample_initialization
from .problem import LabelKind, OrthogonalProblem, make_problem

__all__ = ["make_instance"]


def make_instance(
    n: int,
    m: int,
    labels: LabelKind | str = LabelKind.SIGN_BALANCED,
    init: InitKind | str = InitKind.BALANCED,
    *,
    seed: int = 0,
    random_norms: bool = False,
) -> tuple[OrthogonalProblem, Initialization]:
    """The problem and initialization that ``jumpprocess simulate`` draws for these options.

    Parameters
    ----------
    n, m : int
        Samples and neurons (``-n``, ``-m``).
    labels : str
        Label law (``--labels``): ``"sign-balanced"``, ``"sign-random"`` or ``"gaussian"``.
    init : str
        Initialization law (``--init``): ``"balanced"``, ``"output-dominated"`` or ``"gaussian"``.
    seed : int
        ``--seed``; the problem and the initialization use the two seeds spawned from it
        (module notes).
    random_norms : bool
        ``--random-norms``: data norms ~ Uniform(0.5, 2) instead of 1.

    Returns
    -------
    (OrthogonalProblem, Initialization)

    Examples
    --------
    >>> from jumpprocess import simulate
    >>> problem, init = make_instance(50, 8, seed=3)   # = jumpprocess simulate -n 50 -m 8 --seed 3
    >>> problem.n, init.m, simulate(problem, init).num_jumps > 0
    (50, 8, True)
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer (the --seed of the command line), got {seed!r}")
    problem_seed, init_seed = np.random.SeedSequence(int(seed)).spawn(2)
    problem = make_problem(n, labels, seed=np.random.default_rng(problem_seed), random_norms=random_norms)
    return problem, sample_initialization(problem, m, init, seed=np.random.default_rng(init_seed))
