"""The Monte Carlo studies under both tie rules (docs/math/ties.rst): ``ties="index"`` and ``"joint"``.

The expected values are computed here by direct loops over ``simulate``, with the trial
seeds derived as the studies document them (``trial_seeds`` of the cell's root seed).
"""

import math

import numpy as np
import pytest

import jumpprocess
from jumpprocess import make_problem, sample_initialization, simulate
from jumpprocess.scale.batch import trial_seeds
from theory import montecarlo


def _trajectories(n, m, trials, root, ties):
    problem = make_problem(n, "sign-balanced", seed=1)
    return [simulate(problem, sample_initialization(problem, m, "balanced", seed=int(s)), ties=ties)
            for s in trial_seeds(root, trials)]


@pytest.mark.parametrize("bad", ["Joint", "lowest", "", None, 1])
def test_an_unknown_tie_rule_is_a_value_error_naming_the_allowed_ones(bad):
    for study in (lambda: montecarlo.interpolation_study([6], [3], 2, ties=bad),
                  lambda: montecarlo.norm_ratio_study([6], 2, ties=bad)):
        with pytest.raises(ValueError, match="index.*joint"):
            study()


def test_defaults_are_joint_for_the_norm_ratio_and_index_for_interpolation(monkeypatch):
    seen = []

    def spy(problem, init, step_size=None, *, ties):
        seen.append(ties)
        return simulate(problem, init, step_size, ties=ties)

    monkeypatch.setattr(jumpprocess, "simulate", spy)
    montecarlo.norm_ratio_study([6], 3, seed=1)
    assert seen == ["joint"] * 3
    seen.clear()
    montecarlo.interpolation_study([6], [3], 3, seed=1)
    assert seen == ["index"] * 3


def test_interpolation_counts_do_not_depend_on_the_tie_rule():
    ns, ms, trials = [8, 12], [4, 10], 12
    # the grid must contain overlapping, non-identical ties, or the comparison says nothing
    tied = 0
    for n in ns:
        for m in ms:
            root = int(np.random.SeedSequence([1, n, m]).generate_state(1)[0])
            tied += sum(t.ambiguous for t in _trajectories(n, m, trials, root, "index"))
    assert tied >= 5
    index = montecarlo.interpolation_study(ns, ms, trials, seed=1, ties="index")
    joint = montecarlo.interpolation_study(ns, ms, trials, seed=1, ties="joint")
    assert [(r.n, r.m, r.interpolated) for r in index] == [(r.n, r.m, r.interpolated) for r in joint]


def test_norm_ratio_study_is_the_mean_over_interpolating_trials_of_the_chosen_rule():
    n, trials = 16, 14
    m = montecarlo.default_width(n)
    root = int(np.random.SeedSequence([1, n, m, 8]).generate_state(1)[0])
    expected = {}
    for ties in ("joint", "index"):
        runs = _trajectories(n, m, trials, root, ties)
        ratios = [t.norm_ratio for t in runs if t.interpolates]
        expected[ties] = (len(ratios), sum(ratios) / len(ratios))
        if ties == "joint":
            assert not any(t.ambiguous for t in runs)  # every tie resolved
        else:
            assert sum(t.ambiguous for t in runs) >= 3  # ties present, so the rules can differ
    assert expected["joint"][1] != pytest.approx(expected["index"][1], abs=1e-6)
    for ties, (count, mean) in expected.items():
        (row,) = montecarlo.norm_ratio_study([n], trials, seed=1, ties=ties)
        assert (row.n, row.m, row.trials, row.interpolated) == (n, m, trials, count)
        assert row.mean_ratio == pytest.approx(mean, rel=1e-12)
        assert math.isfinite(row.standard_error)


def test_the_command_line_takes_the_tie_rule(capsys):
    assert montecarlo.main(["--ns", "--ratio-ns", "8", "--ratio-trials", "3", "--ties", "index"]) == 0
    assert "ties='index'" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        montecarlo.main(["--ns", "--ratio-ns", "8", "--ratio-trials", "3", "--ties", "first"])
