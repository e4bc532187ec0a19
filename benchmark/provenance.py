"""What produced a result: command, git commit, library versions, backend and machine."""
from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

PACKAGES = ("numpy", "scipy", "pandas", "scikit-learn", "imbalanced-learn", "wfdb", "keras", "tensorflow",
            "jax", "jaxlib", "jax-cuda12-plugin", "jax-cuda13-plugin", "torch")
REPO = Path(__file__).resolve().parent.parent


def git_commit() -> str:
    """HEAD commit of the project checkout, with '-dirty' when tracked files have changed.

    ``ECG_BENCH_COMMIT`` names the commit where git cannot: a copy of a checkout sent to another
    machine (a GPU host) may carry no ``.git``, or a stale one.
    """
    given = os.environ.get("ECG_BENCH_COMMIT")
    if given:
        return f"{given} (from ECG_BENCH_COMMIT)"

    def git(*args):
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10)
    try:
        head = git("rev-parse", "HEAD")
        if head.returncode != 0:
            return "unknown (not a git checkout)"
        dirty = git("status", "--porcelain", "--untracked-files=no", "--", ".", ":!results").stdout.strip()
        return head.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown (git not available)"


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return versions


def machine() -> dict:
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gib = None
    try:
        memory_gib = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        pass
    from benchmark.cores import available_cores

    cores = available_cores()
    return {"platform": platform.platform(), "cpu": cpu, "cores": cores, "memory_gib": memory_gib,
            "hostname": platform.node()}


def provenance(argv: list[str] | None = None) -> dict:
    import keras

    return {
        "command": " ".join(["python", *(argv if argv is not None else sys.argv)]),
        "commit": git_commit(),
        "versions": library_versions(),
        "keras_backend": keras.backend.backend(),
        "machine": machine(),
    }
