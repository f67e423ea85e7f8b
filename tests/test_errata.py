"""Counter-examples to earlier statements of the mathematics (docs/math/errata.rst).

An earlier statement said: "With continuous labels or norms ties have probability 0". That is false for
finite n and m: two neurons with the *same good set* have identical rates, hence identical
jump times, whatever the labels. With one sample and two balanced neurons, each neuron's
good set is {0} with probability 1/4 (fair sign matching y, Ū > 0 with probability 1/2),
so an exact overlapping tie has probability 1/16. (The function, loss and norm after such a
tie are still determined; which neuron owns which share of F is not.)
"""

import numpy as np

from jumpprocess import OrthogonalProblem, sample_initialization, simulate


def test_continuous_labels_give_exact_ties_with_positive_probability():
    rng = np.random.default_rng(0)
    trials, ties = 4000, 0
    for trial in range(trials):
        problem = OrthogonalProblem([rng.standard_normal()], [rng.uniform(0.5, 2.0)])  # continuous
        traj = simulate(problem, sample_initialization(problem, 2, "balanced", seed=trial))
        if traj.num_jumps and traj.events[0].tied_with:
            # identical good sets {0}: the function is determined, only the neuron is not
            assert traj.events[0].overlapping and traj.identical_ties and not traj.ambiguous
            ties += 1
    frequency = ties / trials
    standard_error = np.sqrt(0.0625 * 0.9375 / trials)
    assert abs(frequency - 1 / 16) < 4 * standard_error  # exact value 1/16, not 0
