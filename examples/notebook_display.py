"""What a notebook shows: the HTML tables of a trajectory, a batch of runs and a validation report.

In Jupyter, a cell whose value is a :class:`~jumpprocess.Trajectory`, a
:class:`~jumpprocess.BatchSummary` or a :class:`validation.ValidationReport` is shown by its
``_repr_html_()``: the jump table (τ, neuron, |fitted|, loss, ties), the batch statistics, the
per-σ error table. The same tables come as data from ``traj.jump_table()``,
``summary.statistics()`` and ``report.error_table()`` (``pandas.DataFrame(...)`` of any of them
makes a data frame). This script renders the HTML into one page, to look at without Jupyter:

    python examples/notebook_display.py [OUTPUT.html]

(the validation part needs torch: ``pip install -e ".[validation]"``; it is left out without it).
"""

import importlib.util
import sys
from pathlib import Path

from jumpprocess import make_instance, make_problem, simulate, simulate_many


def sections():
    """``(title, html)`` of each result, as a notebook cell would show it."""
    problem, init = make_instance(1000, 40, seed=0)  # = jumpprocess simulate --seed 0
    traj = simulate(problem, init)
    yield "simulate(*make_instance(1000, 40, seed=0))", traj._repr_html_()
    yield "simulate(problem, init, step_size=0.5)", simulate(problem, init, step_size=0.5)._repr_html_()
    summary = simulate_many(make_problem(1000, seed=0), 40, 2000, seed=1)
    yield "simulate_many(make_problem(1000, seed=0), 40, 2000, seed=1)", summary._repr_html_()
    if importlib.util.find_spec("torch") is not None:
        from validation import compare

        small, small_init = make_instance(6, 4, "gaussian", seed=3)
        report = compare(small, small_init, [1e-2, 1e-8, 1e-32], step_size=0.1, device="cpu", max_steps=5000)
        yield "validation.compare(*make_instance(6, 4, 'gaussian', seed=3), [1e-2, 1e-8, 1e-32], step_size=0.1)", \
            report._repr_html_()


def render(path) -> Path:
    """Write the page; returns its path."""
    body = "".join(f"<h3><code>{title}</code></h3>{html}<hr>" for title, html in sections())
    page = f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>jumpprocess in a notebook</title></head>' \
           f'<body style="font-family: sans-serif">{body}</body></html>'
    path = Path(path)
    path.write_text(page, encoding="utf-8")
    return path


if __name__ == "__main__":
    print(f"wrote {render(sys.argv[1] if len(sys.argv) > 1 else 'notebook_display.html')}")
