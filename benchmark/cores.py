"""The cores this process may use: a leaf module, so that the treatments (``resampling``) and the runners
(``benchmark.running``) read it without one importing the other."""
from __future__ import annotations

import os


def available_cores() -> int:
    """Cores this process may run on: its CPU affinity where the OS has one (Linux), else all (macOS)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)
