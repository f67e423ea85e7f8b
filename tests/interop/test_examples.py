"""The two worked examples, run small: a real PyTorch run imported, predicted and compared.

At a σ where the limit's jumps are resolved, the trained network's own fitted sets (who
carries each sample at the end, from its weights), their order (by logged half-fit step) and
the logged plateau losses equal the limit's in the user's units. With the finite-σ engine,
the half-fit steps agree to within one step at σ = 1e-3 and 1e-6.
"""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("matplotlib")

import jumpprocess as jp

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# (script, resolved σ, steps: about 1.4 × the last jump)
CASES = [("boursier2022_style", 1e-12, 300), ("dana2025_style", 1e-30, 900)]


@pytest.mark.parametrize("name, sigma, steps", CASES)
def test_fitted_sets_order_and_plateaus_equal_the_pytorch_runs(name, sigma, steps, tmp_path):
    module = _load(name)
    png = tmp_path / f"{name}.png"
    result, network_sets = module.run(sigma=sigma, steps=steps, finite=False, plot=str(png), verbose=False)
    limit_sets = [(int(k), sorted(f.tolist())) for k, f in zip(result.limit.neurons, result.limit.fitted)]
    assert len(limit_sets) >= 3
    assert [(j, sorted(f)) for j, f in network_sets] == limit_sets      # same neurons, sets and order
    assert result.agrees_with_limit, result.limit_verdict
    for row in result.jumps:                                             # plateaus in the user's loss
        assert abs(row.plateau_observed - row.plateau_limit) <= 1e-2 * result.details["initial_loss"]
    assert png.stat().st_size > 10_000


@pytest.mark.parametrize("sigma", [1e-3, 1e-6])
@pytest.mark.parametrize("name", [case[0] for case in CASES])
def test_half_fit_steps_agree_with_the_finite_sigma_engine_within_one_step(name, sigma):
    if not hasattr(jp, "simulate_finite"):
        pytest.skip("pending: jumpprocess.simulate_finite (the finite-σ engine) is not available yet")
    module = _load(name)
    result, _ = module.run(sigma=sigma, finite=True, verbose=False)
    both = np.isfinite(result.observed_half_fit) & np.isfinite(result.finite_half_fit)
    assert np.array_equal(np.isfinite(result.observed_half_fit), np.isfinite(result.finite_half_fit))
    assert np.max(np.abs(result.observed_half_fit[both] - result.finite_half_fit[both])) <= 1.0
    assert result.agrees_with_finite, result.finite_verdict
