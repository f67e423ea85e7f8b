"""What a finite-σ run shows, and how it is matched against the limit.

docs/math/race.rst, docs/math/saddles.rst, docs/math/ties.rst, docs/math/convergence.rst.

Empirical observables of one run (:func:`observe`):

* **half-fit times** ``τ̂_i``: the first rescaled time ``τ = kη / ln(1/σ)`` at which
  ``|r_i| <= |y_i| / 2`` (0 for ``y_i = 0``, NaN if never);
* **fitted sets**: sample i (``y_i != 0``, half-fitted at the end) belongs to the neuron
  contributing most towards its label, ``argmax_j sgn(y_i) a_j relu(U_ji)``; otherwise −1;
* **final squared norm** ``Σ_j (a_j² + ||w_j||²)`` (docs/math/saddles.rst, docs/math/implicit-bias.rst).

Matching against a limit :class:`~jumpprocess.Trajectory` (:func:`match`): jump ``k`` of
the limit fits ``F_k`` at ``τ_k``; its empirical time is the median of ``τ̂_i`` over
``i ∈ F_k`` (the samples of one saddle-to-saddle transition are half-fitted within an
O(1) interval of unscaled time, i.e. within O(1/ln(1/σ)) in τ), so the *jump-time error*
``τ̂_k − τ_k`` is O(1/ln(1/σ)) when the run follows the limit (docs/math/convergence.rst). The empirical
neuron order is the order of these times.

Near-ties (:func:`near_ties`): at finite σ neuron j activates at
``τ_j + O(1)/(λ_j ln(1/σ))``, the O(1) being the log of the prefactors the limit forgets.
Two activations whose limit candidates are closer than ``c (1/λ_a + 1/λ_b) / ln(1/σ)`` may
therefore come in either order at that σ (docs/math/convergence.rst); ``c = NEAR_TIE_CONSTANT = 3`` (prefactors
within a factor e³ ≈ 20 of each other) by default.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .training import HALF_FIT_FRACTION, TrainingResult

__all__ = [
    "NEAR_TIE_CONSTANT",
    "RunObservables",
    "RunComparison",
    "NearTie",
    "observe",
    "match",
    "near_ties",
]

#: Default ``c`` of the near-tie threshold ``c (1/λ_a + 1/λ_b) / ln(1/σ)``.
NEAR_TIE_CONSTANT = 3.0


@dataclass(frozen=True, eq=False)
class RunObservables:
    """Observables of one finite-σ run.

    Attributes
    ----------
    sigma : float
    half_fit_times : ndarray (n,)
        Rescaled half-fit times ``τ̂_i`` (NaN if never half-fitted).
    fitted_by : ndarray of int (n,)
        Neuron fitting each sample at the end, −1 if none (or ``y_i = 0``).
    squared_norm : float
        ``Σ_j (a_j² + ||w_j||²)`` at the end.
    final_loss : float
    stop_reason : str
    rescaled_times : ndarray (C,)
        Checkpoint times ``τ`` of this run.
    losses : ndarray (C,)
        Loss at the checkpoints.
    horizon : float
        Rescaled time the run reached: ``inf`` if it converged (every jump of the limit
        happened), else its stop step ``k η / ln(1/σ)``.
    """

    sigma: float
    half_fit_times: np.ndarray
    fitted_by: np.ndarray
    squared_norm: float
    final_loss: float
    stop_reason: str
    rescaled_times: np.ndarray
    losses: np.ndarray
    horizon: float = float("inf")


def observe(training: TrainingResult, run: int) -> RunObservables:
    """The observables of run ``run`` of a batch (see the module docstring).

    Examples
    --------
    >>> import numpy as np
    >>> from validation.training import train
    >>> result = train(np.eye(2), [1.0, -1.0], [[[1.0, 0.0], [0.0, 1.0]]], [[1.0, -1.0]], 0.5,
    ...                step_size=0.1, max_steps=2000, loss_tolerance=1e-12, device="cpu")
    >>> observe(result, 0).fitted_by.tolist()
    [0, 1]
    """
    y = training.labels
    a = training.final_output_weights[run]
    U = training.final_preactivations[run]
    contributions = a[:, None] * np.maximum(U, 0.0)  # (m, n)
    residual = y - contributions.sum(axis=0)
    toward_label = contributions * np.sign(y)[None, :]
    owner = np.argmax(toward_label, axis=0) if toward_label.shape[0] else np.zeros(len(y), dtype=np.int64)
    fitted = (y != 0) & (np.abs(residual) <= HALF_FIT_FRACTION * np.abs(y))
    if toward_label.shape[0]:
        fitted &= toward_label[owner, np.arange(len(y))] > 0
    return RunObservables(
        sigma=float(training.sigmas[run]),
        half_fit_times=training.half_fit_times[run],
        fitted_by=np.where(fitted, owner, -1).astype(np.int64),
        squared_norm=float(training.final_squared_norms[run].sum()),
        final_loss=float(training.final_losses[run]),
        stop_reason=training.stop_reasons[run],
        rescaled_times=training.rescaled_times[:, run],
        losses=training.losses[:, run],
        horizon=float("inf") if training.stop_reasons[run] == "converged"
        else float(training.stop_steps[run] * training.step_size / training.log_inverse_sigmas[run]),
    )


@dataclass(frozen=True)
class NearTie:
    """Two limit activations too close to be resolved at a given σ.

    Attributes
    ----------
    jump : int
        Index of the limit jump won by ``neuron``.
    neuron, rival : int
        The winner and the neuron whose candidate time ``rival_time`` came next.
    time, rival_time : float
        Candidate activation times ``τ`` in the race (docs/math/race.rst, step 1).
    threshold : float
        ``c (1/λ_neuron + 1/λ_rival) / ln(1/σ)``.
    overlapping : bool
        Whether their remaining sets overlap: then the finite-σ winner changes the
        *fitted sets*, otherwise only the order.
    """

    jump: int
    neuron: int
    rival: int
    time: float
    rival_time: float
    threshold: float
    overlapping: bool

    @property
    def gap(self) -> float:
        return self.rival_time - self.time

    def to_dict(self) -> dict:
        return {
            "jump": self.jump,
            "neuron": self.neuron,
            "rival": self.rival,
            "time": self.time,
            "rival_time": self.rival_time,
            "gap": self.gap,
            "threshold": self.threshold,
            "overlapping": self.overlapping,
        }


def near_ties(trajectory, log_inverse_sigma: float, constant: float = NEAR_TIE_CONSTANT) -> tuple:
    """Limit activations that finite σ cannot be expected to order as the limit does.

    Before jump ``k`` (plateau starting at ``τ_{k−1}``, exponents ``e_j`` just after jump
    ``k−1``, rates ``λ_j`` of ``trajectory.rates[k]``), every inactive neuron with
    ``λ_j > 0`` has the candidate time ``τ_{k−1} + (0 − e_j)/λ_j`` (docs/math/race.rst). The winner is
    ``trajectory.neurons[k]``; every other candidate within
    ``c (1/λ_winner + 1/λ_j) / ln(1/σ)`` of it is a near-tie (module docstring).

    Parameters
    ----------
    trajectory : jumpprocess.Trajectory
    log_inverse_sigma : float
        ``ln(1/σ)`` of the σ in question (``np.inf`` gives only exact ties).
    constant : float
        ``c``.

    Returns
    -------
    tuple of NearTie
    """
    J, m = trajectory.num_jumps, trajectory.m
    if J == 0:
        return ()
    times = trajectory.jump_times
    labels = trajectory.problem.labels
    remaining = labels != 0
    active = np.zeros(m, dtype=bool)
    found = []
    for k in range(J):
        start = times[k - 1] if k else 0.0
        exponents = trajectory.exponents[k - 1] if k else np.full(m, -1.0)
        rates = trajectory.rates[k]
        winner = int(trajectory.neurons[k])
        candidates = np.flatnonzero(~active & (rates > 0))
        for j in candidates:
            if j == winner:
                continue
            candidate = start + (0.0 - exponents[j]) / rates[j]
            threshold = constant * (1.0 / rates[winner] + 1.0 / rates[j]) / log_inverse_sigma
            if candidate - times[k] <= threshold:
                overlap = bool(np.any(trajectory.good_sets[winner] & trajectory.good_sets[j] & remaining))
                found.append(NearTie(k, winner, int(j), float(times[k]), float(candidate), float(threshold), overlap))
        active[winner] = True
        remaining[trajectory.fitted[k]] = False
    return tuple(found)


@dataclass(frozen=True, eq=False)
class RunComparison:
    """One finite-σ run matched against one limit trajectory.

    Attributes
    ----------
    sigma : float
    jump_times : ndarray (J,)
        Limit jump times ``τ_k``.
    empirical_jump_times : ndarray (J,)
        Median half-fit time over ``F_k`` (NaN if a sample of ``F_k`` was never half-fitted).
    jump_time_errors : ndarray (J,)
        ``τ̂_k − τ_k``.
    jump_time_error : float
        ``max_k |τ̂_k − τ_k|`` (inf if some jump never happened; 0 if there are no jumps).
    fitted_set_errors : int
        Samples whose fitting neuron differs from the limit's (−1 = not fitted).
    order_errors : int
        Pairs of limit jumps ``k < l`` with ``τ̂_k > τ̂_l`` that are not near-tied
        (``τ_l − τ_k`` above the near-tie threshold at this σ).
    empirical_order : ndarray of int
        Neurons fitting samples at the end, ordered by their median half-fit time.
    squared_norm : float
    squared_norm_error : float
        ``|Σ(a² + ||w||²) − limit| / limit`` (absolute when the limit is 0).
    plateau_loss_error : float
        ``max_p |L̂(τ_p) − L_p| / L(0)`` over the midpoints ``τ_p`` of the limit's plateaus
        and the final loss.
    partition_errors : int
        Samples whose *group* (the samples fitted together with them, by whichever neuron)
        differs from the limit's: ``fitted_set_errors`` up to relabeling the neurons.
    unreached_jumps : int
        Limit jumps that a run stopped by its step budget may not have reached (``τ_k +
        c/(λ_k ln(1/σ))`` beyond its horizon): they are left out of every error above, and
        so are the samples they fit.
    """

    sigma: float
    jump_times: np.ndarray
    empirical_jump_times: np.ndarray
    jump_time_errors: np.ndarray
    jump_time_error: float
    fitted_set_errors: int
    order_errors: int
    empirical_order: np.ndarray
    squared_norm: float
    squared_norm_error: float
    plateau_loss_error: float
    unreached_jumps: int = 0
    partition_errors: int = 0


def _group_labels(owner: np.ndarray) -> np.ndarray:
    """Each sample's group as the smallest sample index fitted by the same neuron (−1: none)."""
    labels = np.full(owner.shape, -1, dtype=np.int64)
    for j in np.unique(owner[owner >= 0]):
        members = np.flatnonzero(owner == j)
        labels[members] = members[0]
    return labels


def match(observables: RunObservables, trajectory, *, near_tie_constant: float = NEAR_TIE_CONSTANT) -> RunComparison:
    """Match a run's observables with a limit trajectory (module docstring).

    Parameters
    ----------
    observables : RunObservables
    trajectory : jumpprocess.Trajectory
        For the same problem and initialization (and, for the race, the same step size).
    near_tie_constant : float
        ``c`` of the near-tie threshold, used to excuse order swaps.

    Returns
    -------
    RunComparison
    """
    times = np.asarray(trajectory.jump_times, dtype=np.float64)
    L = float(np.log(1.0 / observables.sigma))
    # A jump counts as reached when even its finite-σ delay, up to c / (λ_k ln(1/σ)), fits
    # before the horizon; reached jumps form a prefix (times are sorted).
    jump_rates = np.array([trajectory.rates[k, trajectory.neurons[k]] for k in range(len(times))], dtype=np.float64)
    with np.errstate(divide="ignore"):
        delays = near_tie_constant / (jump_rates * L)
    reached = np.cumprod(times + delays <= observables.horizon).astype(bool)
    J = int(np.count_nonzero(reached))
    fitted = trajectory.fitted
    empirical = np.array([np.median(observables.half_fit_times[f]) if len(f) else np.nan for f in fitted], dtype=np.float64)
    empirical[~reached] = np.nan
    errors = empirical - times
    if J == 0:
        worst = 0.0
    elif np.any(np.isnan(errors[:J])):
        worst = float("inf")
    else:
        worst = float(np.max(np.abs(errors[:J])))
    limit_owner = np.asarray(trajectory.fitted_by).copy()
    compared = np.ones(len(limit_owner), dtype=bool)
    for k in np.flatnonzero(~reached):
        compared[fitted[k]] = False
    fitted_set_errors = int(np.sum((observables.fitted_by != limit_owner) & compared))
    limit_groups = _group_labels(np.where(compared, limit_owner, -1))
    empirical_groups = _group_labels(np.where(compared, observables.fitted_by, -1))
    partition_errors = int(np.sum((limit_groups != empirical_groups) & compared))

    rate_at_jump = jump_rates[:J]
    order_errors = 0
    for k in range(J):
        for l in range(k + 1, J):
            threshold = near_tie_constant * (1.0 / rate_at_jump[k] + 1.0 / rate_at_jump[l]) / L
            if times[l] - times[k] > threshold and not empirical[k] < empirical[l]:
                order_errors += 1

    owners = np.unique(observables.fitted_by[(observables.fitted_by >= 0) & compared])
    owner_times = [np.median(observables.half_fit_times[(observables.fitted_by == j) & compared]) for j in owners]
    empirical_order = owners[np.argsort(owner_times, kind="stable")] if len(owners) else owners

    ratio = trajectory.problem.labels / trajectory.problem.norms
    limit_norm = float(sum(2.0 * np.sqrt(np.sum(ratio[f] ** 2)) for f in fitted[:J]))  # docs/math/saddles.rst
    norm_error = abs(observables.squared_norm - limit_norm)
    if limit_norm > 0:
        norm_error /= limit_norm

    initial_loss = float(trajectory.plateau_losses[0])
    # Plateau p is [τ_{p−1}, τ_p) (τ_{−1} = 0); zero-length plateaus of simultaneous (tied)
    # jumps have no midpoint to measure and are skipped, and so is the one after the last
    # reached jump (measured by the final loss).
    starts = np.concatenate(([0.0], times[: J - 1])) if J else np.zeros(0)
    lengths = times[:J] - starts
    usable = lengths > 1e-9 * np.maximum(times[:J], 1.0)
    midpoints = (starts + lengths / 2)[usable]
    predicted = trajectory.plateau_losses[:J][usable]
    measured = np.interp(midpoints, observables.rescaled_times, observables.losses) if len(midpoints) else np.zeros(0)
    deviations = np.append(np.abs(measured - predicted), abs(observables.final_loss - trajectory.plateau_losses[J]))
    plateau_error = float(np.max(deviations) / initial_loss) if initial_loss > 0 else float(np.max(deviations))

    return RunComparison(
        sigma=observables.sigma,
        jump_times=times,
        empirical_jump_times=empirical,
        jump_time_errors=errors,
        jump_time_error=worst,
        fitted_set_errors=fitted_set_errors,
        order_errors=order_errors,
        empirical_order=np.asarray(empirical_order, dtype=np.int64),
        squared_norm=observables.squared_norm,
        squared_norm_error=float(norm_error),
        plateau_loss_error=plateau_error,
        unreached_jumps=int(len(times) - J),
        partition_errors=partition_errors,
    )
