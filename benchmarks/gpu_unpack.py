"""Merge the pieces a GPU machine sent back (``benchmarks/gpu_full_grid.sh``) into a results folder here.

    python benchmarks/gpu_unpack.py FILES_DIR [FILES_DIR ...] [--results-dir results] [--no-report]

Each FILES_DIR holds one call's ``runs.tar.xz.part0``, ``part1``, ... (and its ``gpu_full_grid.log``). The
parts are joined and unpacked into a temporary folder, never straight into the results, and every grid
in them is merged into ``--results-dir`` by ``benchmark.running.merge``: the same grid, one run per cell,
no run replaced by other bytes, evaluations of the same beats joined, each piece's provenance kept. A
piece that would mix is refused with the reason, before anything of it is written. Then each merged grid's
report is rebuilt (``run_benchmark.py report``), and the call's log is copied beside its grid as
``gpu-logs/<name>.log``.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


class _Joined:
    """The parts, in order, read as one stream."""

    def __init__(self, parts: list[Path]):
        self.files = [p.open("rb") for p in parts]

    def read(self, n: int = -1) -> bytes:
        out = b""
        while self.files and (n < 0 or len(out) < n):
            chunk = self.files[0].read(-1 if n < 0 else n - len(out))
            if not chunk:
                self.files.pop(0).close()
                continue
            out += chunk
        return out


def parts_of(folder: Path) -> list[Path]:
    """``runs.tar.xz.part0``, ``part1``, ... of one call, in order; refused when one is missing."""
    stem = "runs.tar.xz.part"
    parts = {int(p.name[len(stem):]): p for p in folder.glob(stem + "*") if p.name[len(stem):].isdigit()}
    if not parts:
        raise SystemExit(f"{folder}: no {stem}* files (what benchmarks/gpu_full_grid.sh writes to its OUT)")
    if sorted(parts) != list(range(len(parts))):
        raise SystemExit(f"{folder}: parts {sorted(parts)} are not 0..{len(parts) - 1}: one is missing")
    return [parts[i] for i in range(len(parts))]


def unpack(folder: Path, into: Path) -> None:
    try:
        with tarfile.open(fileobj=_Joined(parts_of(folder)), mode="r|xz") as tar:
            tar.extractall(into, filter="data")
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise SystemExit(f"{folder}: the parts do not unpack ({exc}); fetch them again") from exc


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("folders", nargs="+", type=Path)
    p.add_argument("--results-dir", type=Path, default=ROOT / "results")
    p.add_argument("--no-report", action="store_true", help="merge only; rebuild the reports later")
    args = p.parse_args(argv)

    from benchmark.running.merge import merge_pieces
    from benchmark.store import StoreError

    merged = {}
    for folder in args.folders:
        with tempfile.TemporaryDirectory(prefix="gpu-piece-") as tmp:
            unpack(folder, Path(tmp))
            try:
                outcomes = merge_pieces(Path(tmp), args.results_dir)
            except StoreError as exc:
                print(f"error: {folder}: {exc}", file=sys.stderr)
                return 1
        for outcome in outcomes:
            print(f"{folder}: {outcome.summary()}")
            merged[outcome.grid] = outcome
            log = folder / "gpu_full_grid.log"
            if log.exists():
                logs = args.results_dir / outcome.grid / "gpu-logs"
                logs.mkdir(exist_ok=True)
                target, n = logs / f"{folder.name}.log", 1
                while target.exists() and target.read_bytes() != log.read_bytes():  # another call's log
                    n += 1
                    target = logs / f"{folder.name}-{n}.log"
                shutil.copy2(log, target)
    if args.no_report:
        return 0
    for grid in merged:
        split, name = grid.split("/")
        done = subprocess.run([sys.executable, str(ROOT / "run_benchmark.py"), "report", "--results-dir",
                               str(args.results_dir), "--split", split, "--grid", name], cwd=ROOT)
        if done.returncode:
            return done.returncode
    return 0


if __name__ == "__main__":
    sys.exit(main())
