"""``python -m theory.montecarlo --help`` explains every option."""

import argparse

import pytest

from theory import montecarlo


def test_every_montecarlo_option_has_a_help_text(monkeypatch):
    parsers = []
    real = argparse.ArgumentParser.parse_args

    def capture(self, *args, **kwargs):
        parsers.append(self)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", capture)
    with pytest.raises(SystemExit):
        montecarlo.main(["--help"])
    options = [action for action in parsers[0]._actions if action.option_strings and action.dest != "help"]
    assert {action.dest for action in options} >= {"ns", "ms", "trials", "ratio_ns", "ratio_trials", "seed"}
    for action in options:
        assert action.help and len(action.help) > 15, action.dest
