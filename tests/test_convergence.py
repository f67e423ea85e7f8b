"""Issue 2 acceptance: the engine is the σ → 0 limit of the real network's training.

For random small instances (Gaussian labels, random norms, all three inits) we train the
real network ``f(x) = Σ_j a_j relu(<w_j, x>)`` in float64 with
:mod:`jumpprocess.finite.reference` at σ ∈ {1e-8, 1e-32, 1e-128} and compare with
:func:`jumpprocess.simulate`:

* gradient flow (``simulate(..., step_size=None)``) against the oracle's RK4 integration
  of the flow with step ``h = 0.1 / Λ``. Why RK4 rather than plain gradient descent with a
  small step: a step ``h`` biases every growth rate by the factor ``ln(1 + hλ)/(hλ) ≈
  1 − hλ/2``, so staying well below the σ = 1e-128 error (``≈ 1/ln(1e128) ≈ 0.0034``
  relative) would need ``hλ ≲ 1e-3`` — about 10^6 steps. RK4's bias is ``≈ (hλ)^4/120``,
  below 1e-6 here (tests/test_reference.py checks it against the logistic closed form);
* gradient descent with η = 0.5 and η = 2 against ``simulate(..., step_size=η)``, whose
  rates are ``ln(1 + ηλ)/η`` (docs/math/race.rst, docs/math/convergence.rst).

Assertions, for every kept instance:

1. **Fitted sets, at every σ.** The engine's assignment (which neuron fits which sample,
   −1 for samples never fitted) equals the oracle's: a sample is fitted by the oracle if it
   was ever half-fitted (``|r_i| <= |y_i|/2``), by the neuron ``argmax_j |a_j relu(<w_j, x_i>)|``
   at the end of the run. Every σ is checked, including 1e-8, because instances with
   near-ties are excluded (rule below); a near-tie is the only way finite σ may legitimately
   resolve an activation differently from the limit (docs/math/convergence.rst).
2. **Jump times converge.** ``error(σ) = max_k |τ_k(engine) − median_{i∈F_k} τ_i(oracle)|``
   with ``τ_i(oracle) = k_i h / ln(1/σ)`` the half-fit time of sample ``i`` (docs/math/model.rst). We assert
   ``error(1e-128) < error(1e-8) / 3`` (issue 2), and that the error decreases at each σ
   step. Theory (docs/math/convergence.rst): ``error ≈ C / ln(1/σ)``, so the expected ratio is
   ``ln(1e8)/ln(1e128) = 1/16``; measured per-instance ratios are 0.053–0.073.
3. **The oracle ran to the engine's end state**: it converged (every engine-fitted sample
   within 1e-3 relative), no later fit appeared before ``1.1 ×`` the engine's last jump
   time, and the final loss equals the engine's final plateau loss (this also shows that
   η = 2 at these scales is a stable step). For the flow, the activated neurons' final
   output weights at σ = 1e-128 equal the engine's saddle values ``a_k`` (docs/math/saddles.rst) to 1e-4.

Instances. ``(n, m) ∈ {(4, 3), (5, 4), (6, 5)}`` (each init kind and each step meets each
shape once), ``d = n + 2``; ``y ~ N(0, I)``; norms
``Uniform(0.5, 2)`` rescaled so that the total rate ``Λ = ||y s||_2 / n`` is 1 (flow, η = 0.5)
or 0.25 (η = 2, so ``ηλ_j <= 0.5``; the stability of the saddles is rule (e) below; rescaling the norms by ``c`` only divides all times by ``c``, docs/math/model.rst).
The inputs are :func:`jumpprocess.finite.reference.coordinate_inputs` — signed, scaled, permuted
standard basis vectors in R^d — not a Haar-random frame: a frame orthogonal only to
rounding leaks ``~1e-16 |θ_j|`` into frozen coordinates, which at σ <= 1e-32 re-activates
dead coordinates and changes the fitted sets of the *real float64 network* (see
``coordinate_inputs`` and tests/test_reference.py). The initialization ``W̄`` is drawn in R^d
against those inputs (so it has a part orthogonal to the data), ``W̄ ~ N(0, I_d/d)``.

Selection rule, applied to the ENGINE's trajectory only (never to the oracle): seeds
``1000·c + k`` for configuration ``c`` and ``k = 0, 1, 2, …``; keep the first
:data:`INSTANCES` seeds whose trajectory has (a) at least two jumps, (b) no tie of any kind,
(c) no near-tie: on every plateau the runner-up neuron's candidate time
``τ_prev + (−e_j)/λ_j`` exceeds the winner's by at least 10 % (the 1e-8 errors are up to
≈ 10 % of the jump time; measured: every instance violating the agreement had a relative
margin below 2 %), and (d) a last jump before ``8 / Λ`` (a bound on the oracle's
step count, hence on the runtime), and (e) for gradient descent, stable saddles:
``η λ_max(K_F) <= 1.5`` for every fitted set, with the tangent-kernel block ``K_F`` of
docs/math/saddles.rst at the engine's saddle. Beyond ``η λ_max = 2`` the interpolator is not a stable
fixed point of gradient descent and the race of docs/math/race.rst does not describe it: e.g. seed
8006 of the gaussian/η = 2 configuration at Λ = 0.4 has ``η λ_max = 2.86``, and the real
network's gradient descent fits samples 1, 2, 4 at the engine's time and then loses
samples 1 and 2 (its neuron dies on them while oscillating) and never converges.

Runtime: one oracle call per configuration (instances × σ batched); about 15 s in all on a
2-core machine. Run ``python tests/test_convergence.py`` for the table of errors.
"""

from __future__ import annotations

import numpy as np
import pytest

from jumpprocess import OrthogonalProblem, sample_initialization, simulate
from jumpprocess.finite.reference import coordinate_inputs, gradient_descent, gradient_flow

SIGMAS = (1e-8, 1e-32, 1e-128)
#: (n samples, m neurons); the input dimension is d = n + 2
SHAPES = ((4, 3), (5, 4), (6, 5))
INSTANCES = 4
#: (init kind, step size or None for the flow, total rate Λ = ||y s|| / n)
STEPS = ((None, 1.0), (0.5, 1.0), (2.0, 0.25))
KINDS = ("balanced", "output-dominated", "gaussian")
#: (init kind, step, Λ, (n, m)): every init kind and every step meets every shape once
CONFIGS = [(kind, step, rate, SHAPES[(i + j) % len(SHAPES)])
           for i, kind in enumerate(KINDS) for j, (step, rate) in enumerate(STEPS)]
#: RK4 step for the flow, in units of 1/Λ
FLOW_STEP = 0.1
NEAR_TIE_RTOL = 0.1
#: largest accepted η·λ_max(K_F) at the engine's saddles (GD is unstable beyond 2)
MAX_SHARPNESS = 1.5
MAX_LAST_JUMP = 8.0
MARGIN_BEFORE_STOP = 1.1


def make_instance(seed: int, kind: str, rate: float, shape=(5, 4)):
    """Problem (with coordinate inputs in R^(n+2)) and unit-scale init of m neurons for one seed."""
    n, m = shape
    rng = np.random.default_rng(seed)
    labels = rng.standard_normal(n)
    norms = rng.uniform(0.5, 2.0, size=n)
    norms = norms * (rate * n / np.linalg.norm(labels * norms))
    problem = OrthogonalProblem.from_inputs(coordinate_inputs(norms, n + 2, rng), labels)
    init = sample_initialization(problem, m, kind, seed=rng)
    return problem, init


def relative_race_margin(trajectory) -> float:
    """Smallest relative gap, over plateaus, between the winner's and the runner-up's candidate times.

    Before jump ``k`` each inactive neuron with ``λ_j > 0`` would reach exponent 0 at
    ``τ_{k−1} + (0 − e_j)/λ_j`` (docs/math/race.rst), from the engine's ``exponents`` (after jump ``k−1``;
    −1 initially) and ``rates`` (in force before jump ``k``). ``inf`` if never two candidates.
    """
    exponents = -np.ones(trajectory.m)
    previous, margin = 0.0, np.inf
    for k in range(trajectory.num_jumps):
        rates = trajectory.rates[k]
        candidate = (exponents < 0) & (rates > 0)
        times = np.sort(previous + (-exponents[candidate]) / rates[candidate])
        if times.size >= 2:
            margin = min(margin, (times[1] - times[0]) / times[0])
        previous = trajectory.jump_times[k]
        exponents = trajectory.exponents[k]
    return margin


def largest_kernel_eigenvalue(trajectory) -> float:
    """``max_F λ_max(K_F)``, ``K_F = (y_F y_Fᵀ / a_k² + a_k² diag(s_F²)) / n`` at the engine's saddles (docs/math/saddles.rst).

    The Hessian of L at a saddle is this tangent-kernel block (on the fitted samples) plus
    the escape blocks ``±λ_j`` of the inactive neurons; gradient descent with step η can
    only settle there if ``η λ_max(K_F) < 2``.
    """
    labels, norms, n = trajectory.problem.labels, trajectory.problem.norms, trajectory.n
    largest = 0.0
    for event in trajectory.events:
        fitted = list(event.fitted)
        a2 = trajectory.output_weights[event.neuron] ** 2
        kernel = (np.outer(labels[fitted], labels[fitted]) / a2 + a2 * np.diag(norms[fitted] ** 2)) / n
        largest = max(largest, float(np.linalg.eigvalsh(kernel)[-1]))
    return largest


def keep(trajectory, rate: float) -> bool:
    """The selection rule of the module docstring (engine trajectory only)."""
    step = trajectory.step_size
    return (
        trajectory.num_jumps >= 2
        and not trajectory.ambiguous
        and all(not event.tied_with for event in trajectory.events)
        and relative_race_margin(trajectory) >= NEAR_TIE_RTOL
        and trajectory.final_time <= MAX_LAST_JUMP / rate
        and (step is None or step * largest_kernel_eigenvalue(trajectory) <= MAX_SHARPNESS)
    )


def select_instances(config_index: int, kind: str, step, rate: float, shape):
    chosen = []
    for k in range(200):
        seed = 1000 * config_index + k
        problem, init = make_instance(seed, kind, rate, shape)
        trajectory = simulate(problem, init, step)
        if keep(trajectory, rate):
            chosen.append((seed, problem, init, trajectory))
            if len(chosen) == INSTANCES:
                return chosen
    raise AssertionError(f"fewer than {INSTANCES} instances pass the selection rule for {kind}, step {step}")


def run_oracle(instances, step, rate):
    """One batched oracle call: every instance at every σ. Returns runs[instance][σ index]."""
    problems = [problem for _, problem, _, _ in instances for _ in SIGMAS]
    inits = [init for _, _, init, _ in instances for _ in SIGMAS]
    sigmas = [sigma for _ in instances for sigma in SIGMAS]
    targets = [trajectory.fitted_by >= 0 for _, _, _, trajectory in instances for _ in SIGMAS]
    not_before = [MARGIN_BEFORE_STOP * trajectory.final_time for _, _, _, trajectory in instances for _ in SIGMAS]
    options = dict(targets=targets, min_rescaled_time=not_before, max_steps=50_000)
    if step is None:
        runs = gradient_flow(problems, inits, sigmas, FLOW_STEP / rate, **options)
    else:
        runs = gradient_descent(problems, inits, sigmas, step, **options)
    return [runs[i * len(SIGMAS):(i + 1) * len(SIGMAS)] for i in range(len(instances))]


def jump_time_error(trajectory, run) -> float:
    """``max_k |τ_k − median_{i ∈ F_k} τ_i(oracle)|`` (inf if a jump's samples were never half-fitted)."""
    worst = 0.0
    for tau, fitted in zip(trajectory.jump_times, trajectory.fitted):
        oracle = run.half_fit_times[fitted]
        if np.any(np.isnan(oracle)):
            return np.inf
        worst = max(worst, abs(float(np.median(oracle)) - float(tau)))
    return worst


def measure(config_index: int):
    """Errors per instance and σ for one configuration: list of (seed, trajectory, runs, errors)."""
    kind, step, rate, shape = CONFIGS[config_index]
    instances = select_instances(config_index, kind, step, rate, shape)
    runs = run_oracle(instances, step, rate)
    return [
        (seed, trajectory, instance_runs, [jump_time_error(trajectory, run) for run in instance_runs])
        for (seed, _, _, trajectory), instance_runs in zip(instances, runs)
    ]


@pytest.mark.slow
@pytest.mark.parametrize("config_index", range(len(CONFIGS)),
                         ids=[f"{kind}-{'flow' if step is None else f'eta{step:g}'}-n{n}m{m}"
                              for kind, step, _, (n, m) in CONFIGS])
def test_engine_is_the_small_sigma_limit_of_the_real_network(config_index):
    for seed, trajectory, runs, errors in measure(config_index):
        where = f"seed {seed}"
        for sigma, run in zip(SIGMAS, runs):
            at = f"{where}, σ = {sigma:g}"
            assert run.converged, f"{at}: the oracle did not converge on the engine's fitted samples: {run.status}"
            np.testing.assert_array_equal(
                run.assignment, trajectory.fitted_by,
                err_msg=f"{at}: who-fits-what differs (oracle vs engine, −1 = never fitted)",
            )
            final_loss = trajectory.plateau_losses[-1]
            total = np.sum(trajectory.problem.labels**2) / (2 * trajectory.n)
            assert abs(run.final_loss - final_loss) <= 1e-3 * final_loss + 1e-5 * total, (
                f"{at}: oracle final loss {run.final_loss} vs engine plateau {final_loss}"
            )
        if trajectory.step_size is None:
            # gradient flow conserves a_j² − ||w_j||² ≈ 0, so the saddle values of docs/math/saddles.rst are the limit
            # (under gradient descent the split between a_k and w_k moves by O(η²) terms; not asserted)
            active = trajectory.neurons
            np.testing.assert_allclose(runs[-1].output_weights[active], trajectory.output_weights[active],
                                       rtol=1e-4, err_msg=f"{where}, σ = 1e-128: saddle output weights")
        small, middle, tiny = errors
        assert tiny < small / 3, f"{where}: jump-time errors {errors} do not shrink like 1/ln(1/σ)"
        assert tiny < middle < small, f"{where}: jump-time errors {errors} are not decreasing in σ"


def main() -> int:
    """Print the table of jump-time errors per configuration and σ."""
    import time

    print(f"{INSTANCES} instances per configuration, d = n + 2; error = max over instances and jumps of "
          "|τ_engine − median oracle half-fit time| (times scale like 1/Λ)")
    print(f"{'init':17s} {'step':>5s} {'n,m':>4s} {'Λ':>5s} " + " ".join(f"{f'σ={s:g}':>9s}" for s in SIGMAS)
          + f" {'ratio':>6s} {'agree':>6s} {'time':>6s}")
    for index, (kind, step, rate, (n, m)) in enumerate(CONFIGS):
        start = time.perf_counter()
        rows = measure(index)
        elapsed = time.perf_counter() - start
        errors = np.max([row[3] for row in rows], axis=0)
        agree = all(np.array_equal(run.assignment, row[1].fitted_by) for row in rows for run in row[2])
        label = "flow" if step is None else f"{step:g}"
        print(f"{kind:17s} {label:>5s} {n},{m:<2d} {rate:5.2f} " + " ".join(f"{e:9.4f}" for e in errors)
              + f" {errors[2] / errors[0]:6.3f} {str(agree):>6s} {elapsed:5.1f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
