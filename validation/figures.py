"""Figures of a :class:`~validation.comparison.ValidationReport` (matplotlib, PNG).

* :func:`plot_loss` — loss against rescaled time ``τ = t / ln(1/σ)`` at every σ, with the
  limit's staircase of plateau losses ``(1/2n) Σ_{i∈R} y_i²`` (docs/math/saddles.rst) on top;
* :func:`plot_jump_time_error` — jump-time error against ``ln(1/σ)`` on log-log axes, with
  the fit ``slope / ln(1/σ) + intercept`` and the reference slope −1 (docs/math/convergence.rst);
* :func:`plot_neuron_norms` — per-neuron exponents ``ln|θ_j| / ln(1/σ)`` against τ for every
  σ, with the limit's piecewise-linear exponents ``e_j(τ)`` (docs/math/race.rst: ``|θ_j| ≈ σ^{−e_j}``).

matplotlib is imported lazily with the Agg backend (no display needed).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .backend import INSTALL_HINT

__all__ = ["plot_loss", "plot_jump_time_error", "plot_neuron_norms", "save_figures", "limit_exponents"]


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError as error:  # pragma: no cover - exercised only without matplotlib
        raise ImportError(f"figures need matplotlib: {INSTALL_HINT}") from error
    return plt


def limit_exponents(trajectory, tau) -> np.ndarray:
    """The race's exponents ``e_j(τ)`` (docs/math/race.rst), shape (len(τ), m).

    Between jumps every inactive exponent grows at its rate, ``e_j(τ) = e_j(τ_{k−1}) +
    λ_j (τ − τ_{k−1})`` (capped at 0); active neurons sit at 0. After the last jump the
    exponents stay put (every remaining rate is 0 or the neuron is active).
    """
    tau = np.atleast_1d(np.asarray(tau, dtype=np.float64))
    m, J = trajectory.m, trajectory.num_jumps
    times = trajectory.jump_times
    out = np.empty((tau.size, m))
    for index, value in enumerate(tau):
        k = int(np.searchsorted(times, value, side="right"))  # jumps completed by τ
        if k < J:
            start = times[k - 1] if k else 0.0
            base = trajectory.exponents[k - 1] if k else np.full(m, -1.0)
            out[index] = np.minimum(base + trajectory.rates[k] * (value - start), 0.0)
            out[index][base == 0.0] = 0.0
        else:
            out[index] = trajectory.exponents[J - 1] if J else -1.0
    return out


def _colors(plt, count):
    cmap = plt.get_cmap("viridis")
    return [cmap(x) for x in np.linspace(0.0, 0.85, max(count, 1))]


def plot_loss(report, init_index: int = 0, ax=None):
    """Loss against τ at every σ, with the limit staircase; returns the figure."""
    plt = _pyplot()
    figure = None
    if ax is None:
        figure, ax = plt.subplots(figsize=(7, 4.5))
    item = report.initializations[init_index]
    training = report.training
    S = len(report.sigmas)
    race = item.trajectory
    tau_max = 1.25 * max(race.final_time, 1e-3) + 0.5
    for s, (sigma, color) in enumerate(zip(report.sigmas, _colors(plt, S))):
        run = init_index * S + s
        tau = training.rescaled_times[:, run]
        keep = (tau > 0) & (tau <= tau_max)
        ax.plot(tau[keep], training.losses[keep, run], color=color, lw=1.2, label=f"σ = {sigma:.0e}")
    edges = np.concatenate(([0.0], race.jump_times, [tau_max]))
    ax.step(edges, np.append(race.plateau_losses, race.plateau_losses[-1]), where="post", color="crimson",
            lw=2.0, ls="--", label="σ → 0 limit")
    ax.set_xlabel("rescaled time τ = t / ln(1/σ)")
    ax.set_ylabel("loss L = (1/2n) Σ (f − y)²")
    positive = race.plateau_losses[race.plateau_losses > 0]
    if positive.size:
        ax.set_yscale("log")
        ax.set_ylim(bottom=max(1e-12, 0.1 * positive.min()) if race.plateau_losses[-1] > 0 else 1e-8)
    ax.set_xlim(0, tau_max)
    ax.set_title(f"loss vs rescaled time (init {init_index}, η = {report.step_size:g})")
    ax.legend(fontsize=8)
    return figure or ax.figure


def plot_jump_time_error(report, ax=None):
    """Jump-time error against ln(1/σ) (log-log), with fits; returns the figure."""
    plt = _pyplot()
    figure = None
    if ax is None:
        figure, ax = plt.subplots(figsize=(6, 4.5))
    L = np.log(1.0 / report.sigmas)
    grid = np.geomspace(L.min(), L.max(), 50)
    for item, color in zip(report.initializations, _colors(plt, len(report.initializations))):
        errors = np.array([row.jump_time_error for row in item.rows])
        keep = np.isfinite(errors) & (errors > 0)
        ax.loglog(L[keep], errors[keep], "o", color=color, label=f"init {item.index}: {item.verdict}")
        if np.isfinite(item.fit.slope):
            fitted = item.fit.slope / grid + item.fit.intercept
            ax.loglog(grid[fitted > 0], fitted[fitted > 0], "-", color=color, lw=0.8)
        flow = np.array([row.flow_jump_time_error for row in item.rows])
        keep_flow = np.isfinite(flow) & (flow > 0)
        ax.loglog(L[keep_flow], flow[keep_flow], "x", color=color, alpha=0.6)
    first = report.initializations[0].rows[0].jump_time_error if report.initializations else np.nan
    if np.isfinite(first) and first > 0:
        ax.loglog(grid, first * L.min() / grid, "k:", lw=1.0, label="slope −1 (error ∝ 1/ln(1/σ))")
    ax.set_xlabel("ln(1/σ)")
    ax.set_ylabel("max_k |τ̂_k − τ_k|")
    ax.set_title("jump-time error (o: race for η, x: gradient-flow race)")
    ax.legend(fontsize=8)
    return figure or ax.figure


def plot_neuron_norms(report, init_index: int = 0, axes=None):
    """Neuron norms against τ: ``ln|θ_j|/ln(1/σ)`` per σ and the limit ``e_j(τ)``; returns the figure."""
    plt = _pyplot()
    item = report.initializations[init_index]
    training = report.training
    race = item.trajectory
    S, m = len(report.sigmas), race.m
    figure = None
    if axes is None:
        figure, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    left, right = axes
    tau_max = 1.25 * max(race.final_time, 1e-3) + 0.5
    neuron_colors = plt.get_cmap("tab10")
    smallest = init_index * S + S - 1
    tau = training.rescaled_times[:, smallest]
    keep = (tau > 0) & (tau <= tau_max)
    for j in range(m):
        left.semilogy(tau[keep], training.neuron_norms[keep, smallest, j], color=neuron_colors(j % 10), label=f"neuron {j}")
    left.set_xlabel("τ")
    left.set_ylabel("|θ_j| = (a_j² + ||w_j||²)^½")
    left.set_title(f"neuron norms at σ = {report.sigmas[-1]:.0e}")
    if m:
        left.legend(fontsize=7)
    grid = np.linspace(0.0, tau_max, 400)
    limit = limit_exponents(race, grid)
    for s in range(S):
        run = init_index * S + s
        tau = training.rescaled_times[:, run]
        keep = (tau > 0) & (tau <= tau_max)
        exponent = np.log(training.neuron_norms[keep, run]) / np.log(1.0 / report.sigmas[s])
        for j in range(m):
            right.plot(tau[keep], exponent[:, j], color=neuron_colors(j % 10), lw=0.8, alpha=0.3 + 0.7 * (s + 1) / S)
    for j in range(m):
        right.plot(grid, limit[:, j], color=neuron_colors(j % 10), lw=2.0, ls="--")
    right.set_xlabel("τ")
    right.set_ylabel("ln|θ_j| / ln(1/σ)  (→ exponent e_j)")
    right.set_ylim(-1.1, 0.3)
    right.set_title("exponents: finite σ (faint = large σ) vs limit (dashed)")
    return figure or left.figure


def save_figures(report, directory, init_index: int = 0) -> list:
    """Write ``loss.png``, ``jump_time_error.png`` and ``neuron_norms.png``; return their paths."""
    plt = _pyplot()
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, make in (
        ("loss.png", lambda: plot_loss(report, init_index)),
        ("jump_time_error.png", lambda: plot_jump_time_error(report)),
        ("neuron_norms.png", lambda: plot_neuron_norms(report, init_index)),
    ):
        figure = make()
        figure.tight_layout()
        path = directory / name
        figure.savefig(path, dpi=110)
        plt.close(figure)
        paths.append(path)
    return paths
