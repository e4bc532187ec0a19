"""Logging and progress bars for every long piece of work: the grid, downloads, resamplings.

Modules log through the standard ``logging`` module (``logging.getLogger(__name__)``) and never
print; :func:`setup` (called by the command line) sends the ``benchmark`` loggers to stderr as plain
lines. Progress bars come from tqdm and are drawn only on an interactive terminal outside CI; there,
the log lines (which carry counts and an ETA themselves) are all that is written.
"""
from __future__ import annotations

import logging
import os
import sys

LOGGERS = ("benchmark", "models", "resampling")


class _TqdmHandler(logging.Handler):
    """Writes each record as one stderr line, above any progress bar being drawn."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            from tqdm import tqdm

            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:  # logging must never break a run
            self.handleError(record)


def setup(verbose: bool = False) -> None:
    """Plain ``message`` lines on stderr: INFO, or DEBUG (every validation check) with ``verbose``."""
    handler = _TqdmHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    for name in LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(logging.DEBUG if verbose else logging.INFO)


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
