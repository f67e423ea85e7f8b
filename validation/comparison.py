"""Finite-σ training against the σ → 0 limit, over a list of σ (docs/math/convergence.rst).

:func:`compare` trains the real network (:mod:`validation.training`) from ``σ θ̄`` for every
σ and every initialization in one batch, computes the limit with
:func:`jumpprocess.simulate` for the *same step size* (the gradient-descent race, rates
``ln(1 + ηλ)/η``) and for gradient flow, and matches them (:mod:`validation.observables`).

Per σ it reports the jump-time error ``max_k |τ̂_k − τ_k|``, the same error against the
gradient-flow race, the number of samples fitted by another neuron than in the limit,
order inversions, the relative error of the final squared norm, and the plateau-loss error.
The jump-time error should be O(1/ln(1/σ)) (docs/math/convergence.rst); it is fitted by least squares as

    error(σ) ≈ slope / ln(1/σ) + intercept,

whose intercept (the extrapolated σ → 0 error) is ~0 when the run follows the limit, and
is the measured deviation for nearly orthogonal data.

Verdict (per initialization; the report's verdict is the worst of them):

* ``"converging"`` — at the smallest σ the fitted sets equal the limit's, no order
  inversion outside near-ties, every limit jump happened, and the jump-time error
  decreased: ``error(σ_min) <= max(error(σ_max) / DECREASE_FACTOR, ERROR_FLOOR · max(1, τ_J))``
  (with a single σ: the error is within the near-tie envelope ``c · max_k(1/λ_k) / ln(1/σ)``);
* ``"near-tie"`` — not converging, but the limit has an overlapping exact tie (other than
  a benign one, :func:`benign_ties`, where fitted sets are compared up to relabeling), or a
  near-tie at σ_min (:func:`~validation.observables.near_ties`) that explains what
  differs (an overlapping one for fitted sets; any for order and times): the limit is not
  resolved at these σ;
* ``"inconclusive"`` — nothing was compared: the limit has no jump (e.g. ``m = 0``), or
  no limit jump was reached within ``max_steps`` at every σ, and nothing that was
  compared disagrees. Not a pass (the CLI exits with status 4);
* ``"mismatch"`` — anything else.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
import os
import platform
from dataclasses import dataclass, field

import numpy as np

from .backend import check_sigmas, check_step_size, import_torch, resolve_device, resolve_dtype
from .data import max_cosine, orthogonal_inputs
from .observables import NEAR_TIE_CONSTANT, match, near_ties, observe
from .training import CONVERGED, train_initializations

__all__ = [
    "DEFAULT_SIGMAS",
    "DECREASE_FACTOR",
    "ERROR_FLOOR",
    "VERDICTS",
    "SigmaRow",
    "ErrorFit",
    "InitializationReport",
    "LimitPredictions",
    "ValidationReport",
    "benign_ties",
    "compare",
    "fit_error",
]

#: Default σ list: 1e-2 down to 1e-64 (float64 reaches 1.5e-154).
DEFAULT_SIGMAS = (1e-2, 1e-4, 1e-8, 1e-16, 1e-32, 1e-64)
#: Version of the JSON written by ValidationReport.to_dict (2: limits stored in full, readable back).
FORMAT_VERSION = 2
#: The jump-time error must shrink by this factor from the largest to the smallest σ.
DECREASE_FACTOR = 3.0
#: Errors below ``ERROR_FLOOR · max(1, τ_J)`` count as converged whatever the ratio.
ERROR_FLOOR = 2e-3
#: The three verdicts.
VERDICTS = ("converging", "near-tie", "mismatch", "inconclusive")


@dataclass(frozen=True)
class ErrorFit:
    """Least-squares fit ``error ≈ slope · x + intercept`` with ``x = 1/ln(1/σ)``.

    ``rms`` is the root-mean-square residual; all NaN with fewer than two finite points.
    """

    slope: float
    intercept: float
    rms: float

    def to_dict(self) -> dict:
        return {"slope": _num(self.slope), "intercept": _num(self.intercept), "rms": _num(self.rms)}

    @classmethod
    def from_dict(cls, data: dict) -> "ErrorFit":
        return cls(*(_float(data[key]) for key in ("slope", "intercept", "rms")))


def fit_error(sigmas, errors) -> ErrorFit:
    """Fit ``errors ≈ slope / ln(1/σ) + intercept`` by least squares (finite errors only).

    Examples
    --------
    >>> sig = np.array([1e-2, 1e-8, 1e-32])
    >>> fit = fit_error(sig, 2.0 / np.log(1 / sig) + 0.01)
    >>> round(fit.slope, 12), round(fit.intercept, 12)
    (2.0, 0.01)
    """
    x = 1.0 / np.log(1.0 / np.asarray(sigmas, dtype=np.float64))
    e = np.asarray(errors, dtype=np.float64)
    keep = np.isfinite(e)
    if np.count_nonzero(keep) < 2 or np.ptp(x[keep]) == 0:
        return ErrorFit(float("nan"), float("nan"), float("nan"))
    design = np.stack([x[keep], np.ones(np.count_nonzero(keep))], axis=1)
    (slope, intercept), *_ = np.linalg.lstsq(design, e[keep], rcond=None)
    rms = float(np.sqrt(np.mean((design @ [slope, intercept] - e[keep]) ** 2)))
    return ErrorFit(float(slope), float(intercept), rms)


@dataclass(frozen=True, eq=False)
class SigmaRow:
    """One σ of one initialization: the table row (module docstring).

    Attributes
    ----------
    sigma, log_inverse_sigma : float
    steps : int
        Steps the run took.
    stop_reason, status : str
        ``"converged"``, ``"step budget"`` or ``"diverged"``, and the full sentence.
    jump_time_error : float
        Against the race for the training step size.
    flow_jump_time_error : float
        Against the gradient-flow race.
    fitted_set_errors, flow_fitted_set_errors : int
    partition_errors : int
        Fitted-set errors up to relabeling neurons (which neuron fits a group may be
        decided by prefactors in a benign tie, see :func:`benign_ties`).
    order_errors : int
    squared_norm, squared_norm_error : float
    plateau_loss_error : float
    final_loss : float
    jump_time_errors, empirical_jump_times : ndarray (J,)
        Signed errors ``τ̂_k − τ_k`` and ``τ̂_k`` (race for the training step size).
    empirical_order : ndarray of int
    near_ties : int
        Near-ties of the race at this σ.
    below_orthogonality : bool
        ``σ <= max|cos(x_i, x_k)|``: the data's non-orthogonality leaks into frozen
        coordinates faster than σ (:mod:`validation.data`), the orthogonal limit need not apply.
    unreached_jumps : int
        Limit jumps after the time the run reached (stopped by ``max_steps``); they and
        their samples are left out of the errors.
    hybrid_jump_time_error : float
        The finite-σ prediction (:func:`jumpprocess.simulate_finite`, hybrid engine, the
        same σ and step): ``max_i |τ̂_i − τ_i|`` over the samples half-fitted before the run
        stopped, in the same rescaled units as ``jump_time_error``
        (docs/math/finite-sigma.rst). 0 when the half-fit steps are identical.
    hybrid_sample_mismatches : int
        Samples half-fitted by the run but not by the prediction before that step, or the
        other way round.
    """

    sigma: float
    log_inverse_sigma: float
    steps: int
    stop_reason: str
    status: str
    jump_time_error: float
    flow_jump_time_error: float
    fitted_set_errors: int
    flow_fitted_set_errors: int
    order_errors: int
    squared_norm: float
    squared_norm_error: float
    plateau_loss_error: float
    final_loss: float
    jump_time_errors: np.ndarray
    empirical_jump_times: np.ndarray
    empirical_order: np.ndarray
    near_ties: int
    below_orthogonality: bool
    unreached_jumps: int = 0
    partition_errors: int = 0
    hybrid_jump_time_error: float = float("nan")
    hybrid_sample_mismatches: int = 0

    def to_dict(self) -> dict:
        return {
            "sigma": self.sigma,
            "log_inverse_sigma": self.log_inverse_sigma,
            "steps": self.steps,
            "stop_reason": self.stop_reason,
            "status": self.status,
            "jump_time_error": _num(self.jump_time_error),
            "flow_jump_time_error": _num(self.flow_jump_time_error),
            "fitted_set_errors": self.fitted_set_errors,
            "flow_fitted_set_errors": self.flow_fitted_set_errors,
            "order_errors": self.order_errors,
            "squared_norm": self.squared_norm,
            "squared_norm_error": _num(self.squared_norm_error),
            "plateau_loss_error": _num(self.plateau_loss_error),
            "final_loss": _num(self.final_loss),
            "jump_time_errors": [_num(v) for v in self.jump_time_errors],
            "empirical_jump_times": [_num(v) for v in self.empirical_jump_times],
            "empirical_order": self.empirical_order.tolist(),
            "near_ties": self.near_ties,
            "below_orthogonality": self.below_orthogonality,
            "unreached_jumps": self.unreached_jumps,
            "partition_errors": self.partition_errors,
            "hybrid_jump_time_error": _num(self.hybrid_jump_time_error),
            "hybrid_sample_mismatches": self.hybrid_sample_mismatches,
        }

    @classmethod
    def from_dict(cls, data: dict) -> "SigmaRow":
        """Inverse of :meth:`to_dict` (non-finite numbers, written as null, come back as NaN)."""
        return cls(**_fields_from_dict(cls, data))


@dataclass(frozen=True, eq=False)
class InitializationReport:
    """Comparison of one initialization over all σ.

    Attributes
    ----------
    index : int
        Position in the batch.
    verdict, reason : str
    rows : tuple of SigmaRow
        Largest σ first.
    fit, flow_fit : ErrorFit
        Jump-time error against ``1/ln(1/σ)``, for the race of the training step (over the
        jumps reached at every σ) and for gradient flow.
    near_ties : tuple of NearTie
        Near-ties of the race at the smallest σ.
    trajectory, flow_trajectory : jumpprocess.Trajectory
        The limits (race for the training step size; gradient flow).
    rate_distortion : float
        ``max_k (1 − ln(1 + ηλ_k)/(ηλ_k))`` over the limit's jumps: how far the step is from
        gradient flow (> 0.05 is a "large step").
    """

    index: int
    verdict: str
    reason: str
    rows: tuple
    fit: ErrorFit
    flow_fit: ErrorFit
    near_ties: tuple
    trajectory: object = field(repr=False)
    flow_trajectory: object = field(repr=False)
    rate_distortion: float = 0.0

    def to_dict(self) -> dict:
        race = self.trajectory
        return {
            "index": self.index,
            "verdict": self.verdict,
            "reason": self.reason,
            "fit": self.fit.to_dict(),
            "flow_fit": self.flow_fit.to_dict(),
            "rate_distortion": self.rate_distortion,
            "near_ties": [tie.to_dict() for tie in self.near_ties],
            "limit": {
                "status": race.status,
                "jump_times": race.jump_times.tolist(),
                "neurons": race.neurons.tolist(),
                "fitted": [f.tolist() for f in race.fitted],
                "squared_norm": race.squared_norm,
                "plateau_losses": race.plateau_losses.tolist(),
                "flow_jump_times": self.flow_trajectory.jump_times.tolist(),
            },
            "trajectory": race.to_dict(),
            "flow_trajectory": self.flow_trajectory.to_dict(),
            "rows": [row.to_dict() for row in self.rows],
        }

    @classmethod
    def from_dict(cls, data: dict) -> "InitializationReport":
        """Inverse of :meth:`to_dict` (format version 2: the limits are stored in full)."""
        from jumpprocess import Trajectory

        from .observables import NearTie

        values = _fields_from_dict(cls, data, skip=("rows", "fit", "flow_fit", "near_ties", "trajectory",
                                                    "flow_trajectory"))
        tie_fields = [f.name for f in dataclasses.fields(NearTie)]
        return cls(
            **values,
            rows=tuple(SigmaRow.from_dict(row) for row in data["rows"]),
            fit=ErrorFit.from_dict(data["fit"]),
            flow_fit=ErrorFit.from_dict(data["flow_fit"]),
            near_ties=tuple(NearTie(**{name: tie[name] for name in tie_fields}) for tie in data["near_ties"]),
            trajectory=Trajectory.from_dict(data["trajectory"]),
            flow_trajectory=Trajectory.from_dict(data["flow_trajectory"]),
        )


@dataclass(frozen=True, eq=False)
class ValidationReport:
    """Result of :func:`compare`: verdict, per-σ table, fits, curves and provenance.

    Attributes
    ----------
    verdict : {"converging", "near-tie", "mismatch", "inconclusive"}
        The worst verdict over the initializations.
    reason : str
    mode : {"orthogonal", "nearly-orthogonal"}
        ``"nearly-orthogonal"`` when ``max_cosine`` exceeds the engine's orthogonality
        tolerance: the limit is then an extrapolation and the errors are deviations.
    max_cosine : float
        ``max_{i≠k} |cos(x_i, x_k)|`` of the training inputs.
    step_size : float
    sigmas : ndarray (S,)
        Largest first.
    initializations : tuple of InitializationReport
    training : TrainingResult
        The raw batch (run ``b · S + s`` is initialization b at σ_s).
    parameters : dict
        Every setting, and provenance (versions, device, dtype, time).
    """

    verdict: str
    reason: str
    mode: str
    max_cosine: float
    step_size: float
    sigmas: np.ndarray
    initializations: tuple
    training: object = field(repr=False)
    parameters: dict = field(repr=False, default_factory=dict)

    def to_dict(self, curves: bool = True) -> dict:
        """A JSON-ready dict; ``curves`` adds the checkpoint losses and neuron norms."""
        data = {
            "format": "validation.ValidationReport",
            "format_version": FORMAT_VERSION,
            "verdict": self.verdict,
            "reason": self.reason,
            "mode": self.mode,
            "max_cosine": self.max_cosine,
            "step_size": self.step_size,
            "sigmas": self.sigmas.tolist(),
            "parameters": self.parameters,
            "initializations": [report.to_dict() for report in self.initializations],
        }
        if curves:
            training = self.training
            data["curves"] = {
                "note": "run b*S + s is initialization b at sigma s; tau = t / ln(1/sigma), t = step * step_size",
                "checkpoint_steps": training.checkpoint_steps.tolist(),
                "losses": training.losses.T.tolist(),
                "neuron_norms": np.transpose(training.neuron_norms, (1, 2, 0)).tolist(),
                "half_fit_times": [[_num(v) for v in row] for row in training.half_fit_times],
            }
            data["training"] = training.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "ValidationReport":
        """A report read back from :meth:`to_dict` (format version 2).

        Everything shown by :meth:`table`, the figures and the notebook display comes back;
        the training record lacks the final preactivations and residuals (``None``), and
        without ``curves`` it is ``None`` altogether.
        """
        from .training import TrainingResult

        if data.get("format") != "validation.ValidationReport":
            raise ValueError("not a validation report (missing format tag 'validation.ValidationReport')")
        version = data.get("format_version")
        if version != FORMAT_VERSION:
            raise ValueError(f"validation report format version {version} cannot be read back (this version reads "
                             f"{FORMAT_VERSION}; version 1 did not store the limit trajectories): rerun the validation")
        return cls(
            verdict=data["verdict"],
            reason=data["reason"],
            mode=data["mode"],
            max_cosine=float(data["max_cosine"]),
            step_size=float(data["step_size"]),
            sigmas=np.array(data["sigmas"], dtype=np.float64),
            initializations=tuple(InitializationReport.from_dict(item) for item in data["initializations"]),
            training=TrainingResult.from_dict(data["training"]) if "training" in data else None,
            parameters=data.get("parameters", {}),
        )

    @classmethod
    def from_json(cls, source) -> "ValidationReport":
        """Read a report from JSON text or a file path (e.g. ``jumpprocess validate --json PATH``)."""
        if isinstance(source, (str, os.PathLike)) and not str(source).lstrip().startswith("{"):
            with open(source) as handle:
                return cls.from_dict(json.load(handle))
        return cls.from_dict(json.loads(source))

    # ---- display ------------------------------------------------------------------------
    def error_table(self) -> list[dict]:
        """The per-σ error table as data: one dict per (initialization, σ), as :meth:`table` prints.

        Keys: ``init``, ``sigma``, ``log_inverse_sigma``, ``steps``, ``stop``, ``jump_time_error``
        (against the race for the training step), ``flow_jump_time_error``, ``fitted_set_errors``,
        ``order_errors``, ``squared_norm_error``, ``plateau_loss_error``, ``unreached_jumps``,
        ``below_orthogonality``, ``hybrid_jump_time_error`` and ``hybrid_sample_mismatches``
        (the finite-σ prediction's errors) (τ = t / ln(1/σ); docs/math/convergence.rst).
        """
        rows = []
        for report in self.initializations:
            for row in report.rows:
                rows.append({
                    "init": report.index, "sigma": row.sigma, "log_inverse_sigma": row.log_inverse_sigma,
                    "steps": row.steps, "stop": row.stop_reason, "jump_time_error": float(row.jump_time_error),
                    "flow_jump_time_error": float(row.flow_jump_time_error),
                    "fitted_set_errors": row.fitted_set_errors, "order_errors": row.order_errors,
                    "squared_norm_error": float(row.squared_norm_error),
                    "plateau_loss_error": float(row.plateau_loss_error), "unreached_jumps": row.unreached_jumps,
                    "below_orthogonality": row.below_orthogonality,
                    "hybrid_jump_time_error": float(row.hybrid_jump_time_error),
                    "hybrid_sample_mismatches": row.hybrid_sample_mismatches,
                })
        return rows

    def __repr__(self) -> str:
        sigmas = f"σ from {self.sigmas[0]:.0e} to {self.sigmas[-1]:.0e}" if self.sigmas.size else "no σ"
        count = len(self.initializations)
        return (f"ValidationReport({self.verdict}: {count} initialization{'s' if count != 1 else ''}, "
                f"{len(self.sigmas)} σ ({sigmas}), η = {self.step_size:g}, {self.mode})")

    def _repr_html_(self) -> str:
        from jumpprocess._display import html_block, html_table

        columns = {"init": "init", "sigma": "σ", "steps": "steps", "stop": "stop", "jump_time_error": "jump err",
                   "flow_jump_time_error": "flow err", "fitted_set_errors": "sets", "order_errors": "order",
                   "squared_norm_error": "norm err", "plateau_loss_error": "loss err", "unreached_jumps": "unreached",
                   "hybrid_jump_time_error": "hybrid err"}
        limits = "".join(
            f"<br>init {report.index} limit ({report.verdict}):" + report.trajectory._repr_html_()
            for report in self.initializations[:3]
        )
        lines = [self.reason, f"mode {self.mode} (max |cos| = {self.max_cosine:.3g}); step size η = {self.step_size:g}; "
                 "τ = t / ln(1/σ); error_table() returns this table"]
        return html_block(f"validation: {self.verdict}", lines, html_table(self.error_table(), columns) + limits)

    def to_json(self, curves: bool = True, **kwargs) -> str:
        """The report as JSON (strict: no NaN/inf, which are written as null)."""
        kwargs.setdefault("indent", 1)
        return json.dumps(self.to_dict(curves=curves), allow_nan=False, **kwargs)

    def table(self) -> str:
        """The per-σ error table of every initialization, as printed by the CLI."""
        lines = [
            f"verdict: {self.verdict} ({self.reason})",
            f"mode: {self.mode} (max |cos| = {self.max_cosine:.3g}); step size {self.step_size:g}; "
            f"device {self.training.device}, {self.training.dtype}",
        ]
        header = (
            f"{'sigma':>9} {'ln(1/s)':>8} {'steps':>8} {'stop':>11} {'jump err':>9} {'flow err':>9} "
            f"{'sets':>4} {'order':>5} {'norm err':>9} {'loss err':>9} {'unreached':>9} {'hybrid err':>10}"
        )
        for report in self.initializations:
            race = report.trajectory
            lines.append("")
            lines.append(
                f"init {report.index}: {report.verdict} - {report.reason}\n"
                f"  limit: jumps at tau = {np.round(race.jump_times, 4).tolist()}, neurons {race.neurons.tolist()}, "
                f"{race.status}; rate distortion of the step {report.rate_distortion:.1%}"
            )
            lines.append("  " + header)
            for row in report.rows:
                flag = " *" if row.below_orthogonality else ""
                lines.append(
                    f"  {row.sigma:>9.2g} {row.log_inverse_sigma:>8.2f} {row.steps:>8d} {row.stop_reason:>11} "
                    f"{row.jump_time_error:>9.2e} {row.flow_jump_time_error:>9.2e} {row.fitted_set_errors:>4d} "
                    f"{row.order_errors:>5d} {row.squared_norm_error:>9.2e} {row.plateau_loss_error:>9.2e} "
                    f"{row.unreached_jumps:>9d} {row.hybrid_jump_time_error:>10.2e}{flag}"
                    + (f" ({row.hybrid_sample_mismatches} samples differ)" if row.hybrid_sample_mismatches else "")
                )
            lines.append("  hybrid err: the finite-σ engine's prediction at that σ, max |Δτ| over half-fitted samples")
            for name, fit in (("fit", report.fit), ("flow fit", report.flow_fit)):
                lines.append(
                    f"  {name}: jump err = {fit.slope:.4g} / ln(1/sigma) + {fit.intercept:.3g} (rms {fit.rms:.2g})"
                )
        if any(row.below_orthogonality for report in self.initializations for row in report.rows):
            lines.append("* sigma <= max |cos|: the data's non-orthogonality is not negligible at this sigma")
        return "\n".join(lines)


def _float(value) -> float:
    """Inverse of :func:`_num` (None becomes NaN)."""
    return float("nan") if value is None else float(value)


_INTEGER_ARRAYS = ("empirical_order",)  # array fields of integers; the others are float


def _fields_from_dict(cls, data: dict, skip=()) -> dict:
    """Constructor arguments of dataclass ``cls`` from its ``to_dict`` output: lists become
    arrays (None → NaN), None becomes NaN for float fields; fields absent keep their default."""
    values = {}
    for item in dataclasses.fields(cls):
        if item.name in skip or item.name not in data:
            continue
        value = data[item.name]
        if isinstance(value, list):
            value = (np.array(value, dtype=np.int64) if item.name in _INTEGER_ARRAYS
                     else np.array([_float(v) for v in value], dtype=np.float64))
        elif value is None or item.type == "float":
            value = _float(value)
        values[item.name] = value
    return values


def _num(value):
    """A float for JSON: NaN and inf become None."""
    value = float(value)
    return value if math.isfinite(value) else None


def _resolve_inputs(problem, inputs, seed):
    n = problem.n
    if inputs is None:
        inputs = problem.inputs if problem.inputs is not None else orthogonal_inputs(problem.norms, seed=seed)
    X = np.array(inputs, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] != n:
        raise ValueError(f"inputs must have shape (n={n}, d), got {X.shape}")
    if not np.all(np.isfinite(X)):
        raise ValueError("inputs must be finite")
    norms = np.linalg.norm(X, axis=1)
    if not np.allclose(norms, problem.norms, rtol=1e-9, atol=0):
        worst = int(np.argmax(np.abs(norms - problem.norms) / problem.norms))
        raise ValueError(
            f"the inputs' row norms must equal problem.norms (the limit sees the data only through them); "
            f"row {worst} has norm {norms[worst]!r}, problem.norms[{worst}] = {problem.norms[worst]!r}"
        )
    return X


def _step_budget(trajectory, sigma, step_size, loss_tolerance, max_steps) -> int:
    """Steps for one run: 1.5× the last jump's time, plus the final linear convergence."""
    rate = trajectory.convergence_rate
    if not (math.isfinite(rate) and rate > 0):
        rate = 1.0 / max(1.0, trajectory.final_time)
    t = 1.5 * trajectory.final_time * math.log(1.0 / sigma) + 2.0 * (math.log(1.0 / loss_tolerance) + 10.0) / rate
    return int(min(max_steps, math.ceil(t / step_size) + 10))


def _rate_distortion(flow, step_size) -> float:
    rates = np.array([flow.rates[k, flow.neurons[k]] for k in range(flow.num_jumps)], dtype=np.float64)
    rates = rates[rates > 0]
    if rates.size == 0:
        return 0.0
    x = step_size * rates
    return float(np.max(1.0 - np.log1p(x) / x))


def benign_ties(trajectory) -> bool:
    """Whether every overlapping exact tie of ``trajectory`` is between neurons whose
    remaining sets ``G_j ∩ R`` are *identical*.

    Such ties are not rare even with continuous labels: two neurons with the same good set
    have the same rate and start at the same exponent −1, so they tie exactly (docs/math/race.rst).
    Whichever wins fits the same set with the same saddle function (docs/math/saddles.rst) and the other
    is left with nothing to fit: the trajectory in function space is determined, only the
    neuron's index is not (finite σ picks it by the prefactors). Recomputed here from the
    good sets; equal to ``not trajectory.ambiguous`` (``trajectory.identical_ties`` says
    whether such a tie occurred).
    """
    if not any(event.overlapping for event in trajectory.events):
        return True
    remaining = trajectory.problem.labels != 0
    good = trajectory.good_sets
    for k, event in enumerate(trajectory.events):
        if event.overlapping:
            mine = good[event.neuron] & remaining
            if any(not np.array_equal(mine, good[j] & remaining) for j in event.tied_with):
                return False
        remaining[trajectory.fitted[k]] = False
    return True


def _common_errors(rows, num_jumps) -> np.ndarray:
    """Per row, ``max |τ̂_k − τ_k|`` over the jumps every row reached (the fit and the
    decrease test compare like with like when a step cap hides late jumps at small σ)."""
    common = num_jumps - max(row.unreached_jumps for row in rows)
    if common == num_jumps:
        return np.array([row.jump_time_error for row in rows])
    out = []
    for row in rows:
        errors = np.abs(row.jump_time_errors[:common])
        out.append(0.0 if common == 0 else (float("inf") if np.any(np.isnan(errors)) else float(errors.max())))
    return np.array(out)


def _verdict(rows, race, ties, constant, common) -> tuple:
    first, last = rows[0], rows[-1]
    where = f"sigma = {last.sigma:.3g}"
    if race.num_jumps == 0:
        return "inconclusive", f"nothing to compare: the limit has no jump ({race.status})"
    if race.ambiguous:
        return "near-tie", f"the limit itself is undetermined: {race.status}"
    benign = race.identical_ties  # function determined; which neuron fits is not
    problems, timing = [], []
    set_errors = last.partition_errors if benign else last.fitted_set_errors
    if set_errors:
        problems.append(f"{set_errors} sample(s) fitted by another neuron than in the limit at {where}")
    if last.order_errors:
        timing.append(f"{last.order_errors} activation pair(s) in the wrong order at {where}")
    if not math.isfinite(last.jump_time_error):
        problems.append(f"a limit jump never happened at {where} (a sample it fits was never half-fitted)")
    else:
        floor = ERROR_FLOOR * max(1.0, race.final_time)
        if len(rows) >= 2:
            if not common[-1] <= max(common[0] / DECREASE_FACTOR, floor):
                timing.append(
                    f"the jump-time error did not shrink by {DECREASE_FACTOR:g}x: {common[0]:.3g} at "
                    f"sigma = {first.sigma:.3g}, {common[-1]:.3g} at {where}"
                )
        elif race.num_jumps:
            slowest = max(1.0 / race.rates[k, race.neurons[k]] for k in range(race.num_jumps))
            envelope = max(constant * slowest / last.log_inverse_sigma, floor)
            if not last.jump_time_error <= envelope:
                timing.append(f"the jump-time error {last.jump_time_error:.3g} exceeds c/(lambda ln(1/sigma)) = {envelope:.3g}")
    horizon = ""
    if last.unreached_jumps:
        horizon = (f"; {last.unreached_jumps} of {race.num_jumps} limit jumps lie beyond the time reached within "
                   f"max_steps at {where} and were not compared")
    if benign:
        horizon += (
            "; the limit has an exact tie between neurons with identical remaining sets (benign: the fitted sets "
            "are determined, which neuron fits them is decided by prefactors), so fitted sets were compared up to "
            "relabeling neurons"
        )
    if not problems and not timing:
        if race.num_jumps - max(row.unreached_jumps for row in rows) == 0:
            return "inconclusive", (
                f"nothing compared: no limit jump was reached within max_steps at every sigma{horizon}"
            )
        return "converging", (
            f"fitted sets and order match the limit at {where}; jump-time error {common[0]:.3g} -> "
            f"{common[-1]:.3g}{horizon}"
        )
    details = problems + timing
    if np.size(getattr(race, "unstable_jumps", ())):
        details.append(f"the limit warns: {race.status}")
    if last.stop_reason != CONVERGED:
        details.append(f"the run at {where} ended by {last.status}")
    explains = any(tie.overlapping for tie in ties) if problems else bool(ties)
    if explains:
        pairs = ", ".join(f"neurons {t.neuron}/{t.rival} at tau = {t.time:.4g} (gap {t.gap:.3g} <= {t.threshold:.3g})" for t in ties)
        return "near-tie", "; ".join(details) + f"; near-tie(s) not resolved at these sigma: {pairs}" + horizon
    if last.below_orthogonality:
        details.append(f"{where} is below the data's non-orthogonality, where the orthogonal limit need not apply")
    return "mismatch", "; ".join(details) + horizon


@dataclass(frozen=True, eq=False)
class LimitPredictions:
    """What the limit predicts for one initialization, each compared with every run.

    Attributes
    ----------
    race : jumpprocess.Trajectory
        The race for the training step size (rates ``ln(1 + ηλ)/η``, docs/math/race.rst).
    flow : jumpprocess.Trajectory
        The gradient-flow race, reported alongside (docs/math/convergence.rst).
    init : jumpprocess.Initialization
        The initialization, for the finite-σ prediction at each σ (:meth:`finite`).
    """

    race: object
    flow: object
    init: object = None

    def finite(self, sigma, step_size):
        """The hybrid engine's run at ``sigma`` (docs/math/finite-sigma.rst)."""
        from jumpprocess import simulate_finite

        return simulate_finite(self.race.problem, self.init, sigma=sigma, step_size=step_size)


def _limit_predictions(problem, inits, step_size) -> list:
    """Step 1: the σ → 0 predictions for every initialization (no training yet)."""
    from jumpprocess import simulate

    return [LimitPredictions(race=simulate(problem, item, step_size), flow=simulate(problem, item, None), init=item)
            for item in inits]


def _stopping_rules(predictions, sigmas, step_size, loss_tolerance, max_steps) -> tuple:
    """Step 2: per run (initialization-major, ``b · S + s``), the step budget and the loss
    at which it stops: ``L_final + loss_tolerance · L(0)`` from the limit's plateaus."""
    budgets, tolerances = [], []
    for prediction in predictions:
        race = prediction.race
        start_loss, final_loss = float(race.plateau_losses[0]), float(race.plateau_losses[-1])
        for sigma in sigmas:
            budgets.append(_step_budget(race, sigma, step_size, loss_tolerance, max_steps))
            tolerances.append(final_loss + loss_tolerance * (start_loss if start_loss > 0 else 1.0))
    return np.array(budgets), np.array(tolerances)


def _sigma_row(training, run, sigma, prediction, cosine, near_tie_constant) -> SigmaRow:
    """Step 4: one run (one initialization at one σ) against the predictions."""
    seen = observe(training, run)
    against_race = match(seen, prediction.race, near_tie_constant=near_tie_constant)
    against_flow = match(seen, prediction.flow, near_tie_constant=near_tie_constant)
    L = float(np.log(1.0 / sigma))
    hybrid_error, mismatches = _hybrid_errors(training, run, sigma, prediction, L)
    return SigmaRow(
        sigma=float(sigma),
        log_inverse_sigma=L,
        steps=int(training.stop_steps[run]),
        stop_reason=training.stop_reasons[run],
        status=training.statuses[run],
        jump_time_error=against_race.jump_time_error,
        flow_jump_time_error=against_flow.jump_time_error,
        fitted_set_errors=against_race.fitted_set_errors,
        flow_fitted_set_errors=against_flow.fitted_set_errors,
        order_errors=against_race.order_errors,
        squared_norm=against_race.squared_norm,
        squared_norm_error=against_race.squared_norm_error,
        plateau_loss_error=against_race.plateau_loss_error,
        final_loss=seen.final_loss,
        jump_time_errors=against_race.jump_time_errors,
        empirical_jump_times=against_race.empirical_jump_times,
        empirical_order=against_race.empirical_order,
        near_ties=len(near_ties(prediction.race, L, near_tie_constant)),
        below_orthogonality=bool(sigma <= cosine),
        unreached_jumps=against_race.unreached_jumps,
        partition_errors=against_race.partition_errors,
        hybrid_jump_time_error=hybrid_error,
        hybrid_sample_mismatches=mismatches,
    )


def _hybrid_errors(training, run, sigma, prediction, L) -> tuple:
    """The finite-σ prediction against one run: max |Δτ| over samples, and mismatched samples.

    Only the samples the run or the prediction half-fits before the run stopped count.
    """
    eta = float(training.step_size)
    finite = prediction.finite(float(sigma), eta)
    predicted = finite.half_fit_times / eta                       # steps (NaN: never)
    seen = training.half_fit_steps[run].astype(float)
    seen[(seen < 0) | (training.labels == 0)] = np.nan
    horizon = float(training.stop_steps[run])
    predicted[predicted > horizon] = np.nan
    both = np.isfinite(predicted) & np.isfinite(seen)
    mismatches = int(np.sum(np.isfinite(predicted) != np.isfinite(seen)))
    error = float(np.max(np.abs(predicted[both] - seen[both]), initial=0.0)) * eta / L if both.any() else float("nan")
    return error, mismatches


def _initialization_report(index, prediction, training, sigmas, step_size, cosine, near_tie_constant):
    """Steps 4–5 for initialization ``index``: its rows, fits and verdict."""
    S = len(sigmas)
    rows = [_sigma_row(training, index * S + s, sigma, prediction, cosine, near_tie_constant)
            for s, sigma in enumerate(sigmas)]
    race = prediction.race
    ties = near_ties(race, rows[-1].log_inverse_sigma, near_tie_constant)
    common = _common_errors(rows, race.num_jumps)
    verdict, reason = _verdict(rows, race, ties, near_tie_constant, common)
    return InitializationReport(
        index=index,
        verdict=verdict,
        reason=reason,
        rows=tuple(rows),
        fit=fit_error(sigmas, common),
        flow_fit=fit_error(sigmas, [row.flow_jump_time_error for row in rows]),
        near_ties=ties,
        trajectory=race,
        flow_trajectory=prediction.flow,
        rate_distortion=_rate_distortion(prediction.flow, step_size),
    )


def _overall_verdict(reports, mode, cosine) -> tuple:
    """Step 6: the worst verdict over the initializations, and its reason."""
    counts = {name: sum(report.verdict == name for report in reports) for name in VERDICTS}
    order = ("mismatch", "near-tie", "inconclusive", "converging")  # worst first
    overall = next(name for name in order if counts[name]) if reports else "mismatch"
    if len(reports) == 1:
        reason = reports[0].reason
    else:
        reason = ", ".join(f"{counts[name]} {name}" for name in VERDICTS if counts[name]) + f" of {len(reports)} initializations"
    if mode == "nearly-orthogonal":
        reason += f"; nearly orthogonal data (max |cos| = {cosine:.3g}): the limit is extrapolated, errors are deviations"
    return overall, reason


def _provenance(problem, inits, X, inputs, input_seed, training, settings: dict, torch) -> dict:
    """Every setting of the comparison, and what produced it (versions, device, time)."""
    import jumpprocess

    return {
        **settings,
        "decrease_factor": DECREASE_FACTOR,
        "error_floor": ERROR_FLOOR,
        "n": problem.n,
        "m": inits[0].m,
        "d": int(X.shape[1]),
        "batch": len(inits),
        "problem": problem.to_dict(),
        "initializations": [item.to_dict() for item in inits],
        "inputs": "given" if inputs is not None else ("problem.inputs" if problem.inputs is not None else f"coordinate (seed {input_seed})"),
        "device": training.device,
        "dtype": training.dtype,
        "wall_seconds": training.wall_seconds,
        "steps_run": training.steps_run,
        "versions": {
            "jumpprocess": getattr(jumpprocess, "__version__", "unknown"),
            "torch": torch.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
        },
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def compare(
    problem,
    init,
    sigmas=DEFAULT_SIGMAS,
    *,
    step_size: float,
    device: str = "auto",
    inputs=None,
    dtype: str = "float64",
    loss_tolerance: float = 1e-10,
    max_steps: int = 2_000_000,
    checkpoints: int = 160,
    near_tie_constant: float = NEAR_TIE_CONSTANT,
    input_seed: int = 0,
    progress=None,
) -> ValidationReport:
    """Train the real network at every σ and compare it with the σ → 0 limit (module docstring).

    The steps, each a function of this module: the limit's predictions for every
    initialization (:func:`_limit_predictions`), the stopping rule of every run
    (:func:`_stopping_rules`), one batched training of all runs
    (:func:`~validation.training.train_initializations`), each run matched against the
    predictions (:func:`_sigma_row`), a verdict per initialization
    (:func:`_initialization_report`, :func:`_verdict`) and overall (:func:`_overall_verdict`).

    Parameters
    ----------
    problem : jumpprocess.OrthogonalProblem
        Labels and norms; the limit is computed for it.
    init : jumpprocess.Initialization or sequence of them
        Unit-scale ``θ̄`` (several: one batch, one report each).
    sigmas : sequence of float
        Initialization scales, each in ``[1.5e-154, 1)`` for float64 (sorted largest first).
    step_size : float
        Gradient-descent step ``η > 0`` of the training; the limit compared with is the race
        for this step (and gradient flow, reported alongside).
    device : {"auto", "cpu", "cuda"}
    inputs : array_like (n, d), optional
        Training inputs; row norms must equal ``problem.norms``. Default: ``problem.inputs``,
        else exactly orthogonal coordinate inputs (:func:`validation.data.orthogonal_inputs`,
        seeded by ``input_seed``). Non-orthogonal inputs (e.g.
        :func:`validation.data.nearly_orthogonal_inputs`) select the nearly orthogonal mode.
    dtype : {"float64", "float32"}
    loss_tolerance : float
        A run stops once ``L <= L_final + loss_tolerance · L(0)``, with ``L_final`` the limit's
        last plateau loss.
    max_steps : int
        Cap on every run's step budget (otherwise ``1.5 τ_J ln(1/σ) + 2 (ln(1/tol) + 10)/ρ``
        in time, ρ the limit's final convergence rate).
    checkpoints : int
        Log-spaced checkpoints recorded per run.
    near_tie_constant : float
        ``c`` of the near-tie threshold (:mod:`validation.observables`).
    progress : callable, optional
        ``progress(finished_runs, step)`` (see :func:`validation.training.train`).

    Returns
    -------
    ValidationReport
        ``.verdict`` in ``{"converging", "near-tie", "mismatch", "inconclusive"}``; ``.to_json()``;
        ``.table()``.

    Raises
    ------
    ValueError
        Empty σ list, σ ∉ (0, 1) or too small for ``dtype``, ``step_size <= 0``, CUDA asked
        for but unavailable, an initialization of the wrong size, inputs of the wrong shape
        or norms.

    Examples
    --------
    >>> from jumpprocess import OrthogonalProblem, Initialization
    >>> problem = OrthogonalProblem([1.0, -0.6], [1.5, 1.5])
    >>> init = Initialization([[0.7, -0.3], [-0.2, 0.5]], [0.8, -0.6])
    >>> report = compare(problem, init, [1e-2, 1e-8, 1e-32], step_size=0.1, device="cpu")
    >>> report.verdict, report.initializations[0].rows[-1].fitted_set_errors
    ('converging', 0)
    """
    from jumpprocess import Initialization, OrthogonalProblem
    from jumpprocess.precision import ORTHOGONALITY_ATOL

    if not isinstance(problem, OrthogonalProblem):
        raise ValueError(
            f"problem must be a jumpprocess.OrthogonalProblem (labels and norms), got {type(problem).__name__}; "
            "build one with OrthogonalProblem(labels, norms) or OrthogonalProblem.from_inputs(X, labels)"
        )
    for name, value, least in (("max_steps", max_steps, 1), ("checkpoints", checkpoints, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
            raise ValueError(f"{name} must be an integer >= {least}, got {value!r}")
    if isinstance(near_tie_constant, bool) or not isinstance(near_tie_constant, (int, float, np.integer, np.floating)) \
            or not (math.isfinite(near_tie_constant) and near_tie_constant >= 0):
        raise ValueError(f"near_tie_constant must be a finite number >= 0 (c of the near-tie threshold), "
                         f"got {near_tie_constant!r}")
    torch = import_torch()
    dtype_name = resolve_dtype(dtype)
    sigma_values = np.sort(check_sigmas(sigmas, dtype_name))[::-1].copy()
    eta = check_step_size(step_size)
    device_name = resolve_device(device)
    if not (math.isfinite(loss_tolerance) and 0 < loss_tolerance < 1):
        raise ValueError(f"loss_tolerance must lie in (0, 1) (relative to the initial loss), got {loss_tolerance!r}")
    inits = [init] if isinstance(init, Initialization) else list(init)
    if not inits:
        raise ValueError("no initialization given")
    for b, item in enumerate(inits):
        if not isinstance(item, Initialization):
            raise ValueError(f"init must be a jumpprocess.Initialization or a sequence of them; item {b} is a "
                             f"{type(item).__name__}")
        if item.n != problem.n:
            raise ValueError(f"initialization {b} has n = {item.n} samples but the problem has n = {problem.n}")
    X = _resolve_inputs(problem, inputs, input_seed)
    cosine = max_cosine(X)
    mode = "orthogonal" if cosine <= ORTHOGONALITY_ATOL else "nearly-orthogonal"

    # 1. what the limit predicts, 2. how long each run may train, 3. every run in one batch
    predictions = _limit_predictions(problem, inits, eta)
    budgets, tolerances = _stopping_rules(predictions, sigma_values, eta, loss_tolerance, max_steps)
    training = train_initializations(
        X,
        problem.labels,
        inits,
        sigma_values,
        step_size=eta,
        max_steps=budgets,
        loss_tolerance=tolerances,
        checkpoints=checkpoints,
        device=device_name,
        dtype=dtype_name,
        progress=progress,
    )
    # 4. every run against the predictions, 5. a verdict per initialization, 6. overall
    reports = [
        _initialization_report(b, prediction, training, sigma_values, eta, cosine, near_tie_constant)
        for b, prediction in enumerate(predictions)
    ]
    verdict, reason = _overall_verdict(reports, mode, cosine)
    settings = {
        "sigmas": sigma_values.tolist(),
        "step_size": eta,
        "loss_tolerance": loss_tolerance,
        "max_steps": int(max_steps),
        "checkpoints": int(checkpoints),
        "near_tie_constant": float(near_tie_constant),
    }
    return ValidationReport(
        verdict=verdict,
        reason=reason,
        mode=mode,
        max_cosine=cosine,
        step_size=eta,
        sigmas=sigma_values,
        initializations=tuple(reports),
        training=training,
        parameters=_provenance(problem, inits, X, inputs, input_seed, training, settings, torch),
    )
