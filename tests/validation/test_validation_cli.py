"""Tests of ``jumpprocess validate`` (validation.cli), called through a parser built here."""

import argparse
import json

import numpy as np
import pytest

pytest.importorskip("torch")

from validation import VERDICTS
from validation.cli import EXIT_CODES, add_parser, build_instances, run


def _parse(argv):
    parser = argparse.ArgumentParser(prog="jumpprocess")
    add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["validate", *argv])


def test_validate_writes_the_report_and_figures(tmp_path, capsys):
    report_path = tmp_path / "report.json"
    figures = tmp_path / "figures"
    args = _parse(["-n", "6", "-m", "4", "--labels", "gaussian", "--seed", "1", "--batch-size", "2",
                   "--sigmas", "1e-2,1e-4,1e-8", "--json", str(report_path), "--figures", str(figures)])
    code = run(args)
    out = capsys.readouterr()
    data = json.loads(report_path.read_text())
    assert data["verdict"] in VERDICTS
    assert code == EXIT_CODES[data["verdict"]]
    assert data["sigmas"] == [1e-2, 1e-4, 1e-8]
    assert data["parameters"]["batch"] == 2 and data["parameters"]["n"] == 6
    assert f"verdict: {data['verdict']}" in out.out and "jump err" in out.out
    assert "runs finished" in out.err  # the progress bar (tqdm, on stderr)
    for name in ("loss.png", "jump_time_error.png", "neuron_norms.png"):
        content = (figures / name).read_bytes()
        assert content[:8] == b"\x89PNG\r\n\x1a\n" and len(content) > 10_000


def test_first_initialization_is_the_one_simulate_draws():
    from jumpprocess.cli import instance_from_args

    args = _parse(["-n", "5", "-m", "3", "--seed", "4", "--batch-size", "3", "--d", "9"])
    problem, inits, inputs = build_instances(args)
    _, first = instance_from_args(args)
    assert len(inits) == 3 and inputs.shape == (5, 9)
    np.testing.assert_array_equal(inits[0].preactivations, first.preactivations)
    assert not np.array_equal(inits[1].preactivations, inits[0].preactivations)
    near = build_instances(_parse(["-n", "5", "-m", "3", "--d", "400", "--nearly-orthogonal"]))
    assert near[2].shape == (5, 400) and near[1][0].input_weights is not None


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--sigmas", "0.5,0"], "outside"),
        (["--sigmas", "1e-200"], "too small for float64"),
        (["--sigmas", "1e-25", "--dtype", "float32"], "too small for float32"),
        (["--device", "tpu"], "unknown device"),
        (["--d", "2"], "--d must be"),
    ],
)
def test_bad_input_exits_2_with_a_message(argv, message, capsys):
    code = run(_parse(["-n", "4", "-m", "2", "--no-progress", *argv]))
    assert code == 2
    assert message in capsys.readouterr().err


def test_empty_sigma_list_is_refused(capsys):
    with pytest.raises(SystemExit):
        _parse(["-n", "4", "-m", "2", "--no-progress", "--sigmas", ","])
    err = capsys.readouterr().err
    assert "argument --sigmas" in err and "empty" in err


def test_unparseable_sigmas_are_a_usage_error():
    with pytest.raises(SystemExit):
        _parse(["--sigmas", "small"])


@pytest.mark.parametrize("argv", [["--max-steps", "100"], ["-m", "0"]])
def test_nothing_compared_exits_with_the_inconclusive_status(argv, capsys):
    code = run(_parse(["-n", "8", "-m", "4", "--no-progress", "--sigmas", "1e-2,1e-8", *argv]))
    out = capsys.readouterr().out
    assert "verdict: inconclusive" in out and "converging" not in out.splitlines()[2]
    assert code == EXIT_CODES["inconclusive"] == 4


def test_help_documents_every_exit_status(capsys):
    with pytest.raises(SystemExit):
        _parse(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    for phrase in ("0 converging", "1 mismatch", "2 bad input", "3 near-tie", "4 inconclusive"):
        assert phrase in text


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--max-steps", "0"], "--max-steps"),
        (["--near-tie-constant", "-1"], "--near-tie-constant"),
        (["--near-tie-constant", "nan"], "--near-tie-constant"),
        (["--loss-tolerance", "2"], "--loss-tolerance"),
        (["--sigmas", "1e-3,,1e-5"], "--sigmas"),
        (["--sigmas", "1e-3,1e-5,"], "--sigmas"),
        (["--sigmas", ","], "--sigmas"),
        (["--step-size", "0"], "--step-size"),
        (["--step-size", "-0.1"], "--step-size"),
        (["--batch-size", "0"], "--batch-size"),
    ],
)
def test_bad_validation_options_are_usage_errors_naming_the_option(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        _parse(["-n", "4", "-m", "2", "--no-progress", *argv])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_outputs_are_checked_before_training(tmp_path, capsys):
    (tmp_path / "a-file").write_text("")
    cases = [(["--json", str(tmp_path / "missing" / "r.json")], "--json", "does not exist"),
             (["--json", str(tmp_path)], "--json", "is a folder"),
             (["--figures", str(tmp_path / "a-file")], "--figures", "is a file, not a folder")]
    for argv, option, message in cases:
        assert run(_parse(["-n", "4", "-m", "2", "--no-progress", *argv])) == 2
        captured = capsys.readouterr()
        assert option in captured.err and message in captured.err and "verdict" not in captured.out


def test_memory_is_estimated_before_training(monkeypatch, capsys):
    from jumpprocess import cliargs

    monkeypatch.setattr(cliargs, "available_memory", lambda: 10**5)
    assert run(_parse(["-n", "40", "-m", "8", "--no-progress"])) == 2
    captured = capsys.readouterr()
    assert "needs about" in captured.err and "verdict" not in captured.out
