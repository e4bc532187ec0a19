"""The full grid on one GPU: wall time, step times with and without packing, GPU use, projections.

    KERAS_BACKEND=jax python benchmarks/gpu_grid.py --data-dir DIR --out DIR [--split intra]
        [--grid-timeout 420] [--micro-budget 120]

1. Runs ``run_benchmark.py --grid full`` on one split, as a user would (the packed executor, its
   defaults), sampling GPU utilisation and memory with nvidia-smi once a second; the grid's log, its
   run store and the report land under ``--results-dir``.
2. Reads the step times of every pack from its runs (the first chunk of a pack holds its compilation,
   so the steady step time is the median of the others).
3. Micro-benchmark, each pack size in the same process one after another, while ``--micro-budget``
   seconds last: ms per step of one run alone (pack of 1) and of a pack of 25, per model, with
   deterministic kernels and without (their cost), and whether a repeat with the same seed gives the
   same bits.
4. Projects both splits from what was measured.

The target (issue #11): the full grid, 100 runs with resampling, in at most 10 minutes on one split.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MODELS = ("resnet", "cnn", "lstm", "mlp")  # the micro-benchmark's order: the costliest first


class GpuSampler(threading.Thread):
    """nvidia-smi's utilisation (%) and memory used (MiB), once a second, until stopped."""

    def __init__(self):
        super().__init__(daemon=True)
        self.samples: list[tuple[float, float, float]] = []
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            try:
                out = subprocess.run(["nvidia-smi", "--query-gpu=utilization.gpu,memory.used",
                                      "--format=csv,noheader,nounits"], capture_output=True, text=True, timeout=5)
                util, mem = (float(v) for v in out.stdout.strip().splitlines()[0].split(","))
                self.samples.append((time.time(), util, mem))
            except (OSError, ValueError, IndexError, subprocess.SubprocessError):
                pass
            self.stop.wait(1.0)

    def summary(self, start: float, end: float) -> dict:
        window = [s for s in self.samples if start <= s[0] <= end]
        if not window:
            return {"samples": 0}
        utils = [s[1] for s in window]
        return {"samples": len(window), "util_mean_pct": round(statistics.mean(utils), 1),
                "util_median_pct": statistics.median(utils), "busy_share": round(sum(u > 0 for u in utils) / len(utils), 2),
                "memory_peak_mib": max(s[2] for s in window)}


def gpu_name() -> str:
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20)
        return out.stdout.strip() or "no GPU seen by nvidia-smi"
    except (OSError, subprocess.SubprocessError):
        return "no nvidia-smi"


def run_grid(args, log_path: Path, sampler: GpuSampler) -> dict:
    cmd = [sys.executable, "run_benchmark.py", "--grid", "full", "--split", args.split, "--data-dir", args.data_dir,
           "--cache-dir", args.cache_dir, "--results-dir", args.results_dir, *args.grid_args]
    print("$ " + " ".join(cmd), flush=True)
    start = time.time()
    with open(log_path, "w") as log:
        # its own process group: a timeout stops the pack and resampling workers too, which would
        # otherwise hold the GPU while the micro-benchmarks run
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            rc = proc.wait(timeout=args.grid_timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            rc = "timed out"
    end = time.time()
    return {"command": " ".join(cmd[1:]), "returncode": rc, "wall_seconds": round(end - start, 1),
            "gpu": sampler.summary(start, end), "phases": phases(log_path, start)}


def phases(log_path: Path, start: float) -> list[str]:
    """The grid log's lines that mark its phases."""
    keep = ("built", "resampl", "packs", "[pack", "grid finished", "wrote", "FAILED", "error")
    return [line.rstrip() for line in log_path.read_text(errors="replace").splitlines()
            if any(k in line for k in keep) and not line.startswith("  ")][:60]


def pack_step_times(results_dir: Path, split: str) -> dict:
    """Per model: runs done, steady ms per pack step, ms per run-step, compile s, pack train s, steps."""
    packs: dict[str, list[dict]] = {}
    for path in sorted((results_dir / split).glob("*/runs/*/metrics.json")):
        m = json.loads(path.read_text())
        if "packing" not in m:
            continue
        packs.setdefault(m["model"], []).append(m)
    out = {}
    for model, runs in sorted(packs.items()):
        p = runs[0]["packing"]
        chunks = p["chunk_seconds"]
        steady = statistics.median(chunks[1:]) if len(chunks) > 1 else chunks[0]
        out[model] = {"runs": len(runs), "pack_size": p["runs"], "ms_per_pack_step": round(1000 * steady / p["chunk_steps"], 2),
                      "ms_per_run_step": round(1000 * steady / p["chunk_steps"] / p["runs"], 3),
                      "compile_seconds": round(chunks[0] - steady, 1), "pack_train_seconds": round(p["pack_seconds"]["train"], 1),
                      "pack_validation_seconds": round(p["pack_seconds"]["validation"], 1),
                      "steps_trained_max": max(r["steps_trained"] for r in runs),
                      "steps_trained_median": statistics.median(r["steps_trained"] for r in runs)}
    return out


def micro(models: list[str], sizes: list[int], steps: int, budget: float, repeat_model: str | None) -> dict:
    """In this process (its XLA flags fixed at start): ms per step of packs of each size, per model."""
    import numpy as np

    from benchmark.running.compute import describe_device
    from benchmark.config import TrainConfig
    from benchmark.running.packed import PackMember, train_pack

    rng = np.random.default_rng(0)
    x = rng.standard_normal((100_000, 187, 1), dtype=np.float32)
    y = rng.integers(0, 5, len(x)).astype(np.int8)
    vx, vy = x[:4096], y[:4096]
    cfg = TrainConfig(steps=2 * steps, eval_every=steps, patience=10)
    deadline = time.time() + budget
    out: dict = {"device": describe_device(), "xla_flags": os.environ.get("XLA_FLAGS", ""), "ms_per_step": {}}
    if repeat_model:  # the same pack twice from the same seeds: the same bits?
        try:
            runs = [train_pack(repeat_model, [PackMember(i, x, y) for i in range(5)], vx, vy, vx, vy, cfg)
                    for _ in range(2)]
            same = all(np.array_equal(a["test_predictions"], b["test_predictions"]) and a["history"] == b["history"]
                       for a, b in zip(*runs))
            out["repeat"] = {"model": repeat_model, "pack": 5, "steps": 2 * steps, "identical": same,
                             "losses": [[h["train_loss"] for h in r[0]["history"]] for r in runs]}
        except Exception as exc:  # noqa: BLE001  (recorded; the step times still get measured)
            out["repeat"] = {"model": repeat_model, "error": f"{type(exc).__name__}: {str(exc)[:400]}"}
        print(f"  repeat {out['repeat']}", flush=True)
    for model in models:
        for k in sizes:
            if time.time() > deadline:
                out["stopped"] = f"budget of {budget:.0f} s spent before {model} × {k}"
                return out
            try:
                result = train_pack(model, [PackMember(i, x, y) for i in range(k)], vx, vy, vx, vy, cfg)[0]
            except Exception as exc:  # noqa: BLE001  (recorded; the next configuration still runs)
                out["ms_per_step"][f"{model} x{k}"] = {"error": f"{type(exc).__name__}: {str(exc)[:400]}"}
                print(f"  {model} × {k}: {out['ms_per_step'][f'{model} x{k}']}", flush=True)
                continue
            chunks = result["packing"]["chunk_seconds"]
            out["ms_per_step"][f"{model} x{k}"] = {"pack": round(1000 * chunks[1] / steps, 3),
                                                  "per_run": round(1000 * chunks[1] / steps / k, 3),
                                                  "compile_s": round(chunks[0] - chunks[1], 1)}
            print(f"  {model} × {k}: {out['ms_per_step'][f'{model} x{k}']}", flush=True)
    return out


def projection(report: dict, steps: int = 10_000) -> dict | None:
    """Training time of the full grid on one split, packs one after another, from measured step times.

    Packs of 25 from the micro-benchmarks (deterministic and not), the mlp's from the grid when the
    micro-benchmarks skipped it; resampling as measured by the grid. An upper bound on training: early
    stopping ends packs sooner.
    """
    packs = report.get("packs", {})
    out = {}
    for name in ("micro_deterministic", "micro_nondeterministic"):
        measured = report.get(name, {}).get("ms_per_step", {})
        ms = {}
        for model in MODELS:
            entry = measured.get(f"{model} x25", {})
            if "pack" in entry:
                ms[model] = entry["pack"]
            elif model in packs:
                ms[model] = packs[model]["ms_per_pack_step"]
        if set(ms) == set(MODELS):
            out[name.split("_", 1)[1]] = {"training_seconds": round(steps * sum(ms.values()) / 1000, 1),
                                          "ms_per_pack_step": ms}
    if not out:
        return None
    resampling = next((float(line.split()[2]) for line in report.get("grid", {}).get("phases", [])
                       if line.startswith("resampled in")), None)
    out["resampling_seconds"] = resampling
    return out


def run_micro(args, deterministic: bool, budget: float, models: list[str], sizes: str, repeat: bool) -> dict:
    env = {**os.environ, "XLA_PYTHON_CLIENT_PREALLOCATE": "false", "JAX_COMPILATION_CACHE_DIR": str(Path(args.cache_dir) / "jax-compilation"),
           "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0"}  # the repeat reuses its first compilation
    flags = env.get("XLA_FLAGS", "").replace("--xla_gpu_deterministic_ops=true", "").strip()
    env["XLA_FLAGS"] = f"{flags} --xla_gpu_deterministic_ops=true".strip() if deterministic else flags
    cmd = [sys.executable, __file__, "--micro", "--micro-budget", str(budget), "--sizes", sizes,
           "--micro-steps", str(args.micro_steps), "--micro-models", *models]
    cmd += ["--repeat-model", models[0] if "cnn" not in models else "cnn"] if repeat else []
    print(f"$ XLA_FLAGS='{env['XLA_FLAGS']}' " + " ".join(cmd[1:]), flush=True)
    try:
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=budget + 30)
    except subprocess.TimeoutExpired as exc:  # keep what it measured before it was stopped
        partial = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        sys.stdout.write(partial)
        return {"error": f"stopped after {budget + 30:.0f} s", "measured": partial.splitlines()}
    sys.stdout.write(proc.stdout)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("MICRO ")]
    if proc.returncode != 0 or not lines:
        return {"error": proc.stderr[-2000:]}
    return json.loads(lines[-1][len("MICRO "):])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default=os.environ.get("MITDB_DIR", "../shared/data/mitdb"))
    p.add_argument("--split", default="intra")
    p.add_argument("--results-dir", default="results-gpu")
    p.add_argument("--cache-dir", default=str(Path.home() / ".cache" / "ecg-oversampling-bench"))
    p.add_argument("--out", default="benchmarks/output")
    p.add_argument("--grid-timeout", type=float, default=3600)
    p.add_argument("--micro-budget", type=float, default=120, help="seconds for the micro-benchmarks (0: skip)")
    p.add_argument("--micro-steps", type=int, default=100)
    p.add_argument("--micro-models", nargs="+", default=list(MODELS), choices=MODELS)
    p.add_argument("--deadline", type=float, help="Unix time by which everything must be done: the "
                                                   "micro-benchmarks get what the grid leaves of it")
    p.add_argument("--skip-grid", action="store_true")
    p.add_argument("--grid-args", nargs=argparse.REMAINDER, default=[], help="passed on to run_benchmark.py")
    # internal: one micro-benchmark process
    p.add_argument("--micro", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--sizes", default="1,25", help=argparse.SUPPRESS)
    p.add_argument("--repeat-model", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.micro:
        os.environ.setdefault("KERAS_BACKEND", "jax")
        out = micro(args.micro_models, [int(s) for s in args.sizes.split(",")], args.micro_steps, args.micro_budget,
                    args.repeat_model)
        print("MICRO " + json.dumps(out), flush=True)
        return

    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    from benchmark.provenance import git_commit, library_versions, machine

    report: dict = {"gpu": gpu_name(), "machine": machine(), "commit": git_commit(), "versions": library_versions(),
                    "keras_backend": os.environ.get("KERAS_BACKEND", "(keras.json)"), "split": args.split}
    print(json.dumps(report, indent=1), flush=True)
    sampler = GpuSampler()
    sampler.start()
    if not args.skip_grid:
        report["grid"] = run_grid(args, out_dir / "grid.log", sampler)
        report["packs"] = pack_step_times(Path(args.results_dir), args.split)
        print(json.dumps({k: report[k] for k in ("grid", "packs")}, indent=1), flush=True)
    if args.deadline:
        args.micro_budget = min(args.micro_budget, args.deadline - time.time() - 40)
        print(f"micro-benchmark budget: {args.micro_budget:.0f} s", flush=True)
    if args.micro_budget > 20:
        # deterministic (the default): a repeat, then each model in a pack of 25 and alone; without:
        # the packs of 25 again, for the cost of determinism
        report["micro_nondeterministic"] = run_micro(args, False, 0.35 * args.micro_budget,
                                                     [m for m in args.micro_models if m != "mlp"] or args.micro_models,
                                                     "25", repeat=False)
        report["micro_deterministic"] = run_micro(args, True, 0.65 * args.micro_budget, args.micro_models,
                                                  "25,1", repeat=True)
    sampler.stop.set()
    report["projection_from_step_times"] = projection(report)
    grid = report.get("grid")
    if grid and grid["returncode"] == 0:
        report["projection"] = {
            "this_split_minutes": round(grid["wall_seconds"] / 60, 1),
            "both_splits_minutes": round(2 * grid["wall_seconds"] / 60, 1),
            "note": "training is a fixed number of steps whatever the split's size, so the other split is "
                    "projected at the same wall time; its resampling is smaller (DS1 has fewer beats)"}
    (out_dir / "gpu_grid.json").write_text(json.dumps(report, indent=1))
    print(json.dumps({k: v for k, v in report.items() if k.startswith(("micro", "projection"))}, indent=1))


if __name__ == "__main__":
    main()
