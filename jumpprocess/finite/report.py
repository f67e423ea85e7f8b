"""The limit and the run at σ side by side: a text table and a figure.

docs/math/finite-sigma.rst, "Offsets from the limit". Used by ``jumpprocess simulate
--sigma``; matplotlib is imported only by :func:`plot_finite_run`.
"""

from __future__ import annotations

import numpy as np

__all__ = ["side_by_side", "plot_finite_run", "sigma_text"]


def sigma_text(log_sigma: float) -> str:
    """σ as ``1e-08`` when float64 holds it, else as ``exp(-1e+05)``."""
    return f"{np.exp(log_sigma):.3g}" if log_sigma > -700 else f"exp({log_sigma:.6g})"


def _fmt(values):
    return "{" + ", ".join(str(int(i)) for i in values[:6]) + (", …" if len(values) > 6 else "") + "}"


def side_by_side(trajectory, run, max_rows: int = 24) -> str:
    """Per limit jump: τ, its time ``τ ln(1/σ)``, the run's time and offset, and whether it is reproduced.

    Activations of the run that match no limit jump are listed after, with their times.

    Examples
    --------
    >>> from jumpprocess import OrthogonalProblem, Initialization, simulate, simulate_finite
    >>> p = OrthogonalProblem([1.0, -1.0])
    >>> init = Initialization([[1.0, -1.0], [-1.0, 1.0]], [1.5, -1.5])
    >>> text = side_by_side(simulate(p, init), simulate_finite(p, init, sigma=1e-6))
    >>> "2/2 limit jumps reproduced" in text
    True
    """
    comparison = run.compare_limit(trajectory)
    L = run.log_inverse_sigma
    head = (f"{'jump':>4}  {'τ (limit)':>10}  {'t = τ ln(1/σ)':>13}  {'t (at σ)':>11}  {'τ (at σ)':>9}  "
            f"{'offset t':>9}  {'neuron':>6}  {'|fitted|':>8}  at σ")
    lines = [head, "-" * len(head)]
    J = trajectory.num_jumps
    rows = list(range(J)) if J <= max_rows else list(range(max_rows - 2)) + [J - 2, J - 1]
    for k in rows:
        if J > max_rows and k == J - 2:
            lines.append(f"{'…':>4}")
        event = trajectory.events[k]
        t_limit = comparison.limit_times[k]
        if comparison.reproduced[k]:
            t = comparison.finite_times[k]
            at_sigma = "same"
            cells = f"{t:>11.5g}  {t / L:>9.5g}  {comparison.offsets[k]:>+9.4g}"
        else:
            at_sigma = "DIFFERS"
            cells = f"{'-':>11}  {'-':>9}  {'-':>9}"
        lines.append(f"{k + 1:>4}  {event.time:>10.5g}  {t_limit:>13.5g}  {cells}  {event.neuron:>6}  "
                     f"{event.fitted.size:>8}  {at_sigma}")
    extra = [(t, j, f) for t, j, f in zip(run.activation_times, run.neurons, run.fitted)
             if not any(np.array_equal(f, e.fitted) for e in trajectory.events if e.neuron == j)]
    if extra:
        lines.append("")
        lines.append("activations at σ that the limit does not have:")
        for t, j, f in extra:
            lines.append(f"  t = {t:.5g} (τ = {t / L:.5g}): neuron {j} fits {f.size} samples {_fmt(f)}")
    summary = (f"{int(comparison.reproduced.sum())}/{J} limit jumps reproduced at σ = {sigma_text(run.log_sigma)}, "
               f"order {'kept' if comparison.order_preserved else 'changed'}"
               + ("" if comparison.reproduces_all else " — the limit does not describe this run"))
    lines.append("")
    lines.append(summary)
    return "\n".join(lines)


def plot_finite_run(run, trajectory=None, path=None, *, ax=None, log_loss: bool = False, caption: str = ""):
    """The loss at σ over the limit's staircase mapped to ``t = τ ln(1/σ)``; returns the Figure.

    Parameters
    ----------
    run : FiniteRun
    trajectory : Trajectory, optional
        The limit (computed when omitted).
    path : str, optional
        Write a PNG there.
    ax : matplotlib Axes, optional
        Draw on it instead of a new figure.
    log_loss : bool
        Log scale for the loss.
    caption : str
        Appended to the title (labels, init, seed…).
    """
    from ..plotting import new_figure, wrap_title

    if trajectory is None:
        from ..limit.engine import simulate

        trajectory = simulate(run.problem, run.init, run.step_size)
    L = run.log_inverse_sigma
    last_fit = float(np.nanmax(run.half_fit_times)) if np.isfinite(run.half_fit_times).any() else run.final_time
    end = max(last_fit, float(trajectory.final_time) * L if trajectory.num_jumps else 0.0) * 1.25 or 1.0
    if ax is None:
        figure, ax = new_figure(8.0, 4.2)
    else:
        figure = ax.figure
    grid = np.linspace(0.0, end, 4000)
    ax.plot(grid, run.loss_at(grid), color="tab:blue", lw=2.0, label=f"run at σ = {sigma_text(run.log_sigma)} ({run.method} engine)")
    stairs_t = np.concatenate(([0.0], trajectory.jump_times * L, [end]))
    ax.step(stairs_t, np.concatenate((trajectory.plateau_losses, trajectory.plateau_losses[-1:])), where="post",
            color="black", lw=1.2, ls="--", label="σ→0 limit, t = τ ln(1/σ)")
    comparison = run.compare_limit(trajectory)
    for k, t in enumerate(comparison.limit_times):
        ax.axvline(t, color="tab:green" if comparison.reproduced[k] else "tab:red", lw=0.6, alpha=0.5)
    ax.set_xlabel("training time t (original units)")
    ax.set_ylabel("loss 1/(2n) Σ (f − y)²")
    if log_loss:
        ax.set_yscale("log")
        positive = run.samples[:, 1][run.samples[:, 1] > 0]
        if positive.size:
            ax.set_ylim(bottom=max(positive.min(), 1e-12 * positive.max()))
    ax.set_xlim(0.0, end)
    ax.legend(loc="upper right", fontsize=8)
    method = "gradient flow" if run.step_size is None else f"gradient descent, η = {run.step_size:g}"
    title = (f"Finite σ against the limit: n = {run.n}, m = {run.m}, {method}"
             + (f", {caption}" if caption else "")
             + f"\n{int(comparison.reproduced.sum())}/{comparison.reproduced.size} limit jumps reproduced "
             "(green lines: reproduced, red: not)")
    ax.set_title(wrap_title(title, figure, 10.0), fontsize=10)
    if path is not None:
        figure.savefig(path, dpi=130)
    return figure
