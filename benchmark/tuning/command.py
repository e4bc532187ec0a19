"""``run_benchmark.py tune``: its options (one argument group, with ``--params`` for a grid), and the command
turned into a :class:`~benchmark.tuning.study.TuneRequest`. Importing this module needs no optional package;
running a tune needs Optuna (and Ray Tune for ``--executor ray``), with an install hint when it is missing."""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

log = logging.getLogger("benchmark.cli")


def add_params_argument(parser: argparse.ArgumentParser) -> None:
    """run and evaluate: a grid given tuned settings."""
    parser.add_argument("--params", nargs="+", metavar="FILE",
                        help="tuned settings (a tune's best_params.json) for the grid's models and treatments; part "
                             "of every run's identity, and the grid's folder is <grid>-tuned-<hash>")


def add_tuning_arguments(parser: argparse.ArgumentParser, positive) -> None:
    """The tune command's options, in their own group."""
    from benchmark.tuning.study import PRUNERS, SAMPLERS

    group = parser.add_argument_group(
        "tuning: an Optuna study of one model and treatment, maximising validation macro F1, each trial a "
        "run of --grid's budget (needs pip install -e \".[tune]\")")
    group.add_argument("--model", help="tune: the model to tune (any registered one)")
    group.add_argument("--resampler", default="none", metavar="NAME[key=value,...]",
                       help="tune: the treatment the trials train on and the tuned settings are for")
    group.add_argument("--trials", type=positive, default=20,
                       help="tune: finished trials the study should hold (run the same command to resume it, or "
                            "with a larger number to add trials)")
    group.add_argument("--timeout", type=positive, metavar="SECONDS",
                       help="tune: start no trial after this many seconds (the running one finishes)")
    group.add_argument("--sampler", choices=SAMPLERS, default="tpe",
                       help="tune: tpe (Optuna's TPE; its first trial is the untuned point) or grid (every "
                            "combination of each dimension's few grid values, the default among them)")
    group.add_argument("--sampler-seed", type=int, default=0, help="tune: the sampler's seed; a study repeats with it")
    group.add_argument("--pruner", choices=PRUNERS, default="median",
                       help="tune: stop weak trials at the validation checks: median (below the median of earlier "
                            "trials at the same step, after 5 trials), halving (successive halving), none; on Ray "
                            "Tune any but none is ASHA")
    group.add_argument("--fix", nargs="+", metavar="PREFIX.NAME=VALUE",
                       help="tune: pin parameters instead of tuning them, e.g. train.batch_size=128 "
                            "model.bidirectional=false (prefixes: model, train, treatment)")
    group.add_argument("--tune-treatment", action="store_true",
                       help="tune: tune the treatment's declared parameters too (k of SMOTE, the targets of "
                            "under_over, ...)")
    group.add_argument("--cheap-resampler", metavar="NAME",
                       help="tune: the LSTM project's shortcut: tune on this cheaper treatment (e.g. under_over), "
                            "then train the best --confirm-top points and the untuned one on --resampler, and "
                            "report how far the two rankings agree")
    group.add_argument("--confirm-top", type=positive, default=5,
                       help="tune --cheap-resampler: how many of the best points to train on --resampler")
    group.add_argument("--ray-concurrency", type=positive,
                       help="tune --executor ray: trials at once (default: the cluster's CPUs / --threads)")


def check_tune_arguments(parser: argparse.ArgumentParser, args) -> None:
    """Refuse tune options outside tune, and a tune without what it needs."""
    tune_only = [flag for flag, given in (("--model", args.model), ("--fix", args.fix),
                                          ("--cheap-resampler", args.cheap_resampler),
                                          ("--tune-treatment", args.tune_treatment),
                                          ("--ray-concurrency", args.ray_concurrency)) if given]
    if args.command != "tune":
        if tune_only:
            parser.error(f"{', '.join(tune_only)} {'goes' if len(tune_only) == 1 else 'go'} with the tune command")
        if args.params and args.command not in ("run", "evaluate"):
            parser.error("--params goes with run and evaluate (a grid given tuned settings)")
        return
    if not args.model:
        parser.error("tune needs --model (one of the registered models)")
    if args.params:
        parser.error("tune searches settings; --params gives found ones to a grid (run, evaluate)")
    if args.executor == "packed":
        parser.error("tune trains one trial at a time in this process (local) or as Ray Tune trials (ray); "
                     "--executor packed is for grids")
    if args.seeds and len(args.seeds) != 1:
        parser.error("tune trains every trial with one seed: give --seeds one value")


def cmd_tune(args, grid, load) -> int:
    """Run (or resume) the study ``args`` ask for on ``grid`` (its budget and data); ``load()`` gives the split."""
    from benchmark.errors import DataError
    from benchmark.tuning.space import SpaceError, parse_fixed
    from benchmark.tuning.study import TuneRequest, import_optuna, tune

    try:
        optuna = import_optuna()
        ray = _ray_options(args)
    except ImportError as exc:
        log.error("error: %s", exc)
        return 2
    from models import list_models
    from resampling import check_resampler

    if args.model not in list_models():
        raise DataError(f"tune --model {args.model!r}: unknown model; known models: {', '.join(list_models())}")
    try:
        resampler = check_resampler(args.resampler)
        cheap = check_resampler(args.cheap_resampler) if args.cheap_resampler else None
        request = TuneRequest(args.model, grid, resampler, seed=(args.seeds or grid.seeds)[0], trials=args.trials,
                              timeout=args.timeout, sampler=args.sampler, sampler_seed=args.sampler_seed,
                              pruner=args.pruner, fixed=parse_fixed(args.fix), tune_treatment=args.tune_treatment,
                              cheap_resampler=cheap, confirm_top=args.confirm_top, jit=_jit(args))
        from benchmark.tuning.space import StudySpace

        StudySpace.build(request.model, cheap or resampler, grid.train, request.fixed, request.tune_treatment)
    except (SpaceError, ValueError, TypeError) as exc:  # before any data is loaded
        log.error("error: %s", exc)
        return 2
    from benchmark.provenance import provenance
    from benchmark.running.compute import describe_device

    about = provenance()
    about["versions"]["optuna"] = optuna.__version__
    if ray is not None:
        import ray as ray_module

        about["versions"]["ray"] = ray_module.__version__
    about["device"] = describe_device(args.deterministic)
    try:
        outcome = tune(request, load(), Path(args.results_dir), Path(args.cache_dir).expanduser()
                       if args.cache_dir else None, about, ray)
    except KeyboardInterrupt:
        log.error("interrupted: the finished trials are kept in the study; run the same command to go on")
        return 130
    for path in outcome.written:
        log.info("wrote %s", path)
    log.info("study %s: %d of %d trials finished", outcome.store.name, outcome.finished, outcome.target)
    return 0


def _jit(args) -> bool:
    from benchmark.running.compute import describe_device, resolve_jit

    device = describe_device(args.deterministic)
    return resolve_jit(args.jit, device["backend"], device["kind"])


def _ray_options(args):
    """Ray Tune's options for ``--executor ray`` (ImportError with the install hint without it); else None."""
    if args.executor != "ray":
        return None
    try:
        import ray.tune  # noqa: F401
        from ray.tune.search.optuna import OptunaSearch  # noqa: F401
    except ImportError as exc:
        raise ImportError(f'tune --executor ray needs Ray Tune ({exc}): pip install -e ".[ray-tune]"') from exc
    from benchmark.data.records import default_cache_dir
    from benchmark.tuning.ray_tune import RayOptions

    cache = Path(args.cache_dir).expanduser() if args.cache_dir else default_cache_dir()
    return RayOptions(args.ray_address, args.ray_workers, args.threads, args.ray_concurrency,
                      str((cache / "ray_tune").resolve()))
