"""Hypothesis strategies for orthogonal problems and initializations."""

import numpy as np
from hypothesis import strategies as st

from jumpprocess import Initialization, OrthogonalProblem

finite = dict(allow_nan=False, allow_infinity=False)


@st.composite
def problems(draw, min_n=1, max_n=12, labels="any"):
    """Orthogonal problems: continuous, ±1 (tie-prone) or partly zero labels; varied norms."""
    n = draw(st.integers(min_n, max_n))
    kind = draw(st.sampled_from(["gaussian", "sign", "with-zeros"])) if labels == "any" else labels
    if kind == "sign":
        y = draw(st.lists(st.sampled_from([-1.0, 1.0]), min_size=n, max_size=n))
    else:
        y = draw(st.lists(st.floats(-5, 5, **finite).filter(lambda x: abs(x) > 1e-3), min_size=n, max_size=n))
        if kind == "with-zeros":
            zeros = draw(st.lists(st.booleans(), min_size=n, max_size=n))
            y = [0.0 if zero else value for value, zero in zip(y, zeros)]
    unit = draw(st.booleans()) if kind == "sign" else False
    norms = None if unit else draw(st.lists(st.floats(0.25, 4.0, **finite), min_size=n, max_size=n))
    return OrthogonalProblem(y, norms)


@st.composite
def initializations(draw, problem, max_m=8, kind="any"):
    """Initializations for ``problem``: sign-stable (balanced-like) or general Gaussian."""
    m = draw(st.integers(0, max_m))
    n = problem.n
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    kind = draw(st.sampled_from(["balanced", "gaussian"])) if kind == "any" else kind
    U = rng.standard_normal((m, n)) * problem.norms / np.sqrt(n)
    if kind == "balanced":
        hidden = np.sqrt(np.sum((U / problem.norms) ** 2, axis=1) + rng.chisquare(2, m) / n)
        a = np.where(rng.random(m) < 0.5, 1.0, -1.0) * hidden
    else:
        a = rng.standard_normal(m)
    return Initialization(U, a)
