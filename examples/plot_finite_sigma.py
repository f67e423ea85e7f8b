"""
Real training at finite σ approaches the limit
==============================================

Plain gradient descent (:math:`\\eta = 0.5`) of the actual network — inputs :math:`X`, all
weights, float64 — from :math:`\\sigma\\bar\\theta`, for several σ, with the exact loss and
gradient of the oracle :mod:`jumpprocess.finite.reference`. Drawn against the rescaled time
:math:`\\tau = t/\\ln(1/\\sigma)`, the loss curves close in on the limit's staircase as σ
shrinks, but slowly: jump-time errors are of order :math:`1/\\ln(1/\\sigma)`
(docs/math/convergence.rst).
"""

import matplotlib.pyplot as plt
import numpy as np

from jumpprocess import OrthogonalProblem, sample_initialization, simulate
from jumpprocess.finite.reference import coordinate_inputs, initial_parameters, loss_and_gradient

labels = np.array([1.0, 0.8, -1.2, 0.6, -0.5, 1.4, -0.9, 0.7])
X = coordinate_inputs(np.ones(labels.size))          # exactly orthogonal unit inputs
problem = OrthogonalProblem.from_inputs(X, labels)
init = sample_initialization(problem, 8, "balanced", seed=22, inputs=X)
eta = 0.5
limit = simulate(problem, init, step_size=eta)         # the gradient-descent race
print(limit.status, "| limit jump times τ:", limit.jump_times.round(3))

a_bar, W_bar = initial_parameters(problem, init)
horizon = 1.3 * limit.final_time
curves = {}
for sigma in [1e-2, 1e-4, 1e-8, 1e-16, 1e-32]:
    a, W = sigma * a_bar, sigma * W_bar
    steps = int(np.ceil(horizon * np.log(1 / sigma) / eta))
    losses = np.empty(steps)
    for k in range(steps):
        losses[k], grad_a, grad_W, _ = loss_and_gradient(a, W, X, labels)
        a, W = a - eta * grad_a, W - eta * grad_W
    curves[sigma] = (np.arange(steps) * eta / np.log(1 / sigma), losses)
    print(f"σ = {sigma:.0e}: {steps} steps, final loss {losses[-1]:.2e}")

fig, ax = plt.subplots(figsize=(7, 4.2), constrained_layout=True)
for k, (sigma, (tau, losses)) in enumerate(curves.items()):
    ax.plot(tau, losses, color=plt.cm.viridis(k / len(curves)), lw=1.3, label=f"σ = {sigma:.0e}")
tau = np.linspace(0.0, horizon, 1000)
ax.plot(tau, limit.loss_at(tau), "k--", lw=1.5, label="limit σ → 0")
ax.set(xlabel="rescaled time τ = t / ln(1/σ)", ylabel="loss",
       title="gradient descent of the real network, η = 0.5")
ax.legend(fontsize=8)
plt.show()
