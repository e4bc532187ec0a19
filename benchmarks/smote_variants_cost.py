"""What smote_variants samplers cost on the intra training part, measured on growing subsets and extrapolated.

    python benchmarks/smote_variants_cost.py [--data-dir DIR] [--sizes 2000 5000 10000 20000]
                                             [--timeout 45] [--budget 30] [--out FILE.md]

Each sampler runs through the harness (``resampling.treat("sv:NAME", ...)``, the package's default
multiclass strategy) on stratified subsets of the intra training part (78,796 beats), one size at a
time, each in a fresh process under ``timeout`` (so its peak memory is its own and nothing hangs). A
sampler stops growing when the next size is predicted to overrun its time budget or one run times out.
The growth exponent b is fitted to the sizes that took over 0.2 s (t ∝ n^b, least squares on logs) and
the time on 78,796 beats extrapolated from the largest size measured; peak memory likewise. The machine
is shared: the load average is recorded beside the figures. ``--out`` also writes the raw rows (.json); ``--from-json`` rewrites the table from them.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

FULL = 78_796  # beats in the intra training part
SAMPLERS = ("polynom_fit_SMOTE_star", "ProWSyn", "SMOTE_IPF", "Borderline_SMOTE1", "Safe_Level_SMOTE",
            "SMOTE_TomekLinks", "ADASYN", "Random_SMOTE", "SL_graph_SMOTE", "NRSBoundary_SMOTE")
MIN_TIMED_S = 0.5  # shorter runs are mostly fixed costs and noise: not used for the growth exponent
AFFORDABLE_S, SLOW_S = 15 * 60, 2 * 3600  # a cell's resampling under 15 min is affordable, under 2 h slow


def one(name: str, size: int, data_dir: str, cache_dir: str) -> dict:
    """Time one sampler on one subset (run in a child process)."""
    import resource

    from benchmark.data.splits import SPLIT_SEED, load_split, stratified_subset
    from resampling import treat
    from resampling.variants import known_oversamplers

    known_oversamplers()  # the package's import (seconds) is not the sampler's cost
    train = load_split("intra", data_dir, cache_dir=Path(cache_dir)).train
    part = train if size >= len(train) else stratified_subset(train, size, SPLIT_SEED)
    start = time.perf_counter()
    treated = treat(f"sv:{name}", part.x[..., None], part.y, seed=0)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "beats_in": len(part.y), "beats_out": len(treated.y),
            "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def measure(name: str, sizes, timeout: float, budget: float, data_dir: str, cache_dir: str) -> list[dict]:
    """Rows of one sampler, size by size; ``budget`` counts the sampler's own seconds (not the imports)."""
    rows, spent = [], 0.0
    for size in sizes:
        if rows and "seconds" in rows[-1]:
            last = rows[-1]
            b = max(exponent(rows) or 2.0, 1.0)
            predicted = last["seconds"] * (size / last["beats_in"]) ** b
            if spent + predicted > budget or predicted > timeout:
                rows.append({"size": size, "skipped": f"predicted {predicted:.0f} s"})
                break
        cmd = ["timeout", str(int(timeout)), sys.executable, __file__, "--one", name, str(size),
               "--data-dir", data_dir, "--cache-dir", cache_dir]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode == 124:
            rows.append({"size": size, "failed": f"timed out after {timeout:.0f} s"})
            break
        lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
        if done.returncode or not lines:
            reason = (done.stderr.strip().splitlines() or ["no output"])[-1]
            rows.append({"size": size, "failed": reason[:200]})
            break
        rows.append({"size": size, **json.loads(lines[-1])})
        spent += rows[-1]["seconds"]
        print(f"{name:24s} {rows[-1]['beats_in']:>7,} beats {rows[-1]['seconds']:8.2f} s", flush=True)
    return rows


def _local(rows, value) -> float | None:
    """The growth exponent between the two largest sizes: the small sizes are dominated by fixed costs, so a
    fit over all of them understates how a quadratic sampler grows."""
    import math

    if len(rows) < 2:
        return None
    a, b = rows[-2], rows[-1]
    return math.log(value(b) / value(a)) / math.log(b["beats_in"] / a["beats_in"])


def exponent(rows) -> float | None:
    return _local([r for r in rows if r.get("seconds", 0) > MIN_TIMED_S], lambda r: r["seconds"])


def memory(rows) -> float | None:
    """Peak MiB projected on the full part: the smallest size's peak (mostly the imports) plus what the
    largest size added to it, grown with the exponent between the two largest sizes (at least 1)."""
    timed = [r for r in rows if "peak_mib" in r]
    if len(timed) < 2:
        return None
    base = timed[0]["peak_mib"]
    grown = [r for r in timed[1:] if r["peak_mib"] > base + 20]
    if not grown:
        return timed[-1]["peak_mib"] + 0.0
    b = max(_local(grown, lambda r: r["peak_mib"] - base) or 1.0, 1.0)
    last = grown[-1]
    return base + (last["peak_mib"] - base) * (FULL / last["beats_in"]) ** b


def projection(rows) -> tuple[float | None, float | None]:
    timed = [r for r in rows if "seconds" in r]
    if not timed:
        return None, None
    b = exponent(rows)
    last = timed[-1]
    return b, last["seconds"] * (FULL / last["beats_in"]) ** (b if b is not None else 1.0)


def verdict(rows, projected, projected_mib, ram_mib) -> str:
    if projected is None:
        failed = next((r for r in rows if "failed" in r), None)
        if failed and "timed out" in failed["failed"]:
            return f"unaffordable: {failed['failed']} on {failed['size']:,} beats already"
        return "fails: " + (failed["failed"] if failed else "no run finished")
    if projected_mib is not None and projected_mib > ram_mib:
        return f"unaffordable: ~{projected_mib / 1024:,.0f} GiB of memory projected (this machine: {ram_mib / 1024:.0f})"
    words = "affordable" if projected <= AFFORDABLE_S else "slow" if projected <= SLOW_S else "unaffordable"
    if exponent(rows) is None:
        words += f" at best (one timing over {MIN_TIMED_S} s: b taken as 1, a lower bound)"
    failed = next((r["failed"] for r in rows if "failed" in r), None)
    return words + (f" ({failed} at the next size)" if failed else "")


def clock(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min" if seconds < 7200 \
        else f"{seconds / 3600:.1f} h"


def machine() -> str:
    model = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                  if ln.startswith("model name")), platform.processor())
    return f"{model}, {os.cpu_count()} CPU cores, {ram_mib() / 1024:.1f} GiB"


def ram_mib() -> float:
    line = next(ln for ln in Path("/proc/meminfo").read_text().splitlines() if ln.startswith("MemTotal"))
    return int(line.split()[1]) / 1024


def report(results: dict, sizes, args, minutes: float, loads, commit: str) -> str:
    from importlib.metadata import version

    head = ["sampler", *[f"{s:,} beats" for s in sizes], "exponent b", f"projected on {FULL:,}",
            "peak MiB (largest size)", "projected MiB", "verdict"]
    lines = [f"# smote_variants samplers on the intra training part ({FULL:,} beats)", "",
             f"Machine: {machine()} (shared with other work; load average {loads[0]:.2f} at the start, "
             f"{loads[1]:.2f} at the end). Commit {commit}; smote-variants {version('smote-variants')}, "
             f"numpy {version('numpy')}, scikit-learn {version('scikit-learn')}.",
             f"`python benchmarks/smote_variants_cost.py --sizes {' '.join(map(str, sizes))} --timeout "
             f"{args.timeout:.0f} --budget {args.budget:.0f}` "
             f"({minutes:.1f} min in all).", "",
             "Seconds of `resampling.treat(\"sv:NAME\", ...)` (the package's default multiclass strategy, "
             "every minority class raised to the majority's size) on stratified subsets, each in a fresh "
             f"process under a {args.timeout:.0f} s timeout; a sampler stops growing (skipped) when the next size "
             f"is predicted to overrun {args.budget:.0f} s of its own time in all. Exponent b: t ∝ n^b between "
             f"the two largest sizes over {MIN_TIMED_S} s (smaller ones are mostly fixed costs); projected: the "
             "largest size measured scaled by (78,796 / n)^b; its peak memory (the process's, imports "
             "included) grown likewise beyond the smallest size's. Verdict: affordable ≤ "
             f"{AFFORDABLE_S // 60} min for one cell's resampling, slow ≤ {SLOW_S // 3600} h, else "
             "unaffordable (also when its projected memory exceeds this machine's). Extrapolations from "
             "a few small sizes on a shared machine: a guide to which samplers fit, not a precise cost.", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, rows in results.items():
        by_size = {r["size"]: r for r in rows}
        cells = []
        for s in sizes:
            r = by_size.get(s)
            cells.append("—" if r is None else f"{r['seconds']:.2f}" if "seconds" in r else
                         "timeout" if "timed out" in r.get("failed", "") else
                         "failed" if "failed" in r else "skipped")
        b, projected = projection(rows)
        peak = next((r["peak_mib"] for r in reversed(rows) if "peak_mib" in r), None)
        mib = memory(rows)
        lines.append("| " + " | ".join([name, *cells, "—" if b is None else f"{b:.2f}",
                                        "—" if projected is None else clock(projected),
                                        "—" if peak is None else f"{peak:,.0f}", "—" if mib is None else f"{mib:,.0f}",
                                        verdict(rows, projected, mib, ram_mib())]) + " |")
    failures = [(n, r) for n, rows in results.items() for r in rows if "failed" in r and "timed out" not in r["failed"]]
    if failures:
        lines += ["", "Failures (the sampler's own reason, as its cell would record it):", ""]
        lines += [f"- {n} at {r['size']:,} beats: {r['failed']}" for n, r in failures]
    return "\n".join(lines) + "\n"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--one", nargs=2, metavar=("NAME", "SIZE"), help=argparse.SUPPRESS)
    p.add_argument("--samplers", nargs="+", default=list(SAMPLERS))
    p.add_argument("--sizes", nargs="+", type=int, default=[1_000, 2_000, 5_000, 10_000, 20_000])
    p.add_argument("--timeout", type=float, default=45, help="seconds one run may take")
    p.add_argument("--budget", type=float, default=30, help="seconds of a sampler's own runs in all")
    p.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data" / "mitdb"))
    p.add_argument("--cache-dir", default="/tmp/treat-cache")
    p.add_argument("--out", type=Path)
    p.add_argument("--from-json", type=Path, help="rewrite the table from the raw rows of an earlier run")
    args = p.parse_args()
    if args.from_json:
        saved = json.loads(args.from_json.read_text())
        vars(args).update(saved["meta"]["args"])
        m = saved["meta"]
        text = report(saved["results"], args.sizes, args, m["minutes"], m["loads"], m["commit"])
        head, _, rest = text.partition("\n\n| sampler")
        text = (f"{head}\n\nThe table computed from the raw rows (`{args.from_json.name}`) with "
                f"`--from-json` by the script as committed after {m['commit']}.\n\n| sampler{rest}")
        print(text)
        write(args.from_json.with_suffix(".md"), text)
        return
    if args.one:
        print(json.dumps(one(args.one[0], int(args.one[1]), args.data_dir, args.cache_dir)))
        return
    started, load_start = time.time(), os.getloadavg()[0]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=ROOT).stdout.strip()
    results = {n: measure(n, args.sizes, args.timeout, args.budget, args.data_dir, args.cache_dir)
               for n in args.samplers}
    meta = {"minutes": (time.time() - started) / 60, "loads": (load_start, os.getloadavg()[0]), "commit": commit,
            "args": {k: vars(args)[k] for k in ("sizes", "timeout", "budget")}}
    text = report(results, args.sizes, args, meta["minutes"], meta["loads"], commit)
    print(text)
    if args.out:
        write(args.out, text)
        write(args.out.with_suffix(".json"), json.dumps({"meta": meta, "results": results}, indent=1))


def write(path: Path, content: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(content)
    os.replace(tmp, path)


if __name__ == "__main__":
    main()
