"""Hypothesis strategies for the theory tests: problems, initializations, dyadic problems.

(Named ``theory_strategies`` rather than ``strategies``: pytest's default import mode puts
every test directory without ``__init__.py`` on ``sys.path``, so a second ``strategies``
module would shadow ``tests/strategies.py``; and an ``__init__.py`` here would make
``tests/theory`` shadow the real ``theory`` package.)

Problems mix what breaks numerics: ±1 labels with ties, zero labels, continuous labels of
mixed magnitudes, tiny (1e-3) and huge (1e3) data norms. Initializations cover widths
``m = 0..64``: balanced (sign-stable, the paper's), output-dominated, general Gaussian
(``a_j`` may flip), and ±1 sign patterns that make exact ties frequent. Values are drawn
from a seeded numpy generator (the seed shrinks to 0; sizes shrink to small).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from hypothesis import strategies as st

from jumpprocess import Initialization, OrthogonalProblem

LABEL_KINDS = ("sign", "continuous", "with-zeros", "mixed-scale", "all-zero")
CONTINUOUS_LABEL_KINDS = ("continuous", "mixed-scale")
NORM_KINDS = ("unit", "uniform", "tiny", "huge", "mixed")
CONTINUOUS_NORM_KINDS = ("uniform", "tiny", "huge", "mixed")
INIT_KINDS = ("balanced", "output-dominated", "gaussian", "sign-pattern")


def _labels(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    if kind == "sign":
        return np.where(rng.random(n) < 0.5, 1.0, -1.0)
    if kind == "all-zero":
        return np.zeros(n)
    values = rng.choice([-1.0, 1.0], n) * rng.uniform(0.1, 3.0, n)
    if kind == "mixed-scale":
        values = values * rng.choice([1e-3, 1.0, 1e3], n)
    if kind == "with-zeros":
        values = np.where(rng.random(n) < 0.4, 0.0, np.where(rng.random(n) < 0.5, np.sign(values), values))
    return values


def _norms(kind: str, n: int, rng: np.random.Generator):
    if kind == "unit":
        return None
    base = rng.uniform(0.5, 2.0, n)
    scale = {"uniform": 1.0, "tiny": 1e-3, "huge": 1e3}.get(kind)
    if scale is None:  # mixed
        return base * rng.choice([1e-3, 1.0, 1e3], n)
    return base * scale


@st.composite
def problems(draw, min_n: int = 1, max_n: int = 12, label_kinds=LABEL_KINDS, norm_kinds=NORM_KINDS):
    """An :class:`~jumpprocess.OrthogonalProblem` of ``min_n..max_n`` samples."""
    n = draw(st.integers(min_n, max_n))
    label_kind = draw(st.sampled_from(label_kinds))
    norm_kind = draw(st.sampled_from(norm_kinds))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return OrthogonalProblem(_labels(label_kind, n, rng), _norms(norm_kind, n, rng))


@st.composite
def initializations(draw, problem: OrthogonalProblem, max_m: int = 64, kinds=INIT_KINDS):
    """An :class:`~jumpprocess.Initialization` of ``0..max_m`` neurons for ``problem``."""
    m = draw(st.integers(0, max_m))
    kind = draw(st.sampled_from(kinds))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n, s = problem.n, problem.norms
    if kind == "sign-pattern":
        U = np.where(rng.random((m, n)) < 0.5, 1.0, -1.0) * s
    else:
        U = rng.standard_normal((m, n)) * s / np.sqrt(n)
    norm_w = np.sqrt(np.sum((U / s) ** 2, axis=1) + rng.chisquare(2, m) / n)
    signs = np.where(rng.random(m) < 0.5, 1.0, -1.0)
    if kind == "gaussian":
        a = rng.standard_normal(m)
    elif kind == "output-dominated":
        a = signs * (norm_w + rng.exponential(1.0, m))
    else:
        a = signs * norm_w
    return Initialization(U.reshape(m, n), a)


@st.composite
def problem_and_init(draw, max_n: int = 12, max_m: int = 64, label_kinds=LABEL_KINDS, norm_kinds=NORM_KINDS,
                     init_kinds=INIT_KINDS):
    problem = draw(problems(max_n=max_n, label_kinds=label_kinds, norm_kinds=norm_kinds))
    return problem, draw(initializations(problem, max_m=max_m, kinds=init_kinds))


@st.composite
def dyadic_groups(draw, max_groups: int = 4, max_splits: int = 3):
    """Disjoint groups of samples whose saddles are exact in float64.

    Each group has ``Q = Σ y_i²/s_i² = 16^p`` (so ``a = ±2^p`` exactly): start from one
    term ``4^{2p}`` and split terms ``4^c`` into four ``4^{c−1}`` (hence group sizes 1, 4,
    7, ...); each term ``4^c`` becomes ``y = ±2^e``, ``s = 2^{e−c}``. Returns a list of
    ``(sign, labels, norms)`` with labels and norms as exact :class:`fractions.Fraction`.
    """
    groups = []
    for _ in range(draw(st.integers(1, max_groups))):
        p = draw(st.integers(-3, 3))
        terms = [2 * p]  # exponents c of terms 4^c
        for _ in range(draw(st.integers(0, max_splits))):
            index = draw(st.integers(0, len(terms) - 1))
            c = terms.pop(index)
            terms.extend([c - 1] * 4)
        sign = draw(st.sampled_from([1, -1]))
        labels, norms = [], []
        for c in terms:
            e = draw(st.integers(-4, 4))
            labels.append(sign * Fraction(2) ** e)
            norms.append(Fraction(2) ** (e - c))
        groups.append((sign, labels, norms))
    return groups
