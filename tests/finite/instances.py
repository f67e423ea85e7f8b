"""Random small instances for the finite-σ tests (labels, norms, inits and methods varied)."""

import numpy as np

from jumpprocess import OrthogonalProblem, sample_initialization
from jumpprocess.finite import coordinate_inputs

INIT_KINDS = ("balanced", "output-dominated", "gaussian")
STEP_SIZES = (None, 0.5, 2.0)


def random_instance(seed, *, n_range=(4, 40), m_range=(4, 30), inputs=False):
    """One random instance: (problem, init, description); exactly orthogonal coordinate inputs."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(n_range[0], n_range[1] + 1))
    m = int(rng.integers(m_range[0], m_range[1] + 1))
    labels = rng.choice([-1.0, 1.0], n) if rng.random() < 0.5 else rng.normal(size=n)
    norms = np.ones(n) if rng.random() < 0.5 else rng.uniform(0.5, 2.0, n)
    kind = INIT_KINDS[seed % 3]
    if inputs:
        problem = OrthogonalProblem.from_inputs(coordinate_inputs(norms), labels)
    else:
        problem = OrthogonalProblem(labels, norms)
    init = sample_initialization(problem, m, kind, seed=seed + 1000)
    return problem, init, f"seed {seed}: n={n}, m={m}, {kind}"
