"""
The implicit bias: learned norm against minimal norm
====================================================

The interpolator found from a small initialization fits one set per jump, with squared norm
:math:`2\\sum_k\\|(y/s)_{F_k}\\|`; the least squared norm of any interpolator is
:math:`2(\\|(y/s)_+\\| + \\|(y/s)_-\\|)` (docs/math/implicit-bias.rst). Their ratio, over
many initializations, for ±1 labels and :math:`m = \\mathrm{round}(4\\log_2 n)`: its mean rises
with :math:`n`, towards the conjectured :math:`1+\\sqrt2` (a study up to :math:`n = 10^7` is on
that page).
"""

import matplotlib.pyplot as plt
import numpy as np

from jumpprocess import make_problem, simulate_many

ns = [30, 100, 300, 1000, 3000]
ratios = []
for n in ns:
    problem = make_problem(n, "sign-balanced", seed=0)
    summary = simulate_many(problem, round(4 * np.log2(n)), 400, seed=1)
    ratio = summary["norm_ratio"]
    ratios.append(ratio[np.isfinite(ratio)])  # NaN for runs that do not interpolate
    print(f"n = {n:5d}: mean ratio {ratios[-1].mean():.4f} over {ratios[-1].size} interpolating runs")

fig, ax = plt.subplots(figsize=(7, 4.2), constrained_layout=True)
ax.violinplot(ratios, positions=np.log10(ns), widths=0.35, showmeans=True)
ax.axhline(1 + np.sqrt(2), color="k", ls="--", lw=1, label="1 + √2")
ax.set_xticks(np.log10(ns), [str(n) for n in ns])
ax.set(xlabel="number of samples n", ylabel="learned / minimal squared norm",
       title="norm ratio over 400 initializations per n")
ax.set_ylim(top=2.55)
ax.legend(loc="lower right")
plt.show()
