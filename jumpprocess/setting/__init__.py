"""The setting: the problem and the initialization.

docs/math/model.rst, docs/math/reduction.rst, docs/math/alignment.rst.

The problem is the data — pairwise orthogonal inputs ``x_i``, through which the limit
process sees only the norms ``s_i = ||x_i||`` and the labels ``y_i`` — and the
initialization is the unit-scale ``θ̄ = (ā, W̄)`` that training starts from at ``σ θ̄``.
Everything else in the package (the σ→0 limit, finite-σ training, many-trial sweeps)
takes these two objects as input.
"""

from .initialization import (
    InitKind,
    Initialization,
    balanced_init,
    gaussian_init,
    output_dominated_init,
    sample_initialization,
)
from .instance import make_instance
from .problem import (
    LabelKind,
    OrthogonalProblem,
    gaussian_labels,
    make_problem,
    orthonormal_inputs,
    random_orthogonal_inputs,
    sign_labels,
)

__all__ = [
    "InitKind",
    "Initialization",
    "LabelKind",
    "OrthogonalProblem",
    "balanced_init",
    "gaussian_init",
    "gaussian_labels",
    "make_instance",
    "make_problem",
    "orthonormal_inputs",
    "output_dominated_init",
    "random_orthogonal_inputs",
    "sample_initialization",
    "sign_labels",
]
