"""Files that are never half-written: atomic writes, and arrays saved with their checksum.

A reader sees the old file or the whole new one; a checksummed array file that does not match its
checksum is treated as missing, never half-used."""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Callable, IO

import numpy as np

from benchmark.errors import DataError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: Path, write: Callable[[IO], None], binary: bool = False) -> None:
    """Call ``write(file)`` on a temporary file beside ``path``, then move it into place, readable as any file
    the user makes (0666 less the umask: mkstemp makes it 0600)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb" if binary else "w") as f:
            write(f)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, payload: dict) -> None:
    atomic_write(path, lambda f: f.write(json.dumps(payload, indent=1, sort_keys=True) + "\n"))


def write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda f: f.write(text))


def arrays_digest(arrays: dict[str, np.ndarray]) -> str:
    digest = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}:{a.dtype.str}:{a.shape}".encode())
        digest.update(a.data)
    return digest.hexdigest()


def save_arrays(path: Path, arrays: dict[str, np.ndarray], compressed: bool = False,
                what: str = "cache directory", advice: str = "--cache-dir or ECG_BENCH_CACHE") -> None:
    """Write arrays plus their checksum atomically; an unwritable directory is a clear error."""
    save = np.savez_compressed if compressed else np.savez
    try:
        atomic_write(path, lambda f: save(f, checksum=np.array(arrays_digest(arrays)), **arrays), binary=True)
    except OSError as exc:
        raise DataError(f"{path.parent}: {what} is not writable ({exc.strerror or exc}); choose another with "
                        f"{advice}") from exc


def load_arrays(path: Path) -> dict[str, np.ndarray] | None:
    """Load arrays saved by :func:`save_arrays`; ``None`` when missing or corrupt (never half-used)."""
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
        checksum = str(arrays.pop("checksum"))
    except Exception:
        return None
    return arrays if arrays_digest(arrays) == checksum else None
