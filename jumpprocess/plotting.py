"""Figures of a limit trajectory (matplotlib, imported lazily: ``pip install 'jumpprocess[plot]'``)."""

from __future__ import annotations

import numpy as np

__all__ = ["require_matplotlib", "plot_trajectory"]


def require_matplotlib():
    """Import matplotlib with the Agg backend, or explain which extra installs it."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as error:  # pragma: no cover - exercised only without the extra
        raise ImportError("plotting needs matplotlib: pip install 'jumpprocess[plot]'") from error
    return plt


def exponent_paths(traj):
    """Knots ``(τ, e)`` of every neuron's exponent path: piecewise linear between jumps (docs/math/race.rst).

    Returns ``times`` (J + 2,) and ``exponents`` (J + 2, m): τ = 0 with e = −1, each jump,
    and a final knot 10% past the last jump (rates are 0 after it: nothing left to fit).
    """
    times = np.concatenate(([0.0], traj.jump_times, [traj.final_time * 1.1 if traj.num_jumps else 1.0]))
    start = -np.ones((1, traj.m))
    last = traj.exponents[-1:] if traj.num_jumps else start
    return times, np.vstack([start, traj.exponents, last])


def plot_trajectory(traj, path: str, title: str | None = None) -> None:
    """Save a two-panel PNG: the staircase loss against τ and neuron exponents against τ."""
    plt = require_matplotlib()
    fig, (ax_loss, ax_exp) = plt.subplots(2, 1, figsize=(8, 7), sharex=True, constrained_layout=True)
    times, exponents = exponent_paths(traj)
    end = times[-1]
    steps = np.concatenate(([0.0], traj.jump_times, [end]))
    ax_loss.step(steps, np.concatenate((traj.plateau_losses, traj.plateau_losses[-1:])), where="post", color="C0")
    ax_loss.set_ylabel("loss (plateau value)")
    ax_loss.set_title(title or f"σ→0 limit: n = {traj.n}, m = {traj.m}, {traj.status}")
    for j in range(traj.m):
        ax_exp.plot(times, exponents[:, j], lw=1, alpha=0.8)
    ax_exp.axhline(0.0, color="k", lw=0.5)
    ax_exp.set_ylabel("exponent e_j  (|θ_j| ≈ σ^(−e_j))")
    ax_exp.set_xlabel("rescaled time τ = t / ln(1/σ)")
    fig.savefig(path, dpi=120)
    plt.close(fig)
