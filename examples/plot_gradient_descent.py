"""
Gradient descent: slower rates, and a step that must stay stable
================================================================

With a step :math:`\\eta`, a small neuron's growing mode is multiplied by :math:`1+\\eta\\lambda`
per step, so the race runs with rates :math:`\\ln(1+\\eta\\lambda)/\\eta < \\lambda`
(docs/math/race.rst) and every jump comes later than under gradient flow. Past
:math:`\\eta\\,\\lambda_{\\max}(K_F) = 2` at some saddle, gradient descent oscillates there
and the trajectory is flagged unstable (docs/math/errata.rst).
"""

import matplotlib.pyplot as plt
import numpy as np

from jumpprocess import make_problem, sample_initialization, simulate

problem = make_problem(40, "gaussian", seed=2)
init = sample_initialization(problem, 10, "balanced", seed=5)
flow = simulate(problem, init)
steps = np.geomspace(0.05, 60.0, 40)
runs = [simulate(problem, init, step_size=float(eta)) for eta in steps]

# %%
# The first jump time is :math:`1/\lambda^{(\eta)}_k` for the fastest neuron; it is compared
# with the formula evaluated on the gradient-flow rate.

lam = 1.0 / flow.jump_times[0]
fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
left.semilogx(steps, [r.jump_times[0] for r in runs], "o", ms=3, label="engine, gradient descent")
left.semilogx(steps, steps / np.log1p(steps * lam), "k-", lw=1, label="η / ln(1 + ηλ)")
left.axhline(flow.jump_times[0], color="C1", ls="--", label="gradient flow")
left.set(xlabel="step η", ylabel="first jump time τ₁", title="the first jump")
left.legend(fontsize=8)

unstable = np.array([r.unstable_jumps.size > 0 for r in runs])
last_time = [r.jump_times[-1] for r in runs]
right.semilogx(steps[~unstable], np.array(last_time)[~unstable], "o", ms=3, label="stable")
right.semilogx(steps[unstable], np.array(last_time)[unstable], "x", color="C3", label="unstable step (GD leaves the\ntrajectory at that saddle)")
right.axhline(flow.jump_times[-1], color="C1", ls="--", label="gradient flow")
right.set(xlabel="step η", ylabel="last jump time", title="the last jump")
right.legend(fontsize=8)
first_unstable = steps[unstable][0] if unstable.any() else None
print("first unstable step:", first_unstable)
print(runs[-1].status)
plt.show()
