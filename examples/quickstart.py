"""Quickstart: the σ→0 limit of one training run, and what it says.

    python examples/quickstart.py
"""

import numpy as np

from jumpprocess import OrthogonalProblem, make_problem, sample_initialization, simulate

problem = make_problem(1000, "sign-balanced", seed=0)          # labels y, norms s (all 1)
init = sample_initialization(problem, 40, "balanced", seed=1)  # θ̄ at unit scale
traj = simulate(problem, init)                                 # gradient flow

print(f"{traj.num_jumps} jumps; first at τ = {traj.jump_times[0]:.4f} (neuron {traj.neurons[0]}, "
      f"fits {traj.fitted[0].size} samples); status: {traj.status}")
print("loss at τ = 0, 61, ∞:", traj.loss_at([0.0, 61.0, np.inf]))
print(f"squared norm {traj.squared_norm:.3f} = {traj.norm_ratio:.3f} × the minimal interpolator's")

# Real inputs: norms come from X and orthogonality is checked.
X = np.diag([1.0, 2.0, 0.5, 1.0])
small = OrthogonalProblem.from_inputs(X, [1.0, -2.0, 0.5, 1.5])
t = simulate(small, sample_initialization(small, 6, "gaussian", seed=3))
print("small problem:", t.status, "| input-space weights at the end:\n", t.input_weights_at(np.inf).round(3))
