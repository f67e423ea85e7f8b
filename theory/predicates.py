"""Theorems of the limit process as checkable predicates (docs/math/reduction.rst
to docs/math/convergence.rst).

Each predicate takes a trajectory (or a problem and an initialization, when the statement
compares several runs) and returns a :class:`Check`: whether the statement holds and, when
it does not, a small ``witness`` dictionary that pins down the first violation. Tests
assert ``check.holds`` and print the witness on failure; researchers can call them on
their own runs.

Statements (and the docs page that states each one):

* :func:`saddles_are_critical_points` — every plateau's saddle is a critical point of the
  real loss (docs/math/saddles.rst), evaluated in input space with ``relu'(0) = 0``.
* :func:`one_neuron_per_jump` — with continuous labels each jump activates one new neuron
  at a time of its own (docs/math/race.rst, docs/math/ties.rst).
* :func:`plateau_losses_strictly_decrease` — plateau losses strictly decrease and equal
  ``(1/2n) Σ_{i∈R} y_i²`` (docs/math/saddles.rst).
* :func:`interpolation_iff_coverage` — the run interpolates iff every nonzero label is in a
  good set; covered samples are all fitted (docs/math/race.rst).
* :func:`squared_norm_matches_closed_forms` — the final squared norm equals the parameters'
  norm and ``Σ_k 2 ||(y/s)_{F_k}||``, and is at least the minimal norm (docs/math/saddles.rst,
  docs/math/implicit-bias.rst).
* :func:`scaling_laws` — labels × c: times / c, squared norms × c (norms × √c); data norms
  × c: times / c, squared norms / c; same activations (docs/math/race.rst, docs/math/saddles.rst).
* :func:`equivariance` — permuting samples and neurons permutes the trajectory (docs/math/race.rst).
* :func:`gradient_descent_converges_to_flow` — gradient-descent races tend to the
  gradient-flow race as ``η → 0`` (docs/math/race.rst, docs/math/convergence.rst).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from jumpprocess.precision import DTYPE, SADDLE_GRADIENT_RTOL

from . import closed_forms

__all__ = [
    "Check",
    "saddles_are_critical_points",
    "one_neuron_per_jump",
    "plateau_losses_strictly_decrease",
    "interpolation_iff_coverage",
    "squared_norm_matches_closed_forms",
    "scaling_laws",
    "equivariance",
    "gradient_descent_converges_to_flow",
]

_EPS = float(np.finfo(DTYPE).eps)


@dataclass(frozen=True)
class Check:
    """The verdict of a predicate.

    Attributes
    ----------
    holds : bool
        Whether the statement holds for the run(s) examined.
    statement : str
        The statement checked, in words.
    witness : dict or None
        When it does not hold: the first violation (indices, times, values); else ``None``.

    Examples
    --------
    >>> bool(Check(True, "1 + 1 = 2"))
    True
    """

    holds: bool
    statement: str
    witness: dict | None = None

    def __bool__(self) -> bool:
        return bool(self.holds)

    def __str__(self) -> str:
        verdict = "holds" if self.holds else f"FAILS; witness: {self.witness}"
        return f"{self.statement}: {verdict}"


def _verdict(statement: str, witness: dict | None) -> Check:
    return Check(witness is None, statement, witness)


def _default_simulate():
    """``simulate`` with ``ties="index"``: the theorems checked here are the race's, exact to
    rounding (the joint escape at an overlapping tie is a finite-σ computation, accurate to its
    tolerances, docs/math/ties.rst; pass ``simulate=functools.partial(simulate, ties="joint")``
    to check it)."""
    from functools import partial

    from jumpprocess import simulate

    return partial(simulate, ties="index")


def _relative_tolerance(count: int) -> float:
    """Tolerance for comparing two float64 evaluations of a sum of ``count`` terms."""
    return 16.0 * max(count, 1) * _EPS


# ------------------------------------------------------------------------------- docs/math/saddles.rst


def saddles_are_critical_points(trajectory, *, inputs=None, rtol: float = SADDLE_GRADIENT_RTOL) -> Check:
    """Every saddle visited is a critical point of the real loss (docs/math/saddles.rst).

    For ``τ = 0`` and each jump time (right limit), the saddle ``(a, U)`` of
    ``trajectory.parameters_at`` is mapped to input space, ``w_j = Σ_i (U_ji / s_i²) x_i``,
    and the gradient of ``L = 1/(2n) Σ_i (Σ_j a_j relu(<w_j, x_i>) − y_i)²`` is evaluated,

        ∂L/∂a_j = (1/n) Σ_i r_i relu(<w_j, x_i>),   ∂L/∂w_j = (1/n) Σ_i r_i a_j 1[<w_j, x_i> > 0] x_i,

    with ``r = f − y`` and ``relu'(0) = 0``. It must vanish relative to the gradient scale
    ``(1/n) Σ_{j,i} |y_i| (|<w_j, x_i>| + |a_j| s_i)`` (the size of its terms were the
    residual ``y``), within ``rtol`` (default :data:`~jumpprocess.precision.SADDLE_GRADIENT_RTOL`).

    Parameters
    ----------
    trajectory : jumpprocess.Trajectory
    inputs : array_like, shape (n, d), optional
        The inputs ``X``; default the problem's stored inputs, else ``diag(s)`` (the data
        in its own orthogonal frame, where the loss and gradient norms are the same).
    rtol : float

    Notes
    -----
    The saddle sits on the ReLU kink of every sample it does not fit (``<w_k, x_i> = 0``).
    With ``diag(s)`` those zeros are exact; with general inputs they are zero only up to
    the inputs' departure from orthogonality ``c = 64 ε + max |cos(x_i, x_l)|`` (rounding at
    least), so preactivations within ``c ||w_j|| s_i`` of 0 are taken to be at the kink. The
    same departure perturbs the fitted preactivations by ``c`` times the neuron's dynamic
    range ``max |z| / min |z|`` (``z_i = U_ji / s_i`` on its fitted set), so with general
    inputs the tolerance is ``rtol + 4 c · range``: a saddle of nearly orthogonal data is
    only nearly critical.
    """
    statement = "every saddle of the trajectory is a critical point of the loss (docs/math/saddles.rst)"
    problem = trajectory.problem
    n, s, y = problem.n, problem.norms, problem.labels
    X = problem.inputs if inputs is None else np.asarray(inputs, dtype=DTYPE)
    if X is None:
        X = np.diag(s)
        kink_rtol = 0.0
    else:
        if X.shape[0] != n:
            raise ValueError(f"inputs have {X.shape[0]} rows but the problem has n = {n}")
        row_norms = np.linalg.norm(X, axis=1)
        cosines = np.abs((X / row_norms[:, None]) @ (X / row_norms[:, None]).T)
        np.fill_diagonal(cosines, 0.0)
        kink_rtol = 64 * _EPS + (float(cosines.max()) if n > 1 else 0.0)
        s = row_norms
        _, U_final = trajectory.parameters_at(np.inf)
        z = np.abs(U_final / s)
        ranges = [row[row > 0].max() / row[row > 0].min() for row in z if np.any(row > 0)]
        rtol = rtol + 4 * kink_rtol * max(ranges, default=1.0)
    times = np.concatenate(([0.0], trajectory.jump_times))
    for plateau, tau in enumerate(times):
        a, U = trajectory.parameters_at(float(tau), "right")
        W = (U / s**2) @ X
        pre = W @ X.T
        pre[np.abs(pre) <= kink_rtol * np.linalg.norm(W, axis=1)[:, None] * s[None, :]] = 0.0
        active = pre > 0
        hidden = np.where(active, pre, 0.0)
        residual = a @ hidden - y
        grad_a = hidden @ residual / n
        grad_W = ((active * a[:, None]) * residual[None, :]) @ X / n
        gradient = float(np.sqrt(grad_a @ grad_a + np.sum(grad_W * grad_W)))
        scale = float(np.sum(np.abs(y)[None, :] * (np.abs(pre) + np.abs(a)[:, None] * s))) / n
        if not gradient <= rtol * scale:
            worst = int(np.argmax(np.abs(grad_a) + np.linalg.norm(grad_W, axis=1))) if a.size else -1
            return _verdict(statement, {
                "plateau": plateau, "tau": float(tau), "gradient_norm": gradient,
                "gradient_scale": scale, "rtol": rtol, "worst_neuron": worst,
            })
    return _verdict(statement, None)


def plateau_losses_strictly_decrease(trajectory) -> Check:
    """Plateau losses strictly decrease and equal ``(1/2n) Σ_{i∈R} y_i²`` (docs/math/saddles.rst).

    The closed form is :func:`theory.closed_forms.plateau_losses` (summed directly over
    the unfitted set ``R`` of each plateau); agreement is required to a relative
    ``16 n ε``, the rounding of an ``n``-term sum.
    """
    statement = "plateau losses strictly decrease and equal (1/2n) Σ_{i∈R} y_i² (docs/math/saddles.rst)"
    problem = trajectory.problem
    losses = np.asarray(trajectory.plateau_losses, dtype=DTYPE)
    expected = closed_forms.plateau_losses(problem.labels, trajectory.fitted)
    if losses.shape != expected.shape:
        return _verdict(statement, {"engine_plateaus": losses.size, "expected_plateaus": expected.size})
    tolerance = _relative_tolerance(problem.n)
    mismatch = np.abs(losses - expected) > tolerance * expected
    if np.any(mismatch):
        p = int(np.flatnonzero(mismatch)[0])
        return _verdict(statement, {
            "plateau": p, "engine_loss": float(losses[p]), "closed_form": float(expected[p]),
            "relative_error": float(abs(losses[p] - expected[p]) / expected[p]) if expected[p] else float("inf"),
        })
    steps = np.diff(losses)
    if np.any(steps >= 0):
        p = int(np.flatnonzero(steps >= 0)[0])
        return _verdict(statement, {"jump": p, "loss_before": float(losses[p]), "loss_after": float(losses[p + 1])})
    return _verdict(statement, None)


def squared_norm_matches_closed_forms(trajectory) -> Check:
    """Final squared norm = parameters' norm = ``Σ_k 2||(y/s)_{F_k}||`` ≥ minimal norm.

    docs/math/saddles.rst, docs/math/implicit-bias.rst.

    Checks, to a relative ``16 (m + n) ε``:

    * ``Σ_j a_j² + Σ_{j,i} U_ji² / s_i²`` of ``parameters_at(inf)`` equals
      :func:`theory.closed_forms.learned_squared_norm` and ``trajectory.squared_norm``;
    * the result is at least ``2(||(y/s)_{+,S}|| + ||(y/s)_{−,S}||)``, the least squared norm of
      any network that fits exactly the fitted samples ``S`` and is 0 elsewhere (for an
      interpolating run, the minimal interpolator of docs/math/implicit-bias.rst);
    * ``trajectory.min_squared_norm`` equals the closed form of the minimal interpolator.
    """
    statement = ("squared norm = Σ_k 2||(y/s)_{F_k}|| (closed forms) >= minimal norm "
                 "(docs/math/saddles.rst, docs/math/implicit-bias.rst)")
    problem = trajectory.problem
    y, s = problem.labels, problem.norms
    a, U = trajectory.parameters_at(np.inf)
    from_parameters = float(a @ a + np.sum((U / s) ** 2))
    closed = closed_forms.learned_squared_norm(y, s, trajectory.fitted)
    engine = float(trajectory.squared_norm)
    tolerance = _relative_tolerance(trajectory.m + problem.n)
    for name, value in (("from_parameters", from_parameters), ("engine", engine)):
        if abs(value - closed) > tolerance * closed:
            return _verdict(statement, {"quantity": name, "value": value, "closed_form": closed})
    fitted = np.concatenate([np.asarray(f, dtype=int) for f in trajectory.fitted]) if trajectory.fitted else np.zeros(0, int)
    least = closed_forms.min_squared_norm(y[fitted], s[fitted])
    if closed < least * (1 - tolerance):
        return _verdict(statement, {"squared_norm": closed, "least_for_fitted_samples": least})
    minimal = closed_forms.min_squared_norm(y, s)
    if abs(trajectory.min_squared_norm - minimal) > tolerance * minimal:
        return _verdict(statement, {"engine_min_squared_norm": float(trajectory.min_squared_norm), "closed_form": minimal})
    if trajectory.interpolates and abs(least - minimal) > tolerance * minimal:
        return _verdict(statement, {"interpolates": True, "least_for_fitted_samples": least, "minimal": minimal})
    return _verdict(statement, None)


# ------------------------------------------------------------------------------- docs/math/race.rst


def one_neuron_per_jump(trajectory) -> Check:
    """Each jump activates exactly one new neuron, at a time of its own.

    docs/math/race.rst, docs/math/ties.rst.

    Checked: no neuron activates twice, every jump fits at least one sample, and each jump
    time is strictly after the previous one unless the two jumps are reported as tied
    (``tied_with``). For continuous labels and norms two neurons with different good sets
    tie with probability 0, but a difference of rates below float64 resolution (labels of
    very different magnitudes) is a tie in every computable sense, and docs/math/ties.rst requires it
    to be reported, never resolved silently: simultaneous jumps are allowed only when
    reported. (Neurons with *identical* good sets tie exactly, with positive probability
    for small ``n``: one of them fits the set, the others fit nothing; still one
    activation per jump, flagged ``identical`` (``Trajectory.identical_ties``), not
    ``ambiguous``: which tied neuron carries the fit is not determined, the network
    function is.)
    """
    statement = "one new neuron per jump; simultaneous jumps only as reported ties (docs/math/race.rst, docs/math/ties.rst)"
    seen: set[int] = set()
    previous = None
    for index, event in enumerate(trajectory.events):
        problem = None
        if event.neuron in seen:
            problem = "neuron activates twice"
        elif previous is not None and not event.time > previous.time and event.neuron not in previous.tied_with:
            problem = "jump not after the previous one and not reported as tied with it"
        elif len(event.fitted) == 0:
            problem = "fits no sample"
        if problem:
            return _verdict(statement, {
                "jump": index, "neuron": int(event.neuron), "time": float(event.time),
                "previous_time": None if previous is None else float(previous.time),
                "tied_with": list(event.tied_with), "problem": problem,
            })
        seen.add(event.neuron)
        previous = event
    return _verdict(statement, None)


def interpolation_iff_coverage(trajectory, init=None) -> Check:
    """Interpolation ⇔ coverage: the run interpolates iff every ``y_i ≠ 0`` is in a good set (docs/math/race.rst).

    Also checks that the covered samples are exactly the fitted ones (each once), that the
    final plateau loss is 0 iff the run interpolates, and, for a gradient-flow run from a
    sign-stable ``init``, that the good sets are ``{i : Ū_ji > 0, sgn_j y_i > 0}`` with
    ``sgn_j = sign(ā_j)`` (docs/math/alignment.rst).
    """
    statement = ("interpolates ⇔ every nonzero label lies in a good set; covered samples are fitted "
                 "(docs/math/alignment.rst, docs/math/race.rst)")
    problem = trajectory.problem
    y = problem.labels
    good = np.asarray(trajectory.good_sets, dtype=bool)
    nonzero = y != 0
    covered = good.any(axis=0) if good.size else np.zeros(problem.n, dtype=bool)
    coverage = bool(np.all(covered[nonzero]))
    if bool(trajectory.interpolates) != coverage:
        return _verdict(statement, {
            "interpolates": bool(trajectory.interpolates), "coverage": coverage,
            "uncovered": np.flatnonzero(nonzero & ~covered).tolist()[:10],
        })
    counts = np.zeros(problem.n, dtype=int)
    for fitted in trajectory.fitted:
        counts[np.asarray(fitted, dtype=int)] += 1
    target = (covered & nonzero).astype(int)
    if not np.array_equal(counts, target):
        i = int(np.flatnonzero(counts != target)[0])
        return _verdict(statement, {"sample": i, "times_fitted": int(counts[i]), "covered": bool(covered[i]), "label": float(y[i])})
    final_loss = float(trajectory.plateau_losses[-1])
    if (final_loss == 0.0) != coverage:
        return _verdict(statement, {"final_loss": final_loss, "coverage": coverage})
    if init is not None and trajectory.step_size is None:
        a = np.asarray(init.output_weights)
        stable = np.asarray(init.is_sign_stable(problem.norms), dtype=bool)
        expected = (np.asarray(init.preactivations) > 0) & (np.sign(a)[:, None] * y[None, :] > 0)
        for j in np.flatnonzero(stable):
            if int(trajectory.signs[j]) != int(np.sign(a[j])) or not np.array_equal(good[j], expected[j]):
                return _verdict(statement, {
                    "neuron": int(j), "sign": int(trajectory.signs[j]), "expected_sign": int(np.sign(a[j])),
                    "good_set": np.flatnonzero(good[j]).tolist(), "expected_good_set": np.flatnonzero(expected[j]).tolist(),
                })
    return _verdict(statement, None)


# ------------------------------------------------------------------- comparing runs


def _activation_map(trajectory, until: float = np.inf) -> dict:
    """neuron -> (time, frozenset(fitted)) for events strictly before ``until``."""
    return {
        int(e.neuron): (float(e.time), frozenset(int(i) for i in e.fitted))
        for e in trajectory.events
        if e.time < until
    }


def _first_overlap_time(trajectory) -> float:
    return min((float(e.time) for e in trajectory.events if e.overlapping), default=np.inf)


def _time_conditioning(trajectory) -> dict:
    """neuron -> relative rounding bound of its jump time, beyond the ``rtol`` of a comparison.

    The race finds ``τ_k`` where the exponent ``E_j(τ) = E_j(0) + Σ_s λ_j^(s) Δτ_s`` reaches 0
    (docs/math/race.rst): the path ``P = Σ_s λ_j^(s) Δτ_s = −E_j(0)`` is summed with an
    error of about ``(k + 2) ε P``, and the last stage turns it into a time error ``/ λ_j^(k)``.
    Relative to ``τ_k`` that is ``(k + 2) ε P / (λ_j^(k) τ_k)``: about ``k ε`` when the rates
    are alike, but large when the neuron's rate fell by orders of magnitude before it jumped
    (labels spanning 1e-3 to 1e3: ~1e7 ε). A factor 8 covers the two runs compared.
    """
    out = {}
    times = np.asarray(trajectory.jump_times, dtype=float)
    rates = np.asarray(trajectory.rates, dtype=float)
    durations = np.diff(np.concatenate(([0.0], times)))
    for k, event in enumerate(trajectory.events):
        j = int(event.neuron)
        rate, tau = rates[k, j], times[k]
        if rate > 0 and tau > 0:
            path = float(np.sum(np.abs(rates[: k + 1, j]) * durations[: k + 1]))
            out[j] = 8.0 * (k + 2) * _EPS * path / (rate * tau)
    return out


def _compare_maps(expected: dict, actual: dict, rtol: float, slack: dict | None = None) -> dict | None:
    """First difference between two activation maps, or None (``slack``: extra relative
    tolerance per neuron, :func:`_time_conditioning`)."""
    if set(expected) != set(actual):
        return {"expected_neurons": sorted(expected), "actual_neurons": sorted(actual)}
    slack = slack or {}
    for neuron in sorted(expected, key=lambda j: expected[j][0]):
        (t_expected, f_expected), (t_actual, f_actual) = expected[neuron], actual[neuron]
        if f_expected != f_actual:
            return {"neuron": neuron, "expected_fitted": sorted(f_expected), "actual_fitted": sorted(f_actual)}
        if abs(t_actual - t_expected) > (rtol + slack.get(neuron, 0.0)) * abs(t_expected):
            return {"neuron": neuron, "expected_time": t_expected, "actual_time": t_actual,
                    "relative_error": abs(t_actual - t_expected) / abs(t_expected)}
    return None


def _scaled_copy(problem, init, label_factor: float, norm_factor: float):
    from jumpprocess import Initialization, OrthogonalProblem

    scaled_problem = OrthogonalProblem(problem.labels * label_factor, problem.norms * norm_factor)
    # x_i → c x_i with the same w̄ multiplies Ū_ji = <w̄_j, x_i> by c; ā is unchanged.
    scaled_init = Initialization(np.asarray(init.preactivations) * norm_factor, init.output_weights)
    return scaled_problem, scaled_init


def scaling_laws(problem, init, factor: float, *, step_size=None, simulate=None, rtol: float = 1e-9) -> Check:
    """Scaling laws of the limit (docs/math/race.rst, docs/math/saddles.rst).

    * Labels × c: the same neurons fit the same samples, jump times ÷ c, squared norms × c
      (so norms × √c), plateau losses × c².
    * Data norms × c (inputs scaled, ``w̄`` fixed, so ``Ū × c``): same activations, jump
      times ÷ c, squared norms ÷ c, plateau losses unchanged.

    For gradient descent the step is scaled to ``η / c`` as well: ``ln(1 + (η/c)(cλ))/(η/c)
    = c ln(1 + ηλ)/η``.

    Parameters
    ----------
    problem : jumpprocess.OrthogonalProblem
    init : jumpprocess.Initialization
    factor : float
        ``c > 0``, finite.
    step_size : float, optional
    simulate : callable, optional
        The engine (default :func:`jumpprocess.simulate` with ``ties="index"``, the race's convention).
    rtol : float
        Relative tolerance on times, norms and losses.
    """
    factor = float(factor)
    if not np.isfinite(factor) or factor <= 0:
        raise ValueError(f"the scaling factor must be a finite number > 0, got {factor!r}")
    statement = f"scaling laws under labels × {factor:g} and data norms × {factor:g} (docs/math/race.rst, docs/math/saddles.rst)"
    simulate = simulate or _default_simulate()
    base = simulate(problem, init, step_size)
    scaled_step = None if step_size is None else step_size / factor
    # (what is scaled, scaled copy, factor on squared norms, factor on plateau losses);
    # jump times are divided by the factor in both cases.
    cases = (
        ("labels", _scaled_copy(problem, init, factor, 1.0), factor, factor**2),
        ("norms", _scaled_copy(problem, init, 1.0, factor), 1.0 / factor, 1.0),
    )
    horizon = _first_overlap_time(base)
    for name, (scaled_problem, scaled_init), norm_factor, loss_factor in cases:
        run = simulate(scaled_problem, scaled_init, scaled_step)
        expected = {j: (t / factor, f) for j, (t, f) in _activation_map(base, horizon).items()}
        actual = _activation_map(run, _first_overlap_time(run))
        difference = _compare_maps(expected, actual, rtol, _time_conditioning(base))
        if difference:
            return _verdict(statement, {"scaled": name, **difference})
        for flag in ("ambiguous", "identical_ties"):
            if bool(getattr(run, flag)) != bool(getattr(base, flag)):
                return _verdict(statement, {"scaled": name, flag: bool(getattr(run, flag)), "expected": bool(getattr(base, flag))})
        if np.isfinite(horizon):
            continue  # after an overlapping tie the race's convention, not the limit, decides
        squared = base.squared_norm * norm_factor
        if abs(run.squared_norm - squared) > rtol * squared:
            return _verdict(statement, {"scaled": name, "squared_norm": float(run.squared_norm), "expected": float(squared)})
        losses = np.asarray(base.plateau_losses) * loss_factor
        if not np.allclose(run.plateau_losses, losses, rtol=rtol, atol=0.0):
            return _verdict(statement, {"scaled": name, "plateau_losses": run.plateau_losses.tolist(), "expected": losses.tolist()})
    return _verdict(statement, None)


def equivariance(problem, init, sample_permutation, neuron_permutation, *, step_size=None, simulate=None,
                 rtol: float = 1e-9) -> Check:
    """Permuting samples and neurons permutes the trajectory (docs/math/race.rst).

    With ``p = sample_permutation`` and ``q = neuron_permutation`` the permuted run has
    labels ``y[p]``, norms ``s[p]``, ``Ū[q][:, p]`` and ``ā[q]``: its neuron ``t`` is the
    original neuron ``q[t]`` and its sample ``i`` the original sample ``p[i]``. Signs and
    good sets must correspond, and every activation must happen at the same time (to
    ``rtol``: sums are taken in another order) with the corresponding fitted set. Within a
    tie group the race activates the lowest index first; that is a convention only when
    the group's remaining sets overlap (docs/math/ties.rst), so activations are compared up to the
    first overlapping tie, and the ``ambiguous`` and ``identical_ties`` flags must agree.
    """
    from jumpprocess import Initialization, OrthogonalProblem

    statement = "permuting samples and neurons permutes the trajectory (docs/math/race.rst)"
    p = np.asarray(sample_permutation, dtype=int)
    q = np.asarray(neuron_permutation, dtype=int)
    if not np.array_equal(np.sort(p), np.arange(problem.n)):
        raise ValueError(f"sample_permutation must be a permutation of range({problem.n})")
    if not np.array_equal(np.sort(q), np.arange(init.m)):
        raise ValueError(f"neuron_permutation must be a permutation of range({init.m})")
    simulate = simulate or _default_simulate()
    base = simulate(problem, init, step_size)
    permuted_problem = OrthogonalProblem(problem.labels[p], problem.norms[p])
    U = np.asarray(init.preactivations)
    permuted_init = Initialization(U[q][:, p] if init.m else U, np.asarray(init.output_weights)[q])
    run = simulate(permuted_problem, permuted_init, step_size)
    if not np.array_equal(np.asarray(run.signs), np.asarray(base.signs)[q]):
        return _verdict(statement, {"signs": np.asarray(run.signs).tolist(), "expected": np.asarray(base.signs)[q].tolist()})
    expected_good = np.asarray(base.good_sets)[q][:, p] if init.m else np.asarray(base.good_sets)
    if not np.array_equal(np.asarray(run.good_sets), expected_good):
        t = int(np.flatnonzero(np.any(np.asarray(run.good_sets) != expected_good, axis=1))[0])
        return _verdict(statement, {"neuron": t, "good_set": np.flatnonzero(run.good_sets[t]).tolist(),
                                    "expected": np.flatnonzero(expected_good[t]).tolist()})
    for flag in ("ambiguous", "identical_ties"):
        if bool(getattr(run, flag)) != bool(getattr(base, flag)):
            return _verdict(statement, {flag: bool(getattr(run, flag)), "expected": bool(getattr(base, flag))})
    horizon = min(_first_overlap_time(base), _first_overlap_time(run))
    inverse_q = np.argsort(q)
    expected = {
        int(inverse_q[j]): (t, frozenset(int(i) for i in np.flatnonzero(np.isin(p, list(f)))))
        for j, (t, f) in _activation_map(base, horizon).items()
    }
    slack = {int(inverse_q[j]): value for j, value in _time_conditioning(base).items()}
    difference = _compare_maps(expected, _activation_map(run, horizon), rtol, slack)
    return _verdict(statement, difference)


def gradient_descent_converges_to_flow(problem, init, step_sizes=None, *, simulate=None) -> Check:
    """Gradient-descent races converge to the gradient-flow race as ``η → 0``.

    docs/math/race.rst, docs/math/convergence.rst.

    The gradient-descent race uses rates ``ln(1 + ηλ)/η = λ (1 − ηλ/2 + O(η²λ²))`` (and
    ``x / ln(1 + x) <= 1 + x/2``), so while the activation order is that of gradient flow
    the jump times differ by ``O(η)``. Checked: at the smallest step the same neurons fit
    the same samples as under gradient flow; and at every step where they do, the largest
    jump-time error is at most the first-order bound ``η λ_max τ_final (J + 1)``
    (``λ_max`` the largest flow rate, ``τ_final`` the last flow jump time, ``J`` the
    number of jumps). Activations after an overlapping tie of the flow run are not compared.

    Parameters
    ----------
    problem, init
    step_sizes : sequence of float, optional
        Decreasing steps; default ``(1e-1, 1e-2, 1e-3) / λ_max``.
    simulate : callable, optional
        The engine (default :func:`jumpprocess.simulate` with ``ties="index"``, the race's convention).
    """
    statement = "gradient-descent races converge to the gradient-flow race as η → 0 (docs/math/race.rst, docs/math/convergence.rst)"
    simulate = simulate or _default_simulate()
    flow = simulate(problem, init, None)
    lam_max = float(np.max(flow.rates)) if flow.rates.size else 0.0
    if step_sizes is None:
        step_sizes = tuple(f / lam_max for f in (1e-1, 1e-2, 1e-3)) if lam_max > 0 else (1e-1, 1e-2, 1e-3)
    steps = [float(eta) for eta in step_sizes]
    if not steps or any(not np.isfinite(eta) or eta <= 0 for eta in steps) or steps != sorted(steps, reverse=True):
        raise ValueError(f"step_sizes must be positive, finite and decreasing, got {step_sizes!r}")
    horizon = _first_overlap_time(flow)
    flow_map = _activation_map(flow, horizon)
    final = max((t for t, _ in flow_map.values()), default=0.0)
    errors = {}
    for eta in steps:
        descent_map = _activation_map(simulate(problem, init, eta))
        if np.isfinite(horizon):
            descent_map = {j: v for j, v in descent_map.items() if j in flow_map}
        if set(descent_map) != set(flow_map) or any(descent_map[j][1] != flow_map[j][1] for j in flow_map):
            errors[eta] = np.inf
            continue
        errors[eta] = max((abs(descent_map[j][0] - flow_map[j][0]) for j in flow_map), default=0.0)
        bound = eta * lam_max * final * (len(flow_map) + 1)
        if not errors[eta] <= bound:
            return _verdict(statement, {"step_size": eta, "time_error": errors[eta], "bound": bound, "errors": errors})
    if not np.isfinite(errors[steps[-1]]):
        return _verdict(statement, {"step_size": steps[-1], "problem": "activations differ from gradient flow",
                                    "errors": errors})
    return _verdict(statement, None)
