"""A user's logged training run compared with the σ→0 limit and with the finite-σ run.

Given the imported network (:func:`jumpprocess.from_torch` or :func:`.from_parameters`) and
a :class:`TrainingLog` of its training (steps or times, losses, optionally the outputs on
every sample), :func:`compare_log` predicts the same run twice, in the user's units
(docs/math/model.rst, "Converting other conventions"):

- the σ→0 limit (``jumpprocess.simulate``): jump times ``t = τ ln(1/σ)/(c κ)``, fitted
  sets, plateau losses ``c · (1/2n) Σ_{i unfitted} y_i²`` (docs/math/saddles.rst);
- the finite-σ run at the user's σ (``jumpprocess.simulate_finite``, docs/math/finite-sigma.rst):
  per-sample half-fit times and the loss curve;

and reads per jump: when the log half-fits the jump's samples (``|y_i − f(x_i)| <= |y_i|/2``,
first logged point), the plateau loss it sits on, and whether its samples are fitted in
the limit's order. The result carries a verdict for each prediction and a figure overlaying
the three loss curves.

Saved-log file format (``jumpprocess compare-log FILE``)
--------------------------------------------------------
One JSON object (``.json``) or a numpy ``.npz`` archive with the same keys, all in the
user's own units and layout:

==================  =========================  ==================================================
key                 shape / type               meaning
==================  =========================  ==================================================
``inputs``          (n, d)                     the inputs X as fed to the network (no bias column)
``labels``          (n,) or (n, 1)             the targets y
``hidden_weight``   (m, d)                     W(0), the first layer's weight at the start
``hidden_bias``     (m,), optional             b(0); its presence means a hidden bias
``output_weight``   (m,) or (1, m)             a(0), the second layer's weight (no output bias)
``loss``            str or number              ``"half-mean"``, ``"mean"`` (``MSELoss()``), ``"sum"``,
                                               ``"half-sum"``, or the factor c of 1/(2n) Σ r²
``output_scale``    number or str              κ in f = κ Σ_j a_j relu(...), or ``"1/m"``, ``"1/sqrt(m)"``
``lr``              number, optional           full-batch SGD learning rate (required with steps)
``sigma``           number, optional           the initialization scale; default: chosen (SIGMA_RULE)
``steps``           (T,) ints                  the logged steps (or give ``times`` instead)
``times``           (T,) numbers               the logged times t (gradient flow, or steps × lr)
``losses``          (T,)                       the logged loss, in the user's loss
``outputs``         (T, n), optional           network outputs f(x_i) at the logged points
==================  =========================  ==================================================

:func:`save_training_log` writes this format and :func:`load_training_log` reads it.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field

import numpy as np

from .._values import as_float_array, as_real
from .torch_model import ImportedModel, from_parameters
from .conventions import Convention

__all__ = ["TrainingLog", "LogComparison", "JumpComparison", "compare_log", "load_training_log",
           "save_training_log", "observed_half_fit"]

#: A sample counts as half-fitted once ``|y_i − f(x_i)| <= HALF_FIT_FRACTION · |y_i|``.
HALF_FIT_FRACTION = 0.5
#: Plateau losses agree when they differ by at most this fraction of the initial loss.
PLATEAU_TOLERANCE = 1e-2


@dataclass(frozen=True, eq=False)
class TrainingLog:
    """A logged training run: steps or times, losses, optionally outputs.

    Parameters
    ----------
    losses : array_like, shape (T,)
        The user's loss at each logged point (non-finite values mark a diverged run).
    steps : array_like of int, shape (T,), optional
        Gradient-descent step counts, non-decreasing.
    times : array_like, shape (T,), optional
        User times ``t`` instead of steps (gradient flow, or ``k · lr``).
    outputs : array_like, shape (T, n), optional
        ``f(x_i)`` at the logged points; needed for half-fit times and fitted sets.

    Examples
    --------
    >>> log = TrainingLog([0.5, 0.25, 0.0], steps=[0, 10, 20])
    >>> log.axis_name, log.size
    ('step', 3)
    """

    losses: np.ndarray
    steps: np.ndarray | None = None
    times: np.ndarray | None = None
    outputs: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self):
        losses = as_float_array(self.losses, "losses").reshape(-1)
        if losses.size == 0:
            raise ValueError("the log is empty: give at least one logged loss")
        if (self.steps is None) == (self.times is None):
            raise ValueError("give exactly one of steps (gradient descent) or times (user time t)")
        axis = as_float_array(self.steps if self.steps is not None else self.times, "steps/times").reshape(-1)
        name = "steps" if self.steps is not None else "times"
        if axis.shape != losses.shape:
            raise ValueError(f"{name} has {axis.size} entries but losses has {losses.size}")
        if not np.all(np.isfinite(axis)) or np.any(axis < 0) or np.any(np.diff(axis) < 0):
            raise ValueError(f"{name} must be finite, >= 0 and non-decreasing")
        if name == "steps" and np.any(axis != np.round(axis)):
            raise ValueError("steps must be whole numbers (give times for fractional values)")
        outputs = self.outputs
        if outputs is not None:
            outputs = as_float_array(outputs, "outputs")
            if outputs.ndim == 3 and outputs.shape[2] == 1:
                outputs = outputs[:, :, 0]
            if outputs.ndim != 2 or outputs.shape[0] != losses.size:
                raise ValueError(f"outputs must have shape (T = {losses.size}, n), got {outputs.shape}")
        object.__setattr__(self, "losses", losses)
        object.__setattr__(self, "steps", axis.astype(np.int64) if name == "steps" else None)
        object.__setattr__(self, "times", axis if name == "times" else None)
        object.__setattr__(self, "outputs", outputs)

    @property
    def size(self) -> int:
        return int(self.losses.size)

    @property
    def axis_name(self) -> str:
        """``"step"`` or ``"time"``: the unit the comparison reports in."""
        return "step" if self.steps is not None else "time"

    @property
    def axis(self) -> np.ndarray:
        """The logged steps or times."""
        return self.steps.astype(float) if self.steps is not None else self.times

    def user_times(self, lr) -> np.ndarray:
        """User times ``t``: the logged times, or ``steps · lr``."""
        if self.times is not None:
            return self.times
        if lr is None:
            raise ValueError("a log in steps needs the learning rate lr to be compared (t = step · lr)")
        return self.steps * float(lr)


def observed_half_fit(log: TrainingLog, labels) -> np.ndarray:
    """Per sample, the first logged step/time with ``|y_i − f(x_i)| <= |y_i|/2`` (NaN if never or ``y_i = 0``)."""
    if log.outputs is None:
        raise ValueError("half-fit times need the outputs f(x_i) in the log")
    y = as_float_array(labels, "labels").reshape(-1)
    if log.outputs.shape[1] != y.size:
        raise ValueError(f"the log's outputs have {log.outputs.shape[1]} samples but there are {y.size} labels")
    fitted = np.abs(y - log.outputs) <= HALF_FIT_FRACTION * np.abs(y)           # (T, n)
    fitted &= (y != 0)
    first = np.argmax(fitted, axis=0)
    return np.where(fitted.any(axis=0), log.axis[first], np.nan)


@dataclass(frozen=True, eq=False)
class JumpComparison:
    """One jump of the limit, read in the limit, the finite-σ run and the log (user units).

    Times are in the log's unit (steps or user time); NaN where unavailable.
    """

    index: int
    neuron: int
    fitted: np.ndarray
    tied: bool
    limit_time: float
    finite_time: float
    observed_time: float
    observed_first: float
    observed_last: float
    plateau_limit: float
    plateau_finite: float
    plateau_observed: float


@dataclass(frozen=True, eq=False)
class LogComparison:
    """The result of :func:`compare_log`; ``verdict`` says it in sentences."""

    imported: ImportedModel
    log: TrainingLog
    limit: object
    finite: object | None
    finite_note: str
    jumps: tuple
    observed_half_fit: np.ndarray | None
    finite_half_fit: np.ndarray | None
    agrees_with_limit: bool | None
    agrees_with_finite: bool | None
    limit_verdict: str
    finite_verdict: str
    details: dict

    @property
    def verdict(self) -> str:
        return f"limit: {self.limit_verdict}\nfinite σ: {self.finite_verdict}"

    def _axis(self, user_time):
        lr = self.imported.lr
        return user_time / lr if self.log.axis_name == "step" else user_time

    def table(self) -> str:
        """A per-jump table in the log's unit and the user's loss."""
        unit = self.log.axis_name
        head = (f"{'#':>3} {'neuron':>6} {'|F|':>4} {'limit ' + unit:>12} {'finite ' + unit:>12} "
                f"{'logged ' + unit:>13}  {'plateau: limit':>14} {'finite':>11} {'logged':>11}")
        lines = [head]
        for row in self.jumps:
            tie = " tie" if row.tied else ""
            lines.append(
                f"{row.index + 1:>3} {row.neuron:>6} {row.fitted.size:>4} {row.limit_time:>12.6g} "
                f"{row.finite_time:>12.6g} {row.observed_time:>13.6g}  {row.plateau_limit:>14.6g} "
                f"{row.plateau_finite:>11.6g} {row.plateau_observed:>11.6g}{tie}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        def clean(value):
            if isinstance(value, float) and not math.isfinite(value):
                return None
            return value

        return {
            "verdict": {"limit": self.limit_verdict, "finite": self.finite_verdict,
                        "agrees_with_limit": self.agrees_with_limit, "agrees_with_finite": self.agrees_with_finite},
            "unit": self.log.axis_name,
            "sigma": self.imported.sigma, "sigma_chosen": self.imported.sigma_chosen,
            "convention": self.imported.convention.describe(),
            "jumps": [{"neuron": r.neuron, "fitted": r.fitted.tolist(), "tied": r.tied,
                       **{k: clean(float(getattr(r, k))) for k in (
                           "limit_time", "finite_time", "observed_time", "observed_first", "observed_last",
                           "plateau_limit", "plateau_finite", "plateau_observed")}} for r in self.jumps],
            "details": {k: clean(v) if isinstance(v, float) else v for k, v in self.details.items()},
        }

    def plot(self, path=None, *, ax=None):
        """Overlay the logged, finite-σ and limit loss curves (user units); save to ``path`` if given.

        Returns the matplotlib figure. Below it, each sample's logged half-fit against the
        predictions (on the diagonal when they agree). ``ax``: a pair of axes for both
        panels, or one axes for the loss panel alone. The global matplotlib backend is never
        touched (the figure is made without pyplot).
        """
        from ..plotting import new_figure

        if ax is None:
            fig, (top, bottom) = new_figure(8.0, 7.5, nrows=2, ncols=1, gridspec_kw={"height_ratios": [3, 2]})
        elif isinstance(ax, (tuple, list)):
            top, bottom = ax
            fig = top.figure
        else:
            top, bottom, fig = ax, None, ax.figure
        unit = self.log.axis_name
        x_log = self.log.axis
        events = [row.limit_time for row in self.jumps] + [row.observed_last for row in self.jumps]
        if self.finite_half_fit is not None:
            events += list(self.finite_half_fit)
        events = [e for e in events if np.isfinite(e)]
        end = float(x_log[-1]) if x_log.size else 1.0
        if events:  # show the jumps, not a long converged tail
            end = min(end, 1.25 * max(events))
        grid = np.linspace(0.0, end, 2000)
        user_grid = grid * self.imported.lr if unit == "step" else grid
        top.plot(x_log, self.log.losses, color="k", lw=2.2, alpha=0.55, label="logged run")
        if self.finite is not None:
            # gradient descent has a loss per step: draw the finite-σ run at whole steps
            fine = np.arange(0.0, np.floor(end) + 1.0) if unit == "step" and end <= 1e5 else grid
            top.plot(fine, self.finite.loss_at(fine * self.imported.lr if unit == "step" else fine),
                     color="C1", lw=1.4, ls="--",
                     label=f"finite-σ prediction (σ = {self.imported.sigma:.3g})")
        top.plot(grid, self.limit.loss_at(user_grid), color="C0", lw=1.2, drawstyle="steps-post",
                 label="σ→0 limit")
        top.set_ylabel("loss (your units)")
        top.text(0.01, 0.02, f"σ = {self.imported.sigma:.3g}; {self.imported.convention.describe()}",
                 transform=top.transAxes, fontsize=7, color="0.35")
        top.set_xlim(0, end)
        top.legend(loc="upper right")
        top.set_title(_short_verdict(self), fontsize=10)
        if bottom is None:
            pass
        elif self.observed_half_fit is not None:
            limit_at = np.full(self.imported.problem.n, np.nan)
            for row in self.jumps:
                limit_at[row.fitted] = row.limit_time
            predicted = [limit_at] + ([self.finite_half_fit] if self.finite_half_fit is not None else [])
            shown = [v for v in np.concatenate([self.observed_half_fit, *predicted]) if np.isfinite(v)]
            low, high = (min(shown), max(shown)) if shown else (0.0, end)
            pad = 0.08 * (high - low) + 1.0
            bottom.plot([low - pad, high + pad], [low - pad, high + pad], color="0.6", lw=0.8)
            bottom.set_xlim(low - pad, high + pad)
            bottom.set_ylim(low - pad, high + pad)
            bottom.scatter(self.observed_half_fit, limit_at, marker="x", color="C0", label="σ→0 limit")
            if self.finite_half_fit is not None:
                bottom.scatter(self.observed_half_fit, self.finite_half_fit, facecolors="none", edgecolors="C1",
                               label="finite σ")
            bottom.set_xlabel(f"logged half-fit {unit}")
            bottom.set_ylabel(f"predicted half-fit {unit}")
            bottom.legend(loc="upper left")
        else:
            bottom.text(0.5, 0.5, "no outputs in the log: half-fit times not compared", ha="center", va="center",
                        transform=bottom.transAxes)
            bottom.set_axis_off()
        top.set_xlabel(unit if unit == "step" else "time t (your units)")
        if path is not None:
            fig.savefig(path, dpi=120)
        return fig


def _short_verdict(result) -> str:
    def word(flag):
        return "not checked" if flag is None else ("agrees" if flag else "differs")

    return (f"log vs σ→0 limit: {word(result.agrees_with_limit)};  log vs finite σ: "
            f"{word(result.agrees_with_finite)}")


def _rank_blocks(trajectory):
    """Jump index -> rank; jumps tied in the limit share a rank (their order is not determined)."""
    ranks, rank = [], -1
    previous = None
    for k, event in enumerate(trajectory.events):
        tied_to_previous = previous is not None and (event.neuron in previous.tied_with
                                                     or previous.neuron in event.tied_with)
        if not tied_to_previous:
            rank += 1
        ranks.append(rank)
        previous = event
    return np.array(ranks, dtype=int)


def _plateau_index(log, slope, start, stop) -> int:
    """The logged point where plateau (start, stop) is read: its flattest point, else the nearest to its middle.

    On a plateau the real loss passes closest to the saddle value where it is flattest (between
    two drops); the middle is the fallback when the log has no point inside or no slope.
    """
    if not np.isfinite(start) or not np.isfinite(stop):
        stop = stop if np.isfinite(stop) else float(log.axis[-1])
        start = start if np.isfinite(start) else float(log.axis[0])
    inside = np.flatnonzero((log.axis > start) & (log.axis < stop))
    if slope is not None and inside.size:
        finite = inside[np.isfinite(slope[inside])]
        if finite.size:
            return int(finite[np.argmin(slope[finite])])
    return int(np.argmin(np.abs(log.axis - 0.5 * (start + stop))))


def _finite(imported, finite, options):
    if finite is False:
        return None, "not computed (finite=False)"
    import jumpprocess

    if getattr(jumpprocess, "simulate_finite", None) is None:
        if finite is True:
            raise ImportError("finite=True but this jumpprocess has no finite-σ engine (jumpprocess.simulate_finite)")
        return None, "not available: this jumpprocess has no jumpprocess.simulate_finite"
    return imported.finite_run(**options), "jumpprocess.simulate_finite"


def compare_log(imported: ImportedModel, log: TrainingLog, *, finite="auto", finite_options=None,
                plateau_tolerance: float = PLATEAU_TOLERANCE, step_tolerance: float | None = None) -> LogComparison:
    """Compare a logged training run with the σ→0 limit and the finite-σ run, per jump.

    Parameters
    ----------
    imported : ImportedModel
        The network at its initialization, its data, σ, convention and lr.
    log : TrainingLog
        The logged run (its first point need not be step 0).
    finite : "auto", bool
        Whether to run ``jumpprocess.simulate_finite`` ("auto": when it exists).
    finite_options : dict, optional
        Passed to ``simulate_finite`` (e.g. ``{"method": "hybrid"}``).
    plateau_tolerance : float
        Plateau losses agree when they differ by at most this fraction of the initial loss
        ``c · (1/2n) Σ y_i²``.
    step_tolerance : float, optional
        Largest accepted ``|logged − predicted|`` half-fit, in the log's unit. Default: one
        step plus the log's largest spacing minus one (a log of every step: 1 step); for a
        log in times, the largest spacing between logged times.

    Returns
    -------
    LogComparison

    Notes
    -----
    The limit agrees when the log half-fits exactly the samples the limit fits, fits them
    in the limit's order (jumps tied in the limit may come in any order), and sits on the
    limit's plateau losses between consecutive jumps (read at the flattest logged point
    between them, within ``plateau_tolerance`` of the initial loss). The limit's *times* are reported but not required to match: they
    are off by ``O(1)/ln(1/σ)`` relative (docs/math/finite-sigma.rst). The finite-σ run
    agrees when every sample's half-fit is within ``step_tolerance`` and the same samples
    are half-fitted. Without outputs in the log only plateau losses can be compared.
    """
    if not isinstance(imported, ImportedModel):
        raise TypeError(f"imported must be an ImportedModel (from from_torch or from_parameters), got "
                        f"{type(imported).__name__}")
    if not isinstance(log, TrainingLog):
        raise TypeError(f"log must be a TrainingLog, got {type(log).__name__}")
    problem, conv = imported.problem, imported.convention
    if log.outputs is not None and log.outputs.shape[1] != problem.n:
        raise ValueError(f"the log's outputs have {log.outputs.shape[1]} samples but the problem has n = {problem.n}")
    if log.axis_name == "step" and imported.lr is None:
        raise ValueError("a log in steps needs the learning rate: import the model with lr=...")
    lr = imported.lr
    to_axis = (lambda t: np.asarray(t, dtype=float) / lr) if log.axis_name == "step" else (
        lambda t: np.asarray(t, dtype=float))
    from_axis = (lambda x: np.asarray(x, dtype=float) * lr) if log.axis_name == "step" else (
        lambda x: np.asarray(x, dtype=float))
    limit = imported.limit()
    run, finite_note = _finite(imported, finite, dict(finite_options or {}))
    trajectory = limit.trajectory
    initial_loss = conv.to_user_loss(float(np.sum(problem.labels**2)) / (2 * problem.n))

    spacing = float(np.max(np.diff(log.axis))) if log.size > 1 else 1.0
    if step_tolerance is None:
        step_tolerance = (1.0 + max(spacing - 1.0, 0.0)) if log.axis_name == "step" else spacing
    observed = observed_half_fit(log, problem.labels) if log.outputs is not None else None
    if run is None:
        finite_fit = None
    else:
        finite_fit = run.half_fit_steps if log.axis_name == "step" else np.asarray(run.half_fit_times, dtype=float)

    limit_times = to_axis(limit.jump_times)
    ranks = _rank_blocks(trajectory)
    rows = []
    J = trajectory.num_jumps
    block_obs = []
    for k, event in enumerate(trajectory.events):
        f = event.fitted
        obs = observed[f] if observed is not None else np.array([np.nan])
        seen = obs[np.isfinite(obs)]
        block_obs.append(float(np.median(seen)) if seen.size else np.nan)
        fin = finite_fit[f][np.isfinite(finite_fit[f])] if finite_fit is not None else np.zeros(0)
        rows.append(dict(index=k, neuron=int(event.neuron), fitted=np.asarray(f), tied=bool(event.tied_with),
                         limit_time=float(limit_times[k]),
                         finite_time=float(np.median(fin)) if fin.size else np.nan,
                         observed_time=block_obs[-1],
                         observed_first=float(seen.min()) if seen.size else np.nan,
                         observed_last=float(seen.max()) if seen.size else np.nan))

    # where each plateau is read: midway between consecutive jumps, on the best time axis available
    def jump_axis(row):
        for key in ("observed_time", "finite_time", "limit_time"):
            if np.isfinite(row[key]):
                return row[key]
        return np.nan

    marks = [float(log.axis[0])] + [jump_axis(row) for row in rows] + [float(log.axis[-1])]
    plateau_limit = conv.to_user_loss(trajectory.plateau_losses)
    slope = np.abs(np.gradient(log.losses, log.axis)) if log.size > 2 and np.all(np.diff(log.axis) > 0) else None
    plateau_rows = []
    for p in range(J + 1):
        index = _plateau_index(log, slope, marks[p], marks[p + 1])
        logged = float(log.losses[index])
        predicted_finite = float(run.loss_at(float(from_axis(log.axis[index])))) if run is not None else np.nan
        plateau_rows.append((float(plateau_limit[p]), predicted_finite, logged, float(log.axis[index])))
    for k, row in enumerate(rows):
        row.update(plateau_limit=plateau_rows[k + 1][0], plateau_finite=plateau_rows[k + 1][1],
                   plateau_observed=plateau_rows[k + 1][2])
    jumps = tuple(JumpComparison(**row) for row in rows)

    # ---- verdicts ---------------------------------------------------------------------------
    details = {"initial_loss": initial_loss, "log_spacing": spacing, "step_tolerance": step_tolerance,
               "plateau_tolerance": plateau_tolerance,
               "plateau_read_at": [p[3] for p in plateau_rows],
               "plateau_errors": [abs(p[2] - p[0]) / initial_loss for p in plateau_rows]}
    plateau_error = max(details["plateau_errors"])
    details["max_plateau_error"] = plateau_error
    limit_problems = []
    if plateau_error > plateau_tolerance:
        worst = int(np.argmax(details["plateau_errors"]))
        limit_problems.append(f"plateau {worst} is at {plateau_rows[worst][2]:.6g}, the limit says "
                              f"{plateau_rows[worst][0]:.6g}")
    if observed is not None:
        limit_fitted = trajectory.fitted_by >= 0
        logged_fitted = np.isfinite(observed)
        extra = np.flatnonzero(logged_fitted & ~limit_fitted)
        missing = np.flatnonzero(limit_fitted & ~logged_fitted)
        details["fitted_only_in_log"], details["fitted_only_in_limit"] = extra.tolist(), missing.tolist()
        if extra.size:
            limit_problems.append(f"the log half-fits samples {_few(extra)} that the limit never fits")
        if missing.size:
            limit_problems.append(f"the log never half-fits samples {_few(missing)} that the limit fits")
        disorder = []
        for r in range(int(ranks.max()) + 1 if J else 0):
            now = np.concatenate([rows[k]["fitted"] for k in np.flatnonzero(ranks == r)])
            later = np.concatenate([rows[k]["fitted"] for k in np.flatnonzero(ranks > r)] or [np.zeros(0, int)])
            a, b = observed[now], observed[later]
            if np.isfinite(a).any() and np.isfinite(b).any() and np.nanmax(a) > np.nanmin(b):
                disorder.append(r)
        details["order_violations"] = len(disorder)
        if disorder:
            limit_problems.append(f"{len(disorder)} jump(s) are not fitted in the limit's order (first: jump "
                                  f"{int(np.flatnonzero(ranks == disorder[0])[0]) + 1})")
        relative = [abs(row["observed_time"] - row["limit_time"]) / row["observed_time"] for row in rows
                    if np.isfinite(row["observed_time"]) and row["observed_time"] > 0]
        details["limit_time_relative_error"] = float(np.median(relative)) if relative else float("nan")
    agrees_limit = not limit_problems
    if agrees_limit:
        what = "same fitted samples, in the limit's order, and " if observed is not None else ""
        limit_verdict = (f"agrees: {what}plateau losses within {plateau_error:.2g} of the initial loss "
                         f"({J} jumps)")
        if observed is not None and np.isfinite(details["limit_time_relative_error"]):
            limit_verdict += (f"; the limit's jump times are off by a median {details['limit_time_relative_error']:.1%}"
                              f" (its accuracy is O(1/ln(1/σ)) = {1 / imported.log_inverse_sigma:.1%})")
        if observed is None:
            limit_verdict += "; fitted sets and order not checked (no outputs in the log)"
    else:
        limit_verdict = "differs: " + "; ".join(limit_problems)
        if observed is not None and not (extra.size or missing.size or disorder):
            limit_verdict += "; the fitted samples and their order agree"

    if run is None:
        agrees_finite, finite_verdict = None, finite_note
    else:
        curve = np.asarray(run.loss_at(from_axis(log.axis)), dtype=float)
        finite_ok = np.isfinite(log.losses)
        curve_error = float(np.max(np.abs(curve[finite_ok] - log.losses[finite_ok]), initial=0.0)) / initial_loss
        details["finite_loss_curve_error"] = curve_error
        finite_problems = []
        if observed is not None:
            both = np.isfinite(observed) & np.isfinite(finite_fit)
            only = np.flatnonzero(np.isfinite(observed) != np.isfinite(finite_fit))
            differences = np.abs(observed[both] - finite_fit[both])
            worst = float(differences.max()) if differences.size else 0.0
            details["finite_half_fit_max_difference"] = worst
            details["finite_half_fit_beyond_tolerance"] = int(np.sum(differences > step_tolerance + 1e-9))
            if only.size:
                finite_problems.append(f"samples {_few(only)} are half-fitted in one run only")
            if details["finite_half_fit_beyond_tolerance"]:
                finite_problems.append(f"{details['finite_half_fit_beyond_tolerance']} half-fit {log.axis_name}s "
                                       f"differ by more than {step_tolerance:g} (largest {worst:.4g})")
        elif curve_error > plateau_tolerance:
            finite_problems.append(f"the loss curves differ by up to {curve_error:.3g} of the initial loss")
        agrees_finite = not finite_problems
        if agrees_finite:
            finite_verdict = (f"agrees: loss curves within {curve_error:.2g} of the initial loss"
                              + (f", every half-fit {log.axis_name} within {details['finite_half_fit_max_difference']:.3g}"
                                 f" (tolerance {step_tolerance:g})" if observed is not None else ""))
        else:
            finite_verdict = "differs: " + "; ".join(finite_problems)
    if agrees_limit is False and agrees_finite:
        limit_verdict += (f"; the finite-σ prediction agrees, so the difference is the limit's own O(1/ln(1/σ)) = "
                          f"{1 / imported.log_inverse_sigma:.1%} error at this σ; a smaller σ resolves the jumps, "
                          "and jumpprocess.sigma_for_limit(problem, init, step_size) says from which σ on")
    return LogComparison(imported, log, limit, run, finite_note, jumps, observed, finite_fit, agrees_limit,
                         agrees_finite, limit_verdict, finite_verdict, details)


def _few(indices, limit: int = 8) -> str:
    shown = ", ".join(map(str, list(indices)[:limit]))
    return shown + (f" and {len(indices) - limit} more" if len(indices) > limit else "")


# ---- saved logs ---------------------------------------------------------------------------------
_ARRAY_KEYS = ("inputs", "labels", "hidden_weight", "hidden_bias", "output_weight", "steps", "times", "losses", "outputs")


def save_training_log(path, *, inputs, labels, hidden_weight, output_weight, losses, loss="half-mean",
                      output_scale=1.0, hidden_bias=None, lr=None, sigma=None, steps=None, times=None,
                      outputs=None) -> None:
    """Write a training log in the documented format (``.json`` or ``.npz`` by the extension)."""
    record = {"inputs": inputs, "labels": labels, "hidden_weight": hidden_weight, "hidden_bias": hidden_bias,
              "output_weight": output_weight, "steps": steps, "times": times, "losses": losses, "outputs": outputs}
    arrays = {k: as_float_array(v, k) for k, v in record.items() if v is not None}
    if "steps" in arrays:
        arrays["steps"] = arrays["steps"].astype(np.int64)
    scalars = {"loss": loss if isinstance(loss, str) else as_real(loss, "loss"),
               "output_scale": output_scale if isinstance(output_scale, str) else as_real(output_scale, "output_scale")}
    for key, value in (("lr", lr), ("sigma", sigma)):
        if value is not None:
            scalars[key] = as_real(value, key)
    Convention(scalars["loss"], scalars["output_scale"], hidden_bias is not None)  # fail early on bad values
    path = os.fspath(path)
    if path.endswith(".npz"):
        np.savez(path, **arrays, **{k: np.asarray(v) for k, v in scalars.items()})
    else:
        with open(path, "w") as handle:
            json.dump({"format": "jumpprocess.training-log", "format_version": 1, **scalars,
                       **{k: v.tolist() for k, v in arrays.items()}}, handle, allow_nan=True)


def load_training_log(path, *, sigma=None) -> tuple[ImportedModel, TrainingLog]:
    """Read a saved training log (see the module docstring): the imported model and the log.

    ``sigma`` overrides the file's (if any).
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ValueError(f"no such log file: {path}")
    if path.endswith(".npz"):
        with np.load(path, allow_pickle=False) as archive:
            data = {key: archive[key] for key in archive.files}
        for key in ("loss", "output_scale", "lr", "sigma"):
            if key in data:
                value = data[key]
                data[key] = str(value) if value.dtype.kind in "US" else float(value)
    else:
        try:
            with open(path) as handle:
                data = json.load(handle)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path} is not valid JSON ({error}); expected the format in "
                             "`jumpprocess compare-log --help`") from None
        if not isinstance(data, dict):
            raise ValueError(f"{path} must hold one JSON object with the keys of the documented format")
    missing = [key for key in ("inputs", "labels", "hidden_weight", "output_weight", "losses") if key not in data]
    if missing:
        raise ValueError(f"{path} lacks the required key(s) {', '.join(missing)} (see `jumpprocess compare-log --help`)")
    if ("steps" in data) == ("times" in data):
        raise ValueError(f"{path} must hold exactly one of 'steps' or 'times'")
    unknown = set(data) - set(_ARRAY_KEYS) - {"loss", "output_scale", "lr", "sigma", "format", "format_version"}
    if unknown:
        raise ValueError(f"{path} has unknown key(s) {', '.join(sorted(unknown))}")
    losses = [np.nan if v is None else v for v in data["losses"]] if isinstance(data["losses"], list) else data["losses"]
    convention = Convention(data.get("loss", "half-mean"), data.get("output_scale", 1.0), "hidden_bias" in data)
    imported = from_parameters(data["output_weight"], data["hidden_weight"], data["inputs"], data["labels"],
                               hidden_bias=data.get("hidden_bias"), convention=convention, lr=data.get("lr"),
                               sigma=data.get("sigma") if sigma is None else sigma)
    log = TrainingLog(losses, steps=data.get("steps"), times=data.get("times"), outputs=data.get("outputs"))
    return imported, log
