"""Progress bars only on an interactive terminal outside CI; log lines always."""
import io
import logging
import sys

from benchmark import logs


def test_no_progress_bars_under_ci_or_off_a_terminal(monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr(sys, "stderr", Terminal())
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("ECG_BENCH_NO_PROGRESS", raising=False)
    assert logs.bars_enabled()
    assert not logs.progress(range(3), desc="x").disable
    monkeypatch.setenv("CI", "true")
    assert not logs.bars_enabled() and logs.progress(range(3), desc="x").disable
    monkeypatch.delenv("CI")
    monkeypatch.setattr(sys, "stderr", io.StringIO())  # not a terminal: a log file, a pipe
    assert not logs.bars_enabled()


def test_setup_writes_plain_lines_to_stderr_and_debug_only_when_verbose(monkeypatch, capsys):
    logs.setup(verbose=False)
    logging.getLogger("benchmark.anything").info("grid started")
    logging.getLogger("benchmark.anything").debug("a validation check")
    assert capsys.readouterr().err == "grid started\n"
    logs.setup(verbose=True)
    logging.getLogger("benchmark.anything").debug("a validation check")
    assert capsys.readouterr().err == "a validation check\n"
    logs.setup(verbose=False)
