"""
One run of the limit: the loss staircase and the exponent race
===============================================================

The σ → 0 limit of one training run, for 60 samples with ±1 labels and 12 neurons from a
balanced initialization, under gradient flow. Left: the loss is constant on each plateau and
drops at each jump, when one neuron escapes the origin and fits the unfitted part of its good
set (docs/math/race.rst, docs/math/saddles.rst). Right: each neuron's exponent
:math:`e_j` (its size is :math:`\\sigma^{-e_j}`) grows linearly in rescaled time at its rate
:math:`\\lambda_j`; a neuron jumps when its exponent reaches 0, and the rates of the others
drop when samples they shared are fitted.
"""

import matplotlib.pyplot as plt
import numpy as np

from jumpprocess import make_problem, sample_initialization, simulate
from jumpprocess.plotting import exponent_paths

problem = make_problem(60, "sign-balanced", seed=0)
init = sample_initialization(problem, 12, "balanced", seed=10)
traj = simulate(problem, init)
print(traj.status)
print("jump times τ:", traj.jump_times.round(3))
print("neurons:     ", traj.neurons)
print("fitted sizes:", [f.size for f in traj.fitted])
print(f"norm ratio (learned / minimal squared norm): {traj.norm_ratio:.3f}")

# %%
# The staircase is evaluated with ``loss_at``, which takes arrays of τ; the exponent paths
# are piecewise linear, with knots at the jumps.

tau = np.linspace(0.0, traj.final_time * 1.1, 2000)
times, exponents = exponent_paths(traj)

fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
left.plot(tau, traj.loss_at(tau), color="C0")
for t in traj.jump_times:
    left.axvline(t, color="0.85", lw=0.8, zorder=0)
left.set(xlabel="rescaled time τ = t / ln(1/σ)", ylabel="loss", title="loss staircase (σ → 0)")
active = set(traj.neurons.tolist())
for j in range(traj.m):
    style = dict(color=f"C{j % 10}", lw=1.6) if j in active else dict(color="0.6", lw=0.8, ls="--")
    right.plot(times, exponents[:, j], **style)
right.axhline(0.0, color="k", lw=0.8)
right.set_ylim(-1.03, 0.05)
right.set(xlabel="rescaled time τ", ylabel="exponent $e_j$",
          title="the race (dashed: neurons that never jump)")
plt.show()
