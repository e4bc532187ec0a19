"""Logging and progress bars for every long piece of work: the grid, downloads, resamplings.

Modules log through the standard ``logging`` module (``logging.getLogger(__name__)``) and never
print; :func:`setup` (called by the command line) sends the ``benchmark`` loggers to stderr as plain
lines. Progress bars come from tqdm and are drawn only on an interactive terminal outside CI; there,
the log lines (which carry counts and an ETA themselves) are all that is written.
"""
from __future__ import annotations

import importlib
import importlib.util
import logging
import os
import re
import sys
import tempfile

LOGGERS = ("benchmark", "models", "resampling")
# What TensorFlow's C++ libraries write to stderr as they load on a machine without a GPU, whatever
# TF_CPP_MIN_LOG_LEVEL says (absl logs before it is initialised): informational lines, not errors.
STARTUP_NOISE = re.compile(
    r"All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|^[IW]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [\w.]+:\d+\] "  # absl's INFO and WARNING lines
    r"|^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IW] "  # TensorFlow's own INFO and WARNING lines
    r"|Unable to register cu(DNN|FFT|BLAS) factory|failed call to cuInit|oneDNN custom operations are on"
    r"|^To enable the following instructions: .* rebuild TensorFlow")


def clock(seconds: float) -> str:
    """A duration as the progress lines write it: ``3725`` → ``1:02:05``."""
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


class _TqdmHandler(logging.Handler):
    """Writes each record as one stderr line, above any progress bar being drawn."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            from tqdm import tqdm

            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:  # logging must never break a run
            self.handleError(record)


class _NotOurRetracing(logging.Filter):
    """Drops TensorFlow's "triggered tf.function retracing" warning: ``predict_probabilities`` retraces
    on purpose (a fresh trace per call keeps a saved model's predictions bit-equal to its run's), so in
    a tune's hundreds of validation checks the warning is only noise. Every other TensorFlow line passes."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "triggered tf.function retracing" not in record.getMessage()


RETRACING_FILTER = _NotOurRetracing()


def setup(verbose: bool = False) -> None:
    """Plain ``message`` lines on stderr: INFO, or DEBUG (every validation check) with ``verbose``; without
    TensorFlow's warning about the retracing the benchmark does on purpose."""
    logging.getLogger("tensorflow").addFilter(RETRACING_FILTER)  # a set: adding it twice keeps one
    handler = _TqdmHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    for name in LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(logging.DEBUG if verbose else logging.INFO)


def quiet_backend_logs() -> bool:
    """TensorFlow's C++ logging (read once, when it loads) and absl's Python logger to errors only, so a
    CPU machine's cuInit errors stay off stderr; False, changing nothing, when the user set
    TF_CPP_MIN_LOG_LEVEL (their level is theirs)."""
    if "TF_CPP_MIN_LOG_LEVEL" in os.environ:
        return False
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    logging.getLogger("absl").setLevel(logging.ERROR)
    return True


def import_without_noise(modules: tuple[str, ...]) -> None:
    """Import ``modules`` (those installed and not yet imported), passing on every line they write to
    stderr but :data:`STARTUP_NOISE`, which TensorFlow writes as it loads whatever its log level."""
    todo = [m for m in modules if m not in sys.modules and importlib.util.find_spec(m) is not None]
    if not todo:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)  # the C++ libraries write to file descriptor 2, not to sys.stderr
        try:
            for name in todo:
                importlib.import_module(name)
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            lines = held.read().decode(errors="replace").splitlines(keepends=True)
            sys.stderr.write("".join(line for line in lines if not STARTUP_NOISE.search(line)))
            sys.stderr.flush()


def bars_enabled() -> bool:
    """Progress bars on an interactive terminal only, never under CI."""
    if os.environ.get("CI") or os.environ.get("ECG_BENCH_NO_PROGRESS"):
        return False
    return sys.stderr.isatty()


def progress(iterable=None, *, total: int | None = None, desc: str = "", unit: str = "it"):
    """A tqdm bar on stderr with elapsed time and ETA, or a silent stand-in where bars are off."""
    from tqdm import tqdm

    return tqdm(iterable, total=total, desc=desc, unit=unit, file=sys.stderr, dynamic_ncols=True,
                disable=not bars_enabled(), leave=False)
