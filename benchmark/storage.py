"""Atomic writes: a reader sees the old file or the whole new one, never a half-written file."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Callable, IO


def atomic_write(path: Path, write: Callable[[IO], None], binary: bool = False) -> None:
    """Call ``write(file)`` on a temporary file beside ``path``, then move it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb" if binary else "w") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, payload: dict) -> None:
    atomic_write(path, lambda f: f.write(json.dumps(payload, indent=1, sort_keys=True) + "\n"))


def write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda f: f.write(text))
