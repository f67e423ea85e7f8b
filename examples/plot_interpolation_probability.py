"""
How wide must the network be to interpolate?
============================================

The limit interpolates if and only if every sample lies in the good set of some neuron of the
right sign (docs/math/race.rst). For a balanced Gaussian initialization the probability is
exact (docs/math/probability.rst):

.. math::

   P = \\sum_{k=0}^{m}\\binom{m}{k}2^{-m}(1-2^{-k})^{n_+}(1-2^{-(m-k)})^{n_-}.

Here it is drawn against the width :math:`m` for three numbers of samples, with the
frequency observed in 200 runs of the engine per point (``simulate_many``) and the union-bound
width :math:`\\lceil\\ln(n/\\delta)/\\ln(4/3)\\rceil` for :math:`\\delta = 0.05`.
"""

import matplotlib.pyplot as plt
import numpy as np

import theory
from jumpprocess import make_problem, simulate_many

fig, ax = plt.subplots(figsize=(9, 4.2), constrained_layout=True)
for color, n in zip(("C0", "C1", "C2"), (10, 100, 1000)):
    problem = make_problem(n, "sign-balanced", seed=0)
    n_pos = int(np.sum(problem.labels > 0))
    n_neg = int(np.sum(problem.labels < 0))
    widths = np.arange(2, 51)
    exact = [float(theory.interpolation_probability(m, n_pos, n_neg)) for m in widths]
    ax.plot(widths, exact, color=color, label=f"n = {n}: exact")
    sampled = widths[2::6]
    freq = [simulate_many(problem, int(m), 200, seed=int(m))["interpolates"].mean() for m in sampled]
    ax.plot(sampled, freq, "o", color=color, ms=4, label=f"n = {n}: engine, 200 runs")
    ax.axvline(theory.union_bound_width(n, 0.05), color=color, ls=":", lw=1)
    print(f"n = {n}: minimal width for P >= 0.95 is {theory.min_width(n_pos, n_neg, 0.05)}, "
          f"union bound {theory.union_bound_width(n, 0.05)}")
ax.set(xlabel="width m", ylabel="P(interpolation)",
       title="probability of interpolating\n(dotted: union-bound width for δ = 0.05)")
ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
plt.show()
