"""Beat-set build time: cold (from the raw records) against cached, measured side by side.

    python benchmarks/data_build.py [--data-dir DIR] [--repeats 3]

Targets (issue #2): a cold build under 30 s and a cached load under 2 s on 2 CPU cores.
"""
import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmark.data.splits import load_split  # noqa: E402
from benchmark.provenance import machine  # noqa: E402


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default=os.environ.get("MITDB_DIR", "../shared/data/mitdb"))
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    cold, cached = [], []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as cache:
            t, split = timed(lambda: load_split("intra", args.data_dir, cache_dir=Path(cache)))
            cold.append(t)
            t, _ = timed(lambda: load_split("intra", args.data_dir, cache_dir=Path(cache)))
            cached.append(t)
    n = len(split.train) + len(split.val) + len(split.test)
    m = machine()
    print(f"machine: {m['cpu']}, {m['cores']} cores")
    print(f"beats: {n} from {split.source}")
    print(f"{'':28}{'median s':>10}{'min s':>10}{'target s':>10}")
    print(f"{'cold build (raw records)':28}{statistics.median(cold):10.2f}{min(cold):10.2f}{30:10}")
    print(f"{'cached load':28}{statistics.median(cached):10.2f}{min(cached):10.2f}{2:10}")
    print(f"cached load is {statistics.median(cold) / statistics.median(cached):.1f}x faster than a cold build")


if __name__ == "__main__":
    main()
