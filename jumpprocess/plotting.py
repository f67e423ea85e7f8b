"""Figures of a limit trajectory (matplotlib, imported lazily: ``pip install 'jumpprocess[plot]'``).

Every function returns its :class:`matplotlib.figure.Figure` and draws on the ``ax`` it
is given, if any. New figures are made with :class:`~matplotlib.figure.Figure` directly,
not through pyplot: the global backend is never changed (inline plots in notebooks keep
working) and a figure shows once when it is a cell's value.

* :func:`plot_trajectory` — the loss staircase and the exponent race, with a title that
  says what ran (method, η, size, and a caption such as labels and init) and wraps the
  status sentence to the figure's width;
* :func:`plot_loss_staircase` — plateau losses against τ (``log=True`` for a log axis),
  jumps marked, with an inset on the jumps when they are crowded;
* :func:`plot_exponents` — each neuron's exponent ``e_j(τ)`` (docs/math/race.rst): neurons
  that jump coloured by the order they jump in, the others grey.
"""

from __future__ import annotations

import textwrap

import numpy as np

__all__ = ["require_matplotlib", "new_figure", "wrap_title", "plot_trajectory", "plot_loss_staircase",
           "plot_exponents", "exponent_paths", "activation_colors", "jump_window"]

#: Colours for up to ten neurons that jump (a legend names them); more use a colormap.
_FEW = 10


def require_matplotlib():
    """Import matplotlib's pyplot (the backend is left as it is), or say which extra installs it."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as error:  # pragma: no cover - exercised only without the extra
        raise ImportError("plotting needs matplotlib: pip install 'jumpprocess[plot]'") from error
    return plt


def new_figure(width: float, height: float, *, empty: bool = False, **subplots):
    """A new :class:`~matplotlib.figure.Figure` with constrained layout, and its axes.

    Made without pyplot, so no backend is selected or changed; ``subplots`` go to
    :meth:`~matplotlib.figure.Figure.subplots`. Returns ``(figure, axes)`` (axes None
    when ``empty``).
    """
    try:
        from matplotlib.figure import Figure
    except ImportError as error:  # pragma: no cover - exercised only without the extra
        raise ImportError("plotting needs matplotlib: pip install 'jumpprocess[plot]'") from error
    figure = Figure(figsize=(width, height), layout="constrained")
    return figure, None if empty else figure.subplots(**subplots)


def wrap_title(text: str, figure, fontsize: float = 11.0) -> str:
    """``text`` wrapped to lines that fit the figure's width at ``fontsize`` (each line kept)."""
    width_points = figure.get_figwidth() * 72.0
    characters = max(20, int(width_points / (0.6 * fontsize)))
    return "\n".join(textwrap.fill(line, characters) for line in text.split("\n"))


def exponent_paths(traj):
    """Knots ``(τ, e)`` of every neuron's exponent path: piecewise linear between jumps (docs/math/race.rst).

    Returns ``times`` (J + 2,) and ``exponents`` (J + 2, m): τ = 0 with e = −1, each jump,
    and a final knot 10% past the last jump (rates are 0 after it: nothing left to fit).
    """
    times = np.concatenate(([0.0], traj.jump_times, [traj.final_time * 1.1 if traj.num_jumps else 1.0]))
    start = -np.ones((1, traj.m))
    last = traj.exponents[-1:] if traj.num_jumps else start
    return times, np.vstack([start, traj.exponents, last])


def activation_colors(traj):
    """Colour of each neuron that jumps (dict neuron → RGBA) and the colormap used, or None.

    Up to ten jumping neurons get the distinct ``tab10`` colours; more are coloured by
    the order in which they jump (``viridis``, first jump dark), shown by a colour bar.
    """
    from matplotlib import colormaps

    order = traj.neurons.tolist()
    if len(order) <= _FEW:
        palette = colormaps["tab10"]
        return {j: palette(k) for k, j in enumerate(order)}, None
    cmap = colormaps["viridis"]
    return {j: cmap(k / max(1, len(order) - 1) * 0.95) for k, j in enumerate(order)}, cmap


def _end_time(traj) -> float:
    return traj.final_time * 1.1 if traj.num_jumps else 1.0


def plot_loss_staircase(traj, ax=None, *, log: bool = False, inset: bool = True):
    """The limit's loss against τ: plateau values, each jump marked (docs/math/saddles.rst).

    Parameters
    ----------
    traj : Trajectory
    ax : matplotlib Axes, optional
        Where to draw; default a new figure.
    log : bool
        Log loss axis. A final plateau at 0 (interpolation) is drawn down to the axis
        bottom and labelled "then 0".
    inset : bool
        When the jumps occupy less than a third of the τ range, add an inset on them.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if ax is None:
        _, ax = new_figure(8.0, 4.0)
    end = _end_time(traj)
    _draw_staircase(traj, ax, end, log)
    ax.set_xlim(0.0, end)
    ax.set_xlabel("rescaled time τ = t / ln(1/σ)")
    ax.set_ylabel("loss L (plateau values)")
    window = jump_window(traj) if inset else None
    if window is not None:
        zoom = ax.inset_axes([0.07, 0.12, 0.5, 0.58])  # left: under the first plateau, which is empty
        _draw_staircase(traj, zoom, end, log)
        zoom.set_xlim(*window)
        zoom.set_title(f"the {traj.num_jumps} jumps, τ ∈ [{traj.jump_times[0]:.4g}, {traj.final_time:.4g}]",
                       fontsize=8)
        zoom.tick_params(labelsize=7)
    return ax.figure


def _draw_staircase(traj, ax, end, log):
    losses = traj.plateau_losses
    edges = np.concatenate(([0.0], traj.jump_times, [end]))
    values = np.append(losses, losses[-1])
    if log:
        positive = losses[losses > 0]
        bottom = float(positive.min()) / 10.0 if positive.size else 1e-3
        shown = np.where(values > 0, values, bottom)
        ax.set_yscale("log")
        ax.set_ylim(bottom, float(values.max()) * 2.0 if values.max() > 0 else 1.0)
        ax.step(edges, shown, where="post", color="C0", lw=1.6)
        if losses[-1] == 0 and traj.num_jumps:
            ax.annotate("then 0", (traj.final_time, bottom), xytext=(-4, 4), textcoords="offset points", fontsize=8,
                        color="C0", ha="right")
    else:
        ax.step(edges, values, where="post", color="C0", lw=1.6)
        ax.set_ylim(bottom=0.0)
    if traj.num_jumps:
        after = losses[1:] if not log else np.where(losses[1:] > 0, losses[1:], ax.get_ylim()[0])
        ax.plot(traj.jump_times, after, "o", ms=3, color="C3", label="jumps")
        for tau in traj.jump_times:
            ax.axvline(tau, color="0.88", lw=0.6, zorder=0)


def jump_window(traj):
    """``(τ_first − pad, τ_last + pad)`` around the jumps, or None when they are not crowded
    (they span more than a third of ``[0, 1.1 τ_last]``, or there are fewer than two)."""
    if traj.num_jumps < 2:
        return None
    first, last = float(traj.jump_times[0]), float(traj.final_time)
    if last - first >= _end_time(traj) / 3:
        return None
    pad = 0.08 * (last - first) + 1e-9 * max(1.0, last)
    return first - pad, last + pad


def plot_exponents(traj, ax=None, *, window=None, colorbar: bool = True, legend: bool = True):
    """Each neuron's exponent ``e_j(τ)`` (``|θ_j| ≈ σ^(−e_j)``, docs/math/race.rst).

    Neurons that jump are coloured (a legend names up to ten; more are coloured by the
    order they jump in, with a colour bar) and marked where they reach 0; the others are
    thin grey dashes. ``window=(τ0, τ1)`` zooms on that time range (e.g. :func:`jump_window`),
    with the exponent axis fitted to what the jumping neurons do there.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if ax is None:
        _, ax = new_figure(8.0, 4.0)
    times, exponents = exponent_paths(traj)
    colors, cmap = activation_colors(traj)
    _draw_exponents(traj, ax, times, exponents, colors, labels=legend and cmap is None, idle_label=legend)
    if window is None:
        ax.set_ylim(-1.05, 0.08)
        ax.set_xlim(0.0, times[-1])
    else:
        low = min((float(np.interp(window[0], times, exponents[:, j])) for j in colors), default=-1.0)
        ax.set_xlim(*window)
        ax.set_ylim(1.1 * low, -0.06 * low)
    ax.set_xlabel("rescaled time τ = t / ln(1/σ)")
    ax.set_ylabel("exponent e_j  (|θ_j| ≈ σ^(−e_j))")
    if cmap is not None and colorbar:
        from matplotlib.cm import ScalarMappable
        from matplotlib.colors import Normalize

        mappable = ScalarMappable(Normalize(1, traj.num_jumps / 0.95), cmap)
        bar = ax.figure.colorbar(mappable, ax=ax, pad=0.01, fraction=0.05)
        bar.set_label("jump number (order of activation)")
        bar.ax.set_ylim(1, traj.num_jumps)
    if legend and ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", fontsize=7, ncol=2 if cmap is None and traj.num_jumps > 5 else 1,
                  framealpha=0.85)
    return ax.figure


def _draw_exponents(traj, ax, times, exponents, colors, labels, idle_label=True):
    idle = [j for j in range(traj.m) if j not in colors]
    for j in idle:
        ax.plot(times, exponents[:, j], color="0.7", lw=0.7, ls="--", zorder=1)
    if idle and idle_label:
        ax.plot([], [], color="0.7", lw=0.7, ls="--", label=f"never jump ({len(idle)} neurons)")
    for k, (tau, j) in enumerate(zip(traj.jump_times, traj.neurons)):
        label = f"neuron {j} (jump {k + 1})" if labels else None
        ax.plot(times, exponents[:, j], color=colors[j], lw=1.4, zorder=2, label=label)
        ax.plot([tau], [0.0], "o", ms=3.5, color=colors[j], zorder=3)
    ax.axhline(0.0, color="k", lw=0.6)


def plot_trajectory(traj, path=None, *, title: str | None = None, caption: str | None = None,
                    log_loss: bool = False, axes=None, dpi: int = 120):
    """The loss staircase above the exponent race, with a title saying what ran.

    When the jumps are crowded at the end of a long race (the usual case: every neuron
    needs τ ≈ 1/λ to escape), a second column shows both near the jumps (:func:`jump_window`).

    Parameters
    ----------
    traj : Trajectory
    path : str or path-like, optional
        Also save the figure there (PNG, ``dpi``).
    title : str, optional
        Replaces the first title line (default: method, η, n, m).
    caption : str, optional
        Appended to the first line in parentheses, e.g. ``"labels sign-balanced, init balanced, seed 0"``.
    log_loss : bool
        Log axis for the loss.
    axes : sequence of matplotlib Axes, optional
        Draw there instead of a new figure: (loss, exponents), or four axes whose last two
        show the same near the jumps.

    Returns
    -------
    matplotlib.figure.Figure
        The status sentence is wrapped to the figure's width (never clipped).

    Examples
    --------
    >>> from jumpprocess import make_instance, simulate
    >>> figure = plot_trajectory(simulate(*make_instance(60, 12, seed=0)), caption="seed 0")
    >>> figure.axes[1].get_xlabel()
    'rescaled time τ = t / ln(1/σ)'
    """
    window = jump_window(traj)
    if axes is None:
        figure, grid = new_figure(10.5 if window else 9.0, 7.5, nrows=2, ncols=2 if window else 1, squeeze=False,
                                  sharex="col", gridspec_kw={"height_ratios": [2, 3],
                                                             "width_ratios": [3, 2] if window else [1]})
        axes = tuple(grid[:, 0]) + (tuple(grid[:, 1]) if window else ())
    figure = axes[0].figure
    plot_loss_staircase(traj, axes[0], log=log_loss, inset=len(axes) < 4)
    plot_exponents(traj, axes[1], colorbar=len(axes) < 4)
    axes[0].set_xlabel("")
    if len(axes) >= 4 and window is not None:  # right column: the same near the jumps
        plot_loss_staircase(traj, axes[2], log=log_loss, inset=False)
        axes[2].set_xlim(*window)
        axes[2].set(xlabel="", ylabel="", title="near the jumps")
        plot_exponents(traj, axes[3], window=window, legend=False)
        axes[3].set_ylabel("")
    head = title or f"σ→0 limit of {traj.method}: n = {traj.n}, m = {traj.m}"
    if caption:
        head += f" ({caption})"
    ratio = f"; squared norm {traj.norm_ratio:.3f} × the minimal interpolator's" if traj.interpolates else ""
    last = f", last at τ = {traj.final_time:.4g}" if traj.num_jumps else ""
    body = f"{traj.num_jumps} jumps{last}{ratio}. Status: {traj.status}"
    figure.suptitle(wrap_title(head, figure, 12) + "\n" + wrap_title(body, figure, 10), fontsize=10.5)
    if path is not None:
        figure.savefig(path, dpi=dpi)
    return figure
