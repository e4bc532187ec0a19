"""Command line: ``run`` a grid (the default), show the ``data``, or rebuild the ``report``."""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from benchmark.compute import JIT_MODES
from benchmark.config import ALL_MODELS, ALL_RESAMPLERS, GRIDS, customise
from benchmark.data import SPLITS, histogram_table, load_split
from benchmark.errors import DataError
from benchmark.records import stderr_log as _log


def build_parser() -> argparse.ArgumentParser:
    grid_costs = ("grids: smoke = 4 models × 5 resamplers × 1 seed on a stratified subset, tiny budget "
                  "(~2 min on 2 CPU cores); quick = the 20 cells × 1 seed on the full data, 2,000 steps "
                  "(~1 h); full = 20 cells × 5 seeds, 10,000 steps (≤ 32.6 h projected on 2 CPU cores; ~13 min "
                  "projected on one H200 with KERAS_BACKEND=jax, packed)")
    p = argparse.ArgumentParser(
        prog="run_benchmark.py",
        description="Benchmark class-imbalance handling (resamplers) × heartbeat classifiers on MIT-BIH.",
        epilog=grid_costs, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("command", nargs="?", default="run", choices=["run", "data", "report"],
                   help="run: train and evaluate the grid, then write the tables; data: print the class "
                        "histogram of each split and where the data came from; report: rebuild the tables "
                        "from saved runs without training")
    p.add_argument("--grid", default="quick", choices=sorted(GRIDS), help="preset grid")
    p.add_argument("--models", nargs="+", choices=ALL_MODELS, help="models to run (default: the grid's)")
    p.add_argument("--resamplers", nargs="+", choices=ALL_RESAMPLERS, help="resamplers (default: the grid's)")
    p.add_argument("--seeds", nargs="+", type=int, help="training seeds (default: the grid's)")
    p.add_argument("--split", choices=[*SPLITS, "all"], default=None,
                   help="intra: Kaggle-style beat-level 80/20; inter: de Chazal DS1→DS2; kaggle: your CSVs "
                        "(--kaggle-dir). Default: intra; for `data` and `report`: every split available")
    budget = p.add_argument_group("training budget (default: the grid's)")
    budget.add_argument("--steps", type=int, help="optimizer steps per run, the same for every resampler")
    budget.add_argument("--batch-size", type=int)
    budget.add_argument("--eval-every", type=int, help="steps between validation macro-F1 checks")
    budget.add_argument("--patience", type=int, help="checks without improvement before stopping early")
    where = p.add_argument_group("where data and results live")
    where.add_argument("--data-dir", help="directory of PhysioNet mitdb records (else $MITDB_DIR, else the "
                                          "cache; downloaded when missing)")
    where.add_argument("--kaggle-dir", help="directory with mitbih_train.csv and mitbih_test.csv (kaggle split)")
    where.add_argument("--cache-dir", help="cache for downloads, built beats and resampled sets "
                                           "(else $ECG_BENCH_CACHE, else ~/.cache/ecg-oversampling-bench)")
    where.add_argument("--results-dir", default="results", help="where runs and tables are written")
    execution = p.add_argument_group("where runs execute")
    execution.add_argument("--executor", choices=["auto", "local", "ray", "packed"], default="auto",
                           help="local: one run at a time in this process; ray: every run a Ray task, in "
                                'parallel (needs the extra: pip install -e ".[ray]"); packed: the runs of each '
                                "model trained --pack-size at a time in one compiled step (JAX backend, made "
                                "for a GPU); auto: packed on JAX with a GPU, else local")
    execution.add_argument("--pack-size", type=_positive, default=25,
                           help="runs per pack with --executor packed (25: every run of a model in the full grid)")
    execution.add_argument("--pack-processes", type=_positive, default=1,
                           help="packs trained at a time, each in its own process sharing the GPU (on an H200, "
                                "4 kept it busy but took 101 GB at peak and were not shown faster than 1)")
    execution.add_argument("--jit", choices=JIT_MODES, default="auto",
                           help="XLA compilation of the train step; auto: on for JAX, on for TensorFlow on a "
                                "GPU, off for TensorFlow on CPU (measured slower) and for PyTorch")
    execution.add_argument("--deterministic", action=argparse.BooleanOptionalAction, default=True,
                           help="deterministic GPU kernels (XLA's deterministic ops, TF_DETERMINISTIC_OPS, "
                                "torch's deterministic algorithms): the same seed gives the same bits on the "
                                "same GPU model; no effect on a CPU")
    execution.add_argument("--resample-workers", type=_positive,
                           help="processes that compute the resampled training parts before training; "
                                "default: every core with --executor packed, else 1 (in process)")
    execution.add_argument("--ray-address", help="Ray cluster to run on: auto (the cluster of this node) or "
                                                 "ray://HEAD:10001; none: start a local Ray instance")
    execution.add_argument("--ray-workers", type=_positive, help="CPUs of the local Ray instance; none: all "
                                                                 "of this machine's")
    execution.add_argument("--threads", type=_positive,
                           help="TensorFlow threads per run, with either executor (a run's numbers depend "
                                "on it, so the same seed gives the same bits only with the same count); "
                                "default: this machine's cores")
    p.add_argument("--refresh", action="store_true", help="download the records again")
    p.add_argument("--overwrite", action="store_true", help="rerun runs that are already done")
    p.add_argument("--verbose", action="store_true", help="print every validation check")
    return p


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return int(text)


def _splits(args, default: list[str]) -> list[str]:
    if args.split == "all":
        return _buildable_splits(args)
    return [args.split] if args.split else default


def _buildable_splits(args) -> list[str]:
    """Every split this invocation can build: kaggle only when its CSV directory is given."""
    return [s for s in SPLITS if s != "kaggle" or args.kaggle_dir]


def cmd_data(args) -> int:
    for name in _splits(args, _buildable_splits(args)):
        split = load_split(name, args.data_dir, args.kaggle_dir, _cache(args), args.refresh, log=_log)
        print(f"\n## {name} split\n\n{split.source}\n\n{histogram_table(split)}")
    return 0


def cmd_report(args) -> int:
    from benchmark.report import write_report

    results = Path(args.results_dir)
    splits = _splits(args, [s for s in SPLITS if (results / s / "grid.json").exists()])
    if not splits:
        _log(f"{results}: no grid results found; run a grid first")
        return 1
    for name in splits:
        for path in write_report(results, name):
            _log(f"wrote {path}")
    _write_overview(results)
    return 0


def _write_overview(results: Path) -> None:
    from benchmark.narrative import write_overview

    path = write_overview(results, list(SPLITS))
    if path:
        _log(f"wrote {path}")


def make_executor(args, device: dict):
    """The executor ``args`` ask for, with the compile mode resolved for this backend and device."""
    from benchmark.compute import resolve_jit
    from benchmark.executors import LocalExecutor, PackedExecutor, RayExecutor

    backend, kind = device["backend"], device["kind"]
    name = args.executor
    if name == "auto":
        name = "packed" if backend == "jax" and kind == "gpu" else "local"
    if name == "packed":
        if backend != "jax":
            raise ValueError(f"--executor packed needs the JAX backend (KERAS_BACKEND=jax), not {backend}")
        if args.jit == "off":
            raise ValueError("--executor packed always compiles; drop --jit off")
        return PackedExecutor(args.pack_size, args.resample_workers or len(os.sched_getaffinity(0)),
                              args.pack_processes)
    jit = resolve_jit(args.jit, backend, kind)
    if name == "ray":
        return RayExecutor(args.ray_address, args.ray_workers, args.threads, jit)
    return LocalExecutor(jit, args.resample_workers or 1)


def cmd_run(args) -> int:
    from benchmark.compute import configure, describe_device
    from benchmark.executors import import_ray, thread_env

    args.threads = args.threads or len(os.sched_getaffinity(0))
    os.environ.update(thread_env(args.threads))  # before TensorFlow starts in this process
    configure(args.deterministic)  # before any backend starts
    if args.executor == "ray":
        try:
            import_ray()  # fail before loading any data when the extra is missing
        except ImportError as exc:
            _log(f"error: {exc}")
            return 2
    device = describe_device(args.deterministic)
    try:
        executor = make_executor(args, device)
    except ValueError as exc:
        _log(f"error: {exc}")
        return 2
    _log(f"Keras backend {device['backend']} on {device.get('gpu', device['kind'])}; executor "
         f"{executor.describe()}")

    from benchmark.provenance import provenance
    from benchmark.report import write_report
    from benchmark.runner import run_grid

    grid = customise(GRIDS[args.grid], models=args.models, resamplers=args.resamplers, seeds=args.seeds,
                     split=None if args.split == "all" else args.split, steps=args.steps,
                     batch_size=args.batch_size, eval_every=args.eval_every, patience=args.patience)
    if args.split == "all":
        raise SystemExit("--split all is for `data` and `report`; run one split at a time")
    split = load_split(grid.data.split, args.data_dir, args.kaggle_dir, _cache(args), args.refresh, log=_log)
    outcome = run_grid(grid, split, Path(args.results_dir), _cache(args), args.overwrite,
                       provenance={**provenance(), "device": device}, verbose=args.verbose, executor=executor)
    for path in write_report(Path(args.results_dir), grid.data.split):
        _log(f"wrote {path}")
    _write_overview(Path(args.results_dir))
    if outcome.failed:
        _log(f"{len(outcome.failed)} run(s) failed:")
        for run_id, reason in outcome.failed.items():
            _log(f"  {run_id}: {reason}")
        return 1
    return 0


def _cache(args) -> Path | None:
    return Path(args.cache_dir).expanduser() if args.cache_dir else None


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter off stderr
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.executor != "ray" and (args.ray_address or args.ray_workers):
        parser.error("--ray-address and --ray-workers go with --executor ray")
    if args.ray_address and args.ray_workers:
        parser.error("--ray-workers sizes a local Ray instance; a cluster at --ray-address has its own CPUs")
    try:
        return {"run": cmd_run, "data": cmd_data, "report": cmd_report}[args.command](args)
    except DataError as exc:
        _log(f"error: {exc}")
        return 2
