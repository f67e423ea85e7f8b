"""Figures of a :class:`~validation.comparison.ValidationReport` (matplotlib, PNG).

* :func:`plot_loss` — loss against rescaled time ``τ = t / ln(1/σ)`` at every σ, with the
  limit's staircase of plateau losses ``(1/2n) Σ_{i∈R} y_i²`` (docs/math/saddles.rst) on top;
* :func:`plot_jump_time_error` — jump-time error against ``ln(1/σ)`` on log-log axes, with
  the fit ``slope / ln(1/σ) + intercept`` and the reference slope −1 (docs/math/convergence.rst);
* :func:`plot_neuron_norms` — per-neuron norms at the smallest σ, and exponents
  ``ln|θ_j| / ln(1/σ)`` against τ for every σ with the limit's piecewise-linear exponents
  ``e_j(τ)`` (docs/math/race.rst: ``|θ_j| ≈ σ^{−e_j}``).

Every function returns its figure and draws on the ``ax`` given, if any; new figures are
made without pyplot, so the global backend is never changed. Axis ranges follow the data
shown (no empty decades), legends sit outside the curves, and a panel with nothing finite
to show says why instead of staying blank.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .backend import INSTALL_HINT

__all__ = ["plot_loss", "plot_jump_time_error", "plot_neuron_norms", "save_figures", "limit_exponents"]


def _new_figure(width, height, **subplots):
    try:
        from jumpprocess.plotting import new_figure
    except ImportError as error:  # pragma: no cover - exercised only without matplotlib
        raise ImportError(f"figures need matplotlib: {INSTALL_HINT}") from error
    return new_figure(width, height, **subplots)


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


def _sigma_colors(count):
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    return [cmap(x) for x in np.linspace(0.0, 0.85, max(count, 1))]


def _log_limits(values, pad: float = 1.6):
    """``(low, high)`` of a log axis around the positive finite ``values`` (None if none)."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values) & (values > 0)]
    if values.size == 0:
        return None
    return float(values.min()) / pad, float(values.max()) * pad


def _say(ax, text):
    """Write why a panel has nothing to show, in the panel."""
    import textwrap

    ax.text(0.5, 0.5, textwrap.fill(text, 60), transform=ax.transAxes, ha="center", va="center", fontsize=9,
            color="0.3", bbox={"facecolor": "white", "edgecolor": "0.7", "boxstyle": "round"})


def plot_loss(report, init_index: int = 0, ax=None):
    """Loss against τ at every σ, with the limit staircase; returns the figure.

    The loss axis spans the losses shown (no empty decades); a limit that ends at loss 0
    is drawn down to the axis bottom.
    """
    if ax is None:
        _, ax = _new_figure(8.0, 4.5)
    item = report.initializations[init_index]
    training = report.training
    S = len(report.sigmas)
    race = item.trajectory
    tau_max = 1.25 * max(race.final_time, 1e-3) + 0.5
    shown = [race.plateau_losses]
    for s, (sigma, color) in enumerate(zip(report.sigmas, _sigma_colors(S))):
        run = init_index * S + s
        tau = training.rescaled_times[:, run]
        keep = (tau > 0) & (tau <= tau_max)
        ax.plot(tau[keep], training.losses[keep, run], color=color, lw=1.2, label=f"σ = {sigma:.0e}")
        shown.append(training.losses[keep, run])
    limits = _log_limits(np.concatenate(shown))
    plateaus = np.append(race.plateau_losses, race.plateau_losses[-1])
    if limits is not None:
        plateaus = np.where(plateaus > 0, plateaus, limits[0])
    edges = np.concatenate(([0.0], race.jump_times, [tau_max]))
    ax.step(edges, plateaus, where="post", color="crimson", lw=2.0, ls="--", label="σ → 0 limit")
    ax.set_xlabel("rescaled time τ = t / ln(1/σ)")
    ax.set_ylabel("loss L = (1/2n) Σ (f − y)²")
    if limits is not None:
        ax.set_yscale("log")
        ax.set_ylim(*limits)
    ax.set_xlim(0, tau_max)
    ax.set_title(f"loss against rescaled time: init {init_index}, n = {race.n}, m = {race.m}, "
                 f"η = {report.step_size:g}", fontsize=10)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    return ax.figure


def plot_jump_time_error(report, ax=None):
    """Jump-time error against ln(1/σ) (log-log), with fits; returns the figure.

    The error axis spans the errors shown; fit curves are drawn only inside it. Where an
    error is not finite or nothing was compared, the panel says so.
    """
    if ax is None:
        _, ax = _new_figure(7.5, 4.5)
    L = np.log(1.0 / report.sigmas)
    grid = np.geomspace(L.min(), L.max(), 80)
    points = []
    for item in report.initializations:
        points += [row.jump_time_error for row in item.rows] + [row.flow_jump_time_error for row in item.rows]
        points += [row.hybrid_jump_time_error for row in item.rows]
    limits = _log_limits(points, pad=2.0)
    missing = []
    for item, color in zip(report.initializations, _sigma_colors(len(report.initializations))):
        errors = np.array([row.jump_time_error for row in item.rows])
        keep = np.isfinite(errors) & (errors > 0)
        ax.plot(L[keep], errors[keep], "o", color=color, label=f"init {item.index}: {item.verdict}")
        flow = np.array([row.flow_jump_time_error for row in item.rows])
        keep_flow = np.isfinite(flow) & (flow > 0)
        ax.plot(L[keep_flow], flow[keep_flow], "x", color=color, alpha=0.7)
        hybrid = np.array([row.hybrid_jump_time_error for row in item.rows])
        keep_hybrid = np.isfinite(hybrid) & (hybrid > 0)
        ax.plot(L[keep_hybrid], hybrid[keep_hybrid], "s", color=color, mfc="none", ms=7)
        exact = [row.sigma for row, value in zip(item.rows, hybrid) if value == 0]
        if exact:
            missing.append(f"init {item.index}: finite-σ prediction exact (same half-fit steps) at σ = "
                           + ", ".join(f"{v:.0e}" for v in exact))
        if limits is not None and np.isfinite(item.fit.slope) and np.any(keep):
            # drawn where it stays near this init's errors: a negative intercept would
            # otherwise send the curve diving towards 0 on the log axis
            fitted = item.fit.slope / grid + item.fit.intercept
            inside = (fitted >= max(limits[0], errors[keep].min() / 1.5)) & (fitted <= limits[1])
            ax.plot(grid[inside], fitted[inside], "-", color=color, lw=0.8)
        for row, value in zip(item.rows, errors):
            if not (np.isfinite(value) and value > 0):
                why = ("nothing compared (no limit jump reached within max_steps)" if row.unreached_jumps
                       else "error 0" if value == 0 else "a limit jump never happened (not half-fitted)")
                missing.append(f"init {item.index}, σ = {row.sigma:.0e}: {why}")
    ax.set_xscale("log")
    ax.set_xlabel("ln(1/σ)")
    ax.set_ylabel("max_k |τ̂_k − τ_k|")
    ax.set_xlim(L.min() / 1.15, L.max() * 1.15)
    _sigma_ticks(ax, report.sigmas)
    ax.set_title(f"jump-time error (o: race for η = {report.step_size:g}; x: gradient-flow race; lines: fits;\n"
                 "□: finite-σ prediction at that σ)", fontsize=10)
    if limits is None:
        ax.set_yscale("log")
        ax.set_ylim(1e-3, 1.0)
        ax.set_yticks([])
        ax.set_yticks([], minor=True)
        _say(ax, "No finite jump-time error to show. " + "; ".join(missing[:4]) + ("; …" if len(missing) > 4 else ""))
        return ax.figure
    ax.set_yscale("log")
    ax.set_ylim(*limits)
    first = np.array([row.jump_time_error for row in report.initializations[0].rows])
    if np.isfinite(first[0]) and first[0] > 0:
        reference = first[0] * L.min() / grid
        inside = (reference >= limits[0]) & (reference <= limits[1])
        ax.plot(grid[inside], reference[inside], "k:", lw=1.0, label="slope −1 (error ∝ 1/ln(1/σ))")
    if missing:  # beside the axes, under the legend: never over the points
        import textwrap

        note = "Not shown: " + "; ".join(missing[:3]) + ("; …" if len(missing) > 3 else "")
        ax.text(1.02, 0.0, textwrap.fill(note, 42), transform=ax.transAxes, fontsize=7, color="0.3",
                va="bottom", ha="left")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    return ax.figure


def _sigma_ticks(ax, sigmas):
    """Ticks at the ln(1/σ) of the σ used (plain numbers), with σ itself on a top axis."""
    from matplotlib.ticker import FixedLocator, NullLocator

    L = np.log(1.0 / np.asarray(sigmas))
    ax.xaxis.set_major_locator(FixedLocator(L))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticklabels([f"{value:.3g}" for value in L])
    top = ax.secondary_xaxis("top")
    top.xaxis.set_major_locator(FixedLocator(L))
    top.xaxis.set_minor_locator(NullLocator())
    top.set_xticklabels([f"{sigma:.0e}" for sigma in sigmas], fontsize=7)
    top.set_xlabel("σ", fontsize=8)


def plot_neuron_norms(report, init_index: int = 0, axes=None):
    """Neuron norms against τ: ``|θ_j|`` at the smallest σ, and ``ln|θ_j|/ln(1/σ)`` per σ with
    the limit ``e_j(τ)``; returns the figure.

    Neurons that jump in the limit are coloured as in :func:`jumpprocess.plotting.plot_exponents`
    (by the order they jump in); the others are grey.
    """
    from jumpprocess.plotting import activation_colors

    item = report.initializations[init_index]
    training = report.training
    race = item.trajectory
    S, m = len(report.sigmas), race.m
    if axes is None:
        _, axes = _new_figure(13.0, 4.8, nrows=1, ncols=2)
    left, right = axes
    colors, cmap = activation_colors(race)
    idle = "0.7"
    tau_max = 1.25 * max(race.final_time, 1e-3) + 0.5
    smallest = init_index * S + S - 1
    tau = training.rescaled_times[:, smallest]
    keep = (tau > 0) & (tau <= tau_max)
    for j in range(m):
        jumping = j in colors
        label = f"neuron {j} (jump {race.neurons.tolist().index(j) + 1})" if jumping and cmap is None else None
        left.semilogy(tau[keep], training.neuron_norms[keep, smallest, j], color=colors.get(j, idle),
                      lw=1.4 if jumping else 0.8, ls="-" if jumping else "--", label=label, zorder=2 if jumping else 1)
    if len(colors) < m:
        left.plot([], [], color=idle, lw=0.8, ls="--", label=f"never jump ({m - len(colors)})")
    left.set_xlabel("rescaled time τ")
    left.set_ylabel("|θ_j| = (a_j² + ||w_j||²)^½")
    left.set_title(f"neuron norms at σ = {report.sigmas[-1]:.0e} (init {init_index})", fontsize=10)
    if left.get_legend_handles_labels()[0]:
        left.legend(fontsize=7, loc="lower right")
    grid = np.linspace(0.0, tau_max, 400)
    limit = limit_exponents(race, grid)
    for s in range(S):
        run = init_index * S + s
        tau = training.rescaled_times[:, run]
        keep = (tau > 0) & (tau <= tau_max)
        exponent = np.log(training.neuron_norms[keep, run]) / np.log(1.0 / report.sigmas[s])
        for j in range(m):
            right.plot(tau[keep], exponent[:, j], color=colors.get(j, idle), lw=0.8, alpha=0.25 + 0.75 * (s + 1) / S)
    for j in range(m):
        right.plot(grid, limit[:, j], color=colors.get(j, idle), lw=2.0, ls="--")
    right.plot([], [], color="k", lw=2.0, ls="--", label="σ → 0 limit e_j(τ)")
    right.plot([], [], color="k", lw=0.8, alpha=0.3, label=f"σ = {report.sigmas[0]:.0e} (faint)")
    right.plot([], [], color="k", lw=0.8, label=f"σ = {report.sigmas[-1]:.0e}")
    right.set_xlabel("rescaled time τ")
    right.set_ylabel("ln|θ_j| / ln(1/σ)  (→ exponent e_j)")
    right.set_ylim(-1.1, 0.3)
    right.set_xlim(0.0, tau_max)
    right.set_title("exponents at finite σ against the limit", fontsize=10)
    right.legend(fontsize=7, loc="upper left")
    if cmap is not None:
        from matplotlib.cm import ScalarMappable
        from matplotlib.colors import Normalize

        bar = right.figure.colorbar(ScalarMappable(Normalize(1, race.num_jumps / 0.95), cmap), ax=right, pad=0.01)
        bar.set_label("jump number (order of activation)")
        bar.ax.set_ylim(1, race.num_jumps)
    return left.figure


def save_figures(report, directory, init_index: int = 0) -> list:
    """Write ``loss.png``, ``jump_time_error.png`` and ``neuron_norms.png``; return their paths."""
    if report.training is None:
        raise ValueError("this report has no training record (written without curves): figures need the curves")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, make in (
        ("loss.png", lambda: plot_loss(report, init_index)),
        ("jump_time_error.png", lambda: plot_jump_time_error(report)),
        ("neuron_norms.png", lambda: plot_neuron_norms(report, init_index)),
    ):
        figure = make()
        path = directory / name
        figure.savefig(path, dpi=110)
        paths.append(path)
    return paths
