"""Progress bars only on an interactive terminal outside CI; log lines always; TensorFlow's start-up noise
never."""
import io
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

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


# what TensorFlow 2.16+ prints at start-up on a machine without a GPU, and Keras' and absl's own notices
NOISE = ("absl::InitializeLog", "cudart_stub", "cuda drivers", "cuInit", "cuDNN", "cuFFT", "cuBLAS", "oneDNN",
         "cpu_feature_guard", "TF-TRT", "WARNING:absl")


@pytest.mark.slow  # the fast suite stays under its 5-minute budget
def test_the_cli_starts_without_tensorflows_start_up_noise():
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}  # as a user runs it
    done = subprocess.run([sys.executable, "run_benchmark.py", "data", "--help"], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[1], env={**env, "KERAS_BACKEND": "tensorflow"},
                          timeout=300)
    assert done.returncode == 0 and "usage: run_benchmark.py" in done.stdout
    assert [line for line in done.stderr.splitlines() if any(n in line for n in NOISE)] == []
    # main can only quieten what loads after it starts: importing the CLI must not load Keras or TensorFlow
    loaded = subprocess.run([sys.executable, "-c", "import sys, benchmark.cli; "
                             "print(sorted({'keras', 'tensorflow', 'jax'} & set(sys.modules)))"],
                            capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1], env=env,
                            timeout=120)
    assert loaded.stdout.strip() == "[]", loaded.stderr


def test_an_import_keeps_its_real_errors_and_loses_only_the_noise(tmp_path, monkeypatch, capfd):
    (tmp_path / "noisy_backend.py").write_text(
        "import os\n"
        "os.write(2, b'WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\\n')\n"
        "os.write(2, b'I0000 00:00:1796114876.067139   19872 cudart_stub.cc:31] Could not find cuda drivers\\n')\n"
        "os.write(2, b'E0000 00:00:1796114291.329457    3958 cuda_platform.cc:52] failed call to cuInit: 303\\n')\n"
        "os.write(2, b'E0000 00:00:1796114291.329457    3958 disk.cc:52] cannot read the kernel library\\n')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "noisy_backend", raising=False)
    logs.import_without_noise(("noisy_backend", "no_such_module_here"))
    assert "noisy_backend" in sys.modules
    assert capfd.readouterr().err == "E0000 00:00:1796114291.329457    3958 disk.cc:52] cannot read the kernel library\n"


def test_a_log_level_the_user_set_is_theirs(monkeypatch):
    monkeypatch.setattr(logging.getLogger("absl"), "level", logging.getLogger("absl").level)
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")
    assert logs.quiet_backend_logs() is False and os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0"
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL")
    assert logs.quiet_backend_logs() is True and os.environ["TF_CPP_MIN_LOG_LEVEL"] == "3"


def test_a_long_training_says_where_it_stands_and_a_short_one_stays_quiet(monkeypatch, caplog):
    from benchmark.config import TrainConfig
    from benchmark.estimators import base

    clock = iter(range(0, 10_000, 25))  # every perf_counter() call is 25 "seconds" after the last
    monkeypatch.setattr(base.time, "perf_counter", lambda: float(next(clock)))
    cfg = TrainConfig(steps=8, eval_every=2, patience=100)
    scores = iter([0.1, 0.3, 0.2, 0.4])

    def train(lines_after):
        monkeypatch.setattr(base, "PROGRESS_SECONDS", lines_after)
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="benchmark"):
            base.early_stopping_loop(1, cfg, lambda steps, active: [0.5], lambda active: [next(scores)],
                                     lambda improved: None)
        return [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]

    lines = train(60.0)
    # a check every 125 clock seconds (5 readings); the last step needs no line (the run's own line says it)
    assert lines == [f"    step {step}/8: best val macro F1 {best}, 62.50 s a step with its checks, at most {left} left"
                     for step, best, left in ((2, "0.100", "0:06:15"), (4, "0.300", "0:04:10"),
                                              (6, "0.300", "0:02:05"))]
    scores = iter([0.1, 0.3, 0.2, 0.4])
    assert train(1e9) == [], "a run shorter than PROGRESS_SECONDS writes no progress line"


def test_tensorflows_warning_about_our_deliberate_retracing_is_dropped_and_nothing_else(caplog):
    logs.setup()
    tf_logger = logging.getLogger("tensorflow")
    with caplog.at_level(logging.WARNING, logger="tensorflow"):
        tf_logger.warning("5 out of the last 5 calls to <function f at 0x1> triggered tf.function retracing. "
                          "Tracing is expensive")
        tf_logger.warning("a real TensorFlow warning")
    assert [r.getMessage() for r in caplog.records] == ["a real TensorFlow warning"]
