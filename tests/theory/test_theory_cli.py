"""The ``jumpprocess theory`` subcommand: values printed are those of :mod:`theory.probability`."""

from __future__ import annotations

import argparse
import json
import math
import re

import pytest

from theory import cli, probability


def _parse(argv):
    parser = argparse.ArgumentParser(prog="jumpprocess")
    cli.add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


def _run(argv, capsys):
    args = _parse(argv)
    assert args.func is cli.run
    code = cli.run(args)
    return code, capsys.readouterr().out


def test_json_output_carries_the_theory_values(capsys):
    code, out = _run(["theory", "-n", "100", "-m", "20", "--delta", "0.01", "--trials", "20", "--json"], capsys)
    assert code == 0
    data = json.loads(out)
    exact = probability.interpolation_probability(20, 50, 50)
    assert data["probability"] == float(exact)
    assert data["probability_exact"] == f"{exact.numerator}/{exact.denominator}"
    assert data["min_width"] == probability.min_width(50, 50, 0.01)
    assert data["union_bound_width"] == math.ceil(math.log(100 / 0.01) / math.log(4 / 3))
    assert data["asymptotic_width"] == pytest.approx(2 * math.log2(100))
    assert data["failure_probability"] == pytest.approx(float(1 - exact), rel=1e-12)
    assert data["union_bound_failure"] == pytest.approx(100 * 0.75**20)
    ratio = data["norm_ratio"]
    assert ratio["trials"] == 20 and 0 < ratio["interpolated"] <= 20
    assert ratio["mean"] >= 1.0  # learned norm is never below the minimal one (docs/math/implicit-bias.rst)


def test_text_output_for_huge_n_uses_log_space_and_skips_the_monte_carlo(capsys):
    code, out = _run(["theory", "-n", "1000000000", "-m", "100", "--delta", "1e-6"], capsys)
    assert code == 0
    assert "log-space float64" in out
    assert re.search(r"minimal width m\*\(δ=1e-06\)\s+120\b", out)
    assert re.search(r"union-bound width\s+121\b", out)
    assert "not estimated" in out
    expected = math.exp(probability.log_interpolation_probability(100, 500_000_000, 500_000_000))
    printed = float(re.search(r"P\(interpolation\)\s+([0-9.eE+-]+)", out).group(1))
    assert printed == pytest.approx(expected, rel=1e-11)


def test_text_output_for_small_n_prints_the_exact_fraction(capsys):
    code, out = _run(["theory", "-n", "4", "-m", "2", "--n-pos", "1", "--trials", "0"], capsys)
    assert code == 0
    exact = probability.interpolation_probability(2, 1, 3)
    assert f"{exact.numerator}/{exact.denominator}" in out
    assert "--trials 0" in out


@pytest.mark.parametrize("kwargs,match", [
    (dict(n=0, m=3), "n must be an integer >= 1"),
    (dict(n=10, m=-1), "m .* non-negative integer"),
    (dict(n=10, m=3, delta=1.0), r"delta .* \(0, 1\)"),
    (dict(n=10, m=3, delta=0.0), r"delta .* \(0, 1\)"),
    (dict(n=10, m=3, n_pos=11), "n_pos"),
    (dict(n=10, m=3, trials=-2), "trials"),
])
def test_bad_input_raises_a_clear_value_error(kwargs, match):
    kwargs.setdefault("delta", 0.01)
    with pytest.raises(ValueError, match=match):
        cli.theory_summary(**kwargs)
    if "n_pos" in kwargs:  # what the parser cannot check alone: n_pos against n
        argv = ["theory", "-n", "10", "-m", "3", "--n-pos", "11"]
        with pytest.raises(ValueError, match="n_pos"):
            cli.run(_parse(argv))


def test_non_integer_width_is_rejected_by_the_parser():
    with pytest.raises(SystemExit):
        _parse(["theory", "-n", "10", "-m", "3.5"])


def test_the_jumpprocess_entry_point_reports_bad_input_with_exit_code_2(capsys):
    from jumpprocess.cli import main

    assert main(["theory", "-n", "10", "-m", "3", "--delta", "2"]) == 2
    assert "delta" in capsys.readouterr().err
    assert main(["theory", "-n", "10", "-m", "3", "--trials", "0"]) == 0


def test_package_exports_resolve_and_the_cli_does_not_import_sympy():
    import subprocess
    import sys

    import theory

    for name in theory.__all__:
        assert callable(getattr(theory, name)), name
    code = "import sys, theory.cli; print('sympy' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"  # every `jumpprocess` command loads theory.cli


def test_large_exact_probability_prints_without_huge_integer_strings(capsys):
    """n = 1000, m = 40: the exact rational has ~ thousands of digits (a crash once)."""
    from jumpprocess.cli import main

    import math
    import re

    from theory.probability import log_interpolation_probability

    assert main(["theory", "-n", "1000", "-m", "40", "--trials", "0"]) == 0
    out = capsys.readouterr().out
    printed = float(re.search(r"P\(interpolation\)\s+([0-9.]+)", out).group(1))
    # the exact rational's digits agree with the independent log-space evaluation
    assert printed == pytest.approx(math.exp(log_interpolation_probability(40, 500, 500)), rel=1e-12)


@pytest.mark.parametrize("m", [0, 1])
def test_certain_failure_prints_a_clean_zero_log(m, capsys):
    code, out = _run(["theory", "-n", "10", "-m", str(m), "--trials", "0"], capsys)
    assert code == 0 and "(ln = 0)" in out and "-0" not in out
    code, out = _run(["theory", "-n", "10", "-m", str(m), "--trials", "0", "--json"], capsys)
    data = json.loads(out)  # P(interpolation) = 0: ln P = -inf is written as null (strict JSON)
    assert math.copysign(1.0, data["log_failure_probability"]) == 1.0 and data["log_probability"] is None


def test_union_bound_is_shown_as_a_bound_never_a_probability_above_one(capsys):
    code, out = _run(["theory", "-n", "100", "-m", "5", "--trials", "0"], capsys)
    line = next(line for line in out.splitlines() if line.startswith("union bound"))
    value = 100 * 0.75**5  # 23.73: the bound is vacuous
    assert f"{value:.6g}" in line and "vacuous" in line and "P(failure) <= 1" in line
    code, out = _run(["theory", "-n", "100", "-m", "5", "--trials", "0", "--json"], capsys)
    data = json.loads(out)
    assert data["union_bound_failure"] == 1.0 and data["union_bound"] == pytest.approx(value)
    code, out = _run(["theory", "-n", "100", "-m", "40", "--trials", "0", "--json"], capsys)
    data = json.loads(out)
    assert data["union_bound_failure"] == data["union_bound"] == pytest.approx(100 * 0.75**40)


@pytest.mark.parametrize("argv, option", [(["-n", "0", "-m", "3"], "-n/--n"), (["-n", "5", "-m", "-1"], "-m/--m"),
                                          (["-n", "5", "-m", "3", "--n-pos", "-1"], "--n-pos"),
                                          (["-n", "5", "-m", "3", "--delta", "0"], "--delta"),
                                          (["-n", "5", "-m", "3", "--trials", "-2"], "--trials"),
                                          (["-n", "5", "-m", "3", "--seed", "-1"], "--seed")])
def test_bad_values_are_usage_errors_naming_the_option(argv, option, capsys):
    with pytest.raises(SystemExit) as exit_info:
        _parse(["theory", *argv])
    assert exit_info.value.code == 2 and f"argument {option}: expected" in capsys.readouterr().err
