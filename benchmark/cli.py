"""Command line: ``run`` a grid (the default), show the ``data``, rebuild the ``report``, ``evaluate``
saved models without training; ``export`` a run's model as a bundle, ``predict`` a recording's beats with
it, or ``serve`` it over HTTP; ``transfer`` a grid's saved models to another database's patients; ``tune`` a
model's settings (``benchmark.tuning``)."""
from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

from benchmark.config import GRIDS, LR_SCHEDULES, customise
from benchmark.data.splits import SPLITS, histogram_table, load_split
from benchmark.errors import DataError
from benchmark.logs import clock
from benchmark.cores import available_cores
from benchmark.running.compute import JIT_MODES

log = logging.getLogger("benchmark.cli")
# run and evaluate write your runs to results/local (git-ignored): the committed results under results/ are
# written only when you name them. report rebuilds the committed reports unless told otherwise.
DEFAULT_RESULTS = {"run": "results/local", "evaluate": "results/local", "report": "results", "data": "results/local",
                   "export": "results", "predict": "results", "serve": "results", "compare": "results",
                   "transfer": "results/local", "tune": "results/local"}
# the commands whose --grid may name a grid's folder (quick-rr, <preset>-<hash>) besides a preset
GRID_FOLDER_COMMANDS = ("report", "export")
# the commands that train or score runs, on JAX unless KERAS_BACKEND says otherwise (``choose_backend``); export,
# predict and serve keep Keras' own default: the ONNX copy is exported from TensorFlow (JAX would need jax2onnx)
JAX_COMMANDS = ("run", "evaluate", "tune", "transfer")


def _model(text: str) -> str:
    """A --models value, checked against the model registry when parsed (building the parser imports none)."""
    from models import list_models

    if text not in list_models():
        raise argparse.ArgumentTypeError(f"invalid choice: {text!r} (choose from {', '.join(list_models())})")
    return text


def _resampler(text: str) -> str:
    """A --resamplers value: its canonical name when the registry can build it, else why not."""
    from resampling import check_resampler

    try:
        return check_resampler(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


class _Help(argparse.HelpFormatter):
    """Help that names a default only where there is one (no "(default: None)")."""

    def _get_help_string(self, action):
        text = action.help or ""
        if "%(default)" in text or action.default in (None, False, argparse.SUPPRESS) or not action.option_strings:
            return text
        return f"{text} (default: %(default)s)"


class _Parser(argparse.ArgumentParser):
    """An argument error is one line naming the option, and where the command's help is; no option is taken
    for another by its first letters (--model is tune's, not an abbreviation of --models)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **{"allow_abbrev": False, **kwargs})

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# the commands' positional operands, in order
POSITIONALS = {"predict": ("bundle", "input"), "serve": ("bundle",), "compare": ("grid_a", "grid_b")}
POSITIONALS = {name: POSITIONALS.get(name, ()) for name in ("run", "data", "report", "evaluate", "export", "predict",
                                                             "serve", "compare", "transfer", "tune")}
# every command: what it does in one line, and the option groups it takes (``_GROUPS``)
COMMANDS = {
    "run": ("train and test a grid's runs, then write its report (the default command)",
            ("grid", "selection", "task", "split", "inputs", "budget", "data", "results", "execution", "params",
             "fresh")),
    "data": ("print each split's class histogram and where its data came from",
             ("grid", "task", "split", "inputs", "data", "results", "threads")),
    "report": ("rebuild the reports of the grids in --results-dir from their saved runs, without training",
               ("grid", "split", "results", "tsml")),
    "evaluate": ("score a grid's saved models on a test set (--on) without training",
                 ("grid", "selection", "task", "split", "inputs", "budget", "on", "data", "results", "execution",
                  "params", "fresh")),
    "export": ("copy one run's model (--run, or --grid/--split --best) into a bundle folder (--out)",
               ("grid", "task", "split", "inputs", "results", "export")),
    "predict": ("classify the beats of INPUT (a Kaggle-layout CSV, a WFDB record named without extension, or a "
                "one-column raw-signal CSV with --fs) with a bundle's model", ("predict", "runtime")),
    "serve": ("an HTTP API over a bundle's model", ("serve", "runtime")),
    "compare": ("two grid folders of --split that differ only in their input (e.g. quick and quick-rr), cell by "
                "cell, with paired tests over test records", ("compare", "split", "results")),
    "transfer": ("fine-tune a grid's saved models on another database's patients against zero-shot, frozen "
                 "features and from scratch", ("grid", "selection", "task", "split", "inputs", "budget", "data",
                                               "results", "execution", "transfer", "fresh")),
    "tune": ("an Optuna study of one model's settings on validation macro F1",
             ("grid", "seeds", "task", "split", "inputs", "budget", "data", "results", "execution", "tune",
              "fresh")),
}


def _add_grid(p) -> None:
    p.add_argument("--grid", default=None, metavar="GRID",
                   help=f"a grid: {', '.join(sorted(GRIDS))} (default: quick); `report` and `export --best` also "
                        "take a grid's folder under its split (quick-rr, <preset>-<hash>), as each REPORT.md's "
                        "rebuild line names it; `report` without it rebuilds every grid found. Sizes and the "
                        "published systems: `run --help`")


def _add_selection(p) -> None:
    p.add_argument("--models", nargs="+", type=_model, metavar="MODEL",
                   help="models to run, any registered one (models/; default: the grid's)")
    p.add_argument("--resamplers", nargs="+", type=_resampler, metavar="NAME[key=value,...]",
                   help="treatments: any registered one (docs/treatments.md), its parameters in brackets (e.g. "
                        "under_over[majority_count=60000,minority_count=30000]), or sv:NAME[key=value,...] for a "
                        "smote-variants oversampler (default: the grid's)")
    _add_seeds(p)


def _add_seeds(p) -> None:
    p.add_argument("--seeds", nargs="+", type=int, help="training seeds (default: the grid's)")


def _add_task(p) -> None:
    from benchmark.tasks import get_task, list_tasks

    p.add_argument("--task", choices=list_tasks(), default=None,
                   help="what a beat's label is: " + "; ".join(f"{t}: {get_task(t).description}" for t in list_tasks())
                        + ". Default: the grid's (aami5); a grid of another task has its own folder (<grid>-<task>)")


def _add_split(p) -> None:
    p.add_argument("--split", type=_split_option, default=None, metavar="{" + ",".join([*SPLITS, "all"]) + "}",
                   help="intra: Kaggle-style beat-level 80/20; inter: de Chazal DS1→DS2; inter_ds2: DS2→DS1; "
                        "kaggle: your CSVs (--kaggle-dir). Default: intra; for `data` and `report`: every split "
                        "available. `run` also takes several, comma-separated (intra,inter), or all, and trains "
                        "them seed-major: seed 0 of every split's cells, then seed 1, ...")


def _add_inputs(p) -> None:
    inputs = p.add_argument_group("what a model sees of each beat (default: the whole 187-sample window; any "
                                  "option gives the grid its own folder, <grid>-<options>)")
    inputs.add_argument("--truncate", type=_positive, metavar="K",
                        help="only the first K samples of each beat window (the LSTM project: 140)")
    inputs.add_argument("--beat-stats", action="store_true",
                        help="append the beat's mean, standard deviation, skewness and kurtosis (the CNN-LSTM project)")
    inputs.add_argument("--rr", action="store_true",
                        help="append RR-interval features: the intervals before and after the beat, their ratio, "
                             "the local and the record's average (de Chazal et al. 2004); needs the WFDB records")


def _add_budget(p) -> None:
    budget = p.add_argument_group("training budget (default: the grid's)")
    budget.add_argument("--steps", type=_positive, help="optimizer steps per run, the same for every resampler")
    budget.add_argument("--batch-size", type=_positive)
    budget.add_argument("--eval-every", type=_positive, help="steps between validation macro-F1 checks")
    budget.add_argument("--patience", type=_positive, help="checks without improvement before stopping early")
    budget.add_argument("--lr-schedule", choices=LR_SCHEDULES,
                        help="step: Adam lr × 0.75 every 10,000 steps (Kachuee et al.); triangular: a cyclical lr "
                             "rising linearly from --lr-min to --lr-max and back once every --lr-cycle-steps "
                             "(the ResNet project; Smith 2017)")
    budget.add_argument("--lr-min", type=_positive_float, help="triangular: the lowest learning rate (1e-4)")
    budget.add_argument("--lr-max", type=_positive_float, help="triangular: the highest learning rate (1e-3)")
    budget.add_argument("--lr-cycle-steps", type=_positive, help="triangular: optimizer steps per cycle (2000)")


def _add_data(p) -> None:
    from benchmark.external import external_sets

    where = p.add_argument_group("where the data live")
    where.add_argument("--data-dir", help="your local copy of PhysioNet's mitdb records, which must exist (else "
                                          "$MITDB_DIR, else the cache's, downloaded when missing)")
    for e in external_sets():
        where.add_argument(e.dir_option, help=f"your local copy of PhysioNet's {e.name} records, which must exist "
                                              f"(else ${e.dir_variable}, else the cache's, downloaded when missing)")
    where.add_argument("--kaggle-dir", help="directory with mitbih_train.csv and mitbih_test.csv (kaggle split)")
    where.add_argument("--cache-dir", help="cache for downloads, built beats and resampled sets "
                                           "(else $ECG_BENCH_CACHE, else ~/.cache/ecg-oversampling-bench)")
    where.add_argument("--refresh", action="store_true", help="download the records again")


def _add_results(p) -> None:
    p.add_argument("--results-dir",
                   help="run store: runs and reports go to DIR/<split>/<grid>/, one folder per grid, so grids never "
                        "overwrite each other. Default: results/local for run, evaluate, transfer and tune (your own "
                        "runs, git-ignored; the committed results in `results` are only written when you name "
                        "them), results for the other commands")


def _add_tsml(p) -> None:
    p.add_argument("--tsml", metavar="DIR",
                   help="also write every run's test predictions and class probabilities in tsml-eval's results-file "
                        "format under DIR (<model>__<treatment>/Predictions/MITBIH-<split>/testResample<seed>.csv), "
                        "for tsml-eval's loaders; outside --results-dir")


def _add_threads(p) -> None:
    p.add_argument("--threads", type=_positive,
                   help="threads per run (a run's numbers depend on it, so the same seed gives the same bits only "
                        "with the same count); default: this machine's cores")


def _add_execution(p) -> None:
    execution = p.add_argument_group("where runs execute (measured costs: docs/performance.md)")
    execution.add_argument("--executor", choices=["auto", "local", "pool", "ray", "packed"], default="auto",
                           help="local: one run at a time in this process; pool: --workers runs side by side, each "
                                "in a process pinned to its own core; ray: every run a Ray task (the ray extra); "
                                "packed: the runs of each model trained --pack-size at a time in one compiled step "
                                "(JAX, made for a GPU); auto: packed on JAX with a GPU, pool on JAX with 2 cores or "
                                f"more for runs of {POOL_FROM_STEPS:,} steps or more, else local")
    execution.add_argument("--workers", type=_positive,
                           help="runs at a time with --executor pool (default: one per core, at most one per 3 GiB "
                                "of memory)")
    execution.add_argument("--time-limit", type=_duration, metavar="DURATION",
                           help="stop the grid cleanly once this long has passed since the command started "
                                "(e.g. 2h30m, 45m, 90s): no run starts after it, a run in progress stops at its "
                                "next validation check and keeps its checkpoint; the same command resumes it")
    execution.add_argument("--pack-size", type=_positive, default=30,
                           help="runs per pack with --executor packed (30: every run of a model in the full grid)")
    execution.add_argument("--pack-processes", type=_positive, default=1,
                           help="packs trained at a time, each in its own process sharing the GPU")
    execution.add_argument("--jit", choices=JIT_MODES, default="auto",
                           help="XLA compilation of the train step; auto: on for JAX, on for TensorFlow on a "
                                "GPU, off for TensorFlow on CPU and for PyTorch")
    execution.add_argument("--deterministic", action=argparse.BooleanOptionalAction, default=True,
                           help="deterministic GPU kernels: the same seed gives the same bits on the same GPU model "
                                "(CPU runs are deterministic either way)")
    execution.add_argument("--resample-workers", type=_positive,
                           help="processes that compute the resampled training parts before training; "
                                "default: every core with --executor packed, else 1 (in process)")
    execution.add_argument("--ray-address", help="Ray cluster to run on: auto (the cluster of this node) or "
                                                 "ray://HEAD:10001; none: start a local Ray instance")
    execution.add_argument("--ray-workers", type=_positive, help="CPUs of the local Ray instance; none: all "
                                                                 "of this machine's")
    _add_threads(execution)


def _add_fresh(p) -> None:
    p.add_argument("--overwrite", action="store_true", help="rerun runs that are already done")


def _add_params(p) -> None:
    from benchmark.tuning.command import add_params_argument

    add_params_argument(p)


def _add_on(p) -> None:
    from benchmark.external import external_sets

    p.add_argument("--on", default="test", choices=["test", *(e.name for e in external_sets())],
                   help="the test set to score the saved models on; test: the grid's own test part, which must "
                        "reproduce the saved predictions exactly; "
                        + "; ".join(f"{e.name}: {e.help}" for e in external_sets()))


def _add_export(p) -> None:
    p.add_argument("--run", help="a run folder, <results>/<split>/<grid>/runs/<run_id>")
    p.add_argument("--best", action="store_true",
                   help="the run of --grid/--split (in --results-dir) with the highest validation macro F1 (ties: "
                        "the first run id in alphabetical order); test scores are never used")
    p.add_argument("--out", help="the bundle folder to write")


def _add_predict(p) -> None:
    p.add_argument("bundle", metavar="BUNDLE", help="a bundle folder (export)")
    p.add_argument("input", metavar="INPUT", help="the recording or CSV whose beats to classify")
    p.add_argument("--out", help="a .csv or .json file for the per-beat predictions (default: print them)")
    p.add_argument("--fs", type=float, help="the sampling rate (Hz) of a one-column raw-signal CSV")


def _add_serve(p) -> None:
    p.add_argument("bundle", metavar="BUNDLE", help="a bundle folder (export)")
    p.add_argument("--host", default="127.0.0.1", help="the address to listen on (loopback by default)")
    p.add_argument("--port", type=int, default=8000, help="the port to listen on")


def _add_runtime(p) -> None:
    from benchmark.serving.bundle import RUNTIMES

    p.add_argument("--runtime", choices=RUNTIMES, default=RUNTIMES[0],
                   help="run the bundle's model file (keras) or its ONNX copy by onnxruntime (onnx)")


def _add_compare(p) -> None:
    p.add_argument("grid_a", metavar="GRID", help="a grid folder of --split")
    p.add_argument("grid_b", metavar="OTHER_GRID",
                   help="another, the same grid with another input; written beside them as "
                        "COMPARISON-GRID-vs-OTHER_GRID.md")


def _add_transfer(p) -> None:
    from benchmark.external import external_sets
    from benchmark.transfer.config import STRATEGIES, TREAT_TARGET, TransferConfig

    transfer = p.add_argument_group("transfer: the grid's saved models (--models, --resamplers, --seeds choose "
                                    "some) on another database's patients, written as TRANSFER.md in its folder")
    defaults = TransferConfig()
    to = transfer.add_mutually_exclusive_group()
    to.add_argument("--to", choices=[e.name for e in external_sets()],
                    help="a database of the external registry, split by patient (its records and R peaks known)")
    to.add_argument("--to-csv", metavar="DIR",
                    help="a folder of Kaggle-layout CSVs with a binary label (e.g. ptbdb_normal.csv and "
                         "ptbdb_abnormal.csv: 187 samples, last column 0 normal / 1 abnormal); no records, so split "
                         "by beat; refused for a grid trained with --rr")
    transfer.add_argument("--fractions", nargs="+", type=_share, metavar="F", default=defaults.fractions,
                          help="shares of the fine-tuning records to train on, nested")
    transfer.add_argument("--strategies", nargs="+", choices=STRATEGIES, default=defaults.strategies,
                          help="zero_shot: the saved model as it is; fine_tune: all its weights trained further; "
                               "frozen: only a new head trained; scratch: a fresh build, the same budget")
    transfer.add_argument("--transfer-steps", type=_positive, default=defaults.steps,
                          help="optimizer steps of every trained transfer run")
    transfer.add_argument("--transfer-eval-every", type=_positive,
                          help="steps between validation checks; none given: the grid's")
    transfer.add_argument("--transfer-patience", type=_positive,
                          help="checks without gain before stopping; none given: the grid's")
    transfer.add_argument("--fine-tune-lr", type=_positive_float, metavar="FACTOR", default=defaults.fine_tune_lr,
                          help="fine-tuning's learning rate as a factor of the grid's")
    transfer.add_argument("--target-parts", nargs=3, type=_share, metavar=("FINE_TUNE", "VALIDATION", "TEST"),
                          default=defaults.parts, help="shares of the target's records in each part (other shares: "
                                                       "another target folder)")
    transfer.add_argument("--target-split-seed", type=int, default=defaults.split_seed,
                          help="seed of the target's split (another: another target folder)")
    transfer.add_argument("--treat-target", choices=TREAT_TARGET, default=defaults.treat_target,
                          help="apply the source run's treatment to the target's fine-tuning part too (yes), not "
                               "(no), or run both")


def _add_tune(p) -> None:
    from benchmark.tuning.command import add_tuning_arguments

    add_tuning_arguments(p, _positive)


_GROUPS = {"grid": _add_grid, "selection": _add_selection, "seeds": _add_seeds, "task": _add_task,
           "split": _add_split, "inputs": _add_inputs, "budget": _add_budget, "data": _add_data,
           "results": _add_results, "tsml": _add_tsml, "threads": _add_threads, "execution": _add_execution,
           "fresh": _add_fresh, "params": _add_params, "on": _add_on, "export": _add_export, "predict": _add_predict,
           "serve": _add_serve, "runtime": _add_runtime, "compare": _add_compare, "transfer": _add_transfer,
           "tune": _add_tune}


def _grid_epilog() -> str:
    """The grids' sizes and the published systems' presets, for `run --help`."""
    from benchmark.literature import published_system

    def published(preset: str) -> str:
        p = published_system(preset)
        return f"{p.metric} {p.value}" if p and p.bounds else "no figure"

    sizes = "; ".join(f"{name} = {len(g.models)} models × {len(g.resamplers)} treatments × {len(g.seeds)} seed(s), "
                      f"{g.train.steps:,} steps" for name, g in GRIDS.items() if not g.description)
    presets = "; ".join(f"{name} = {g.description} (published: {published(name)})" for name, g in GRIDS.items()
                        if g.description)
    return (f"Grids: {sizes} (what each costs on a CPU and a GPU: docs/performance.md). The published systems, each "
            f"as it was configured: {presets}.")


def build_parser() -> argparse.ArgumentParser:
    """One subcommand a command, each with only its own options; no backend is imported (so --help is quick)."""
    p = _Parser(prog="run_benchmark.py", formatter_class=_Help,
                description="Benchmark class-imbalance handling (treatments) × heartbeat classifiers on MIT-BIH. "
                            "Without a command: run.",
                epilog="Each command's options: run_benchmark.py COMMAND --help")
    commands = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, (words, groups) in COMMANDS.items():
        sub = commands.add_parser(name, help=words, description=words[:1].upper() + words[1:] + ".",
                                  formatter_class=_Help, epilog=_grid_epilog() if name == "run" else None)
        for group in groups:
            _GROUPS[group](sub)
        sub.add_argument("--verbose", action="store_true",
                         help="print every validation check (TensorFlow's start-up messages: TF_CPP_MIN_LOG_LEVEL=0)")
    return p


def _defaults() -> dict:
    """Every option of every command with its default: a command's handler reads only its own, but the checks
    shared by all read any."""
    flat = argparse.ArgumentParser(add_help=False, conflict_handler="resolve")
    for group in dict.fromkeys(g for _, groups in COMMANDS.values() for g in groups):
        if group not in ("export", "predict", "serve", "compare"):  # their own options, added below
            _GROUPS[group](flat)
    return vars(flat.parse_args([])) | {"operands": [], "verbose": False, "run": None, "best": False, "out": None,
                                        "fs": None, "host": "127.0.0.1", "port": 8000}


def _refuse(parser, commands: dict, extra: list[str]) -> None:
    """One line for arguments the command does not take: which commands an option goes with, where it has one."""
    said = []
    for word in extra:
        flag = word.split("=", 1)[0]
        owners = [name for name, sub in commands.items() if flag.startswith("-") and flag in sub._option_string_actions]
        if owners:
            names = owners[0] if len(owners) == 1 else f"{', '.join(owners[:-1])} and {owners[-1]}"
            said.append(f"{flag} goes with the {names} command{'s' if len(owners) > 1 else ''}")
    parser.error("; ".join(said) if said else f"unrecognized arguments: {' '.join(extra)}")


def _with_command(argv: list[str]) -> list[str]:
    """``run`` where no command is named (``run_benchmark.py --grid full`` runs the full grid)."""
    if argv and (argv[0] in COMMANDS or argv[0] in ("-h", "--help")):
        return argv
    return ["run", *argv]


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return int(text)


def _split_option(text: str) -> str:
    """A --split value: one split, all, or several comma-separated (for run)."""
    names = [t.strip() for t in text.split(",")]
    unknown = [n for n in names if n not in (*SPLITS, "all")]
    if unknown or not all(names) or ("all" in names and len(names) > 1):
        raise argparse.ArgumentTypeError(f"{text!r}: choose one of {', '.join([*SPLITS, 'all'])}, or several splits "
                                         "separated by commas (intra,inter)")
    return ",".join(names)


def _duration(text: str) -> float:
    """A --time-limit: hours, minutes and seconds (2h30m, 45m, 90s, 1h), in seconds."""
    import re

    found = re.fullmatch(r"\s*(?:(\d+(?:\.\d+)?)h)?\s*(?:(\d+(?:\.\d+)?)m)?\s*(?:(\d+(?:\.\d+)?)s)?\s*", text.lower())
    if not text.strip() or not found or not any(found.groups()):
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration; write hours, minutes and seconds as in 2h30m, "
                                         "45m, 90s or 1h")
    hours, minutes, seconds = (float(g or 0) for g in found.groups())
    total = hours * 3600 + minutes * 60 + seconds
    if total <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: a time limit must be longer than zero")
    return total


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _check_schedule(parser, args) -> None:
    """The triangular schedule's options only with it, and bounds that a run can follow."""
    given = [f"--{name.replace('_', '-')}" for name in ("lr_min", "lr_max", "lr_cycle_steps")
             if getattr(args, name) is not None]
    if given and args.lr_schedule != "triangular":
        parser.error(f"{', '.join(given)} set the triangular schedule; add --lr-schedule triangular")
    if args.lr_schedule == "triangular":
        try:
            customise(GRIDS.get(args.grid or "quick", GRIDS["quick"]), **_grid_budget(args))  # TrainConfig checks the bounds
        except ValueError as exc:
            parser.error(str(exc))


def _grid_budget(args) -> dict:
    """The budget options as ``customise`` takes them (``None``: the grid's own)."""
    return {"steps": args.steps, "batch_size": args.batch_size, "eval_every": args.eval_every,
            "patience": args.patience, "lr_schedule": args.lr_schedule, "lr_min": args.lr_min,
            "lr_max": args.lr_max, "lr_cycle_steps": args.lr_cycle_steps}


def _splits(args, default: list[str]) -> list[str]:
    if args.split == "all":
        return _buildable_splits(args)
    return args.split.split(",") if args.split else default


def _buildable_splits(args) -> list[str]:
    """Every split this invocation can build: kaggle only when its CSV directory is given."""
    return [s for s in SPLITS if s != "kaggle" or args.kaggle_dir]


def cmd_data(args) -> int:
    for name in _splits(args, _buildable_splits(args)):
        split = load_split(name, args.data_dir, args.kaggle_dir, _cache(args), args.refresh, task=args.task or "aami5")
        print(f"\n## {name} split\n\n{split.source}\n\n{histogram_table(split)}")
    return 0


def _store(args):
    from benchmark.store import RunStore

    return RunStore(Path(args.results_dir))


def cmd_report(args) -> int:
    from benchmark.reporting.report import write_report

    store = _store(args)
    grids = [g for g in store.grids(None if args.split in (None, "all") else args.split)
             if args.grid is None or g.name == args.grid]
    if not grids:
        log.error("%s: no grid results found%s; run a grid first, or name the folder that holds them with "
                  "--results-dir (your own runs: --results-dir results/local)", store.root,
                  f" for --grid {args.grid}" if args.grid else "")
        return 1
    tsml = Path(args.tsml).expanduser().resolve() if args.tsml else None
    if tsml is not None and tsml.is_relative_to(store.root.resolve()):
        log.error("--tsml %s: inside --results-dir %s; tsml-eval's files are tens of MB a grid, written on demand: "
                  "name a folder outside it (e.g. --tsml tsml-results)", args.tsml, store.root)
        return 2
    for grid in grids:
        for path in write_report(grid):
            log.info("wrote %s", path)
        if tsml is not None:
            _write_tsml(grid, tsml)
    _write_overview(store)
    return 0


def _write_tsml(grid, out: Path) -> None:
    from benchmark.reporting.analysis import read_grid
    from benchmark.reporting.tsml import write_grid

    written, missing = write_grid(read_grid(grid, compare=False), out)
    log.info("wrote %d tsml-eval results file(s) of %s/%s under %s", len(written), grid.split, grid.name, out)
    if missing:
        log.warning("  %d run(s) of %s/%s have no stored test probabilities and were left out (`evaluate --on "
                    "test` writes them): %s", len(missing), grid.split, grid.name, ", ".join(missing))


def _write_overview(store) -> None:
    from benchmark.reporting.report import write_overview

    path = write_overview(store)
    if path:
        log.info("wrote %s", path)


def make_executor(args, device: dict):
    """The executor ``args`` ask for, with the compile mode resolved for this backend and device."""
    from benchmark.running.compute import resolve_jit
    from benchmark.running.executors import LocalExecutor, PackedExecutor, RayExecutor

    backend, kind = device["backend"], device["kind"]
    name = args.executor
    if name == "auto":
        name = auto_executor(backend, kind, available_cores(), _grid(args, _splits(args, ["intra"])[0]).train.steps)
    if name == "packed":
        if backend != "jax":
            raise ValueError(f"--executor packed needs the JAX backend (KERAS_BACKEND=jax), not {backend}")
        if args.jit == "off":
            raise ValueError("--executor packed always compiles; drop --jit off")
        return PackedExecutor(args.pack_size, args.resample_workers or available_cores(),
                              args.pack_processes)
    jit = resolve_jit(args.jit, backend, kind)
    if name == "pool":
        from benchmark.running.pool import PoolExecutor

        return PoolExecutor(args.workers or default_workers(), jit)
    if name == "ray":
        return RayExecutor(args.ray_address, args.ray_workers, args.threads, jit)
    return LocalExecutor(jit, args.resample_workers or 1)


POOL_FROM_STEPS = 1_000  # a run this long takes minutes: worth a worker process's start (~15 s)


def default_workers() -> int:
    """One worker a core, as memory allows: a worker holds its backend, the grid's parts and a treated part
    (about 2 GiB on the full intra split with JAX)."""
    from benchmark.provenance import machine

    memory = machine()["memory_gib"] or 0
    return max(1, min(available_cores(), int(memory // 3) if memory else available_cores()))


def auto_executor(backend: str, kind: str, cores: int, steps: int) -> str:
    """What ``--executor auto`` runs: packed on JAX with a GPU; on a CPU with two cores or more, runs of at least
    POOL_FROM_STEPS steps side by side, one per core (JAX only: its pinned runs reproduce exactly when ``evaluate``
    loads them on every core; TensorFlow's sums depend on the thread count); else one run at a time here."""
    if backend == "jax" and kind == "gpu":
        return "packed"
    if backend == "jax" and kind == "cpu" and cores >= 2 and steps >= POOL_FROM_STEPS:
        return "pool"
    return "local"


def _grid(args, split: str | None = None):
    """The grid the options describe, on ``split`` (default: ``--split``, which must then name one)."""
    split = split or args.split
    if split and (split == "all" or "," in split):
        raise DataError(f"--split {split}: `{args.command}` takes one split; several are for `run`, `data` and "
                        "`report`")
    from benchmark.data.inputs import InputConfig

    preset = GRIDS[args.grid or "quick"]
    own = preset.data.inputs  # the options add to a preset's own input
    try:
        inputs = InputConfig(args.truncate or own.samples, args.beat_stats or own.beat_stats, args.rr or own.rr)
    except ValueError as exc:
        raise DataError(f"--truncate: {exc}") from None
    grid = customise(preset, models=args.models, resamplers=args.resamplers, seeds=args.seeds,
                     split=split, task=args.task, inputs=inputs, **_grid_budget(args))
    if getattr(args, "params", None):  # tuned settings: part of every run's identity and of the folder's name
        from benchmark.tuning.params import load_params, with_params

        grid = with_params(grid, *load_params(args.params))
    return grid


def cmd_tune(args) -> int:
    from benchmark.tuning.command import cmd_tune as tune

    grid = _grid(args)
    return tune(args, grid, lambda: load_split(grid.data.split, args.data_dir, args.kaggle_dir, _cache(args),
                                               args.refresh, task=grid.data.task))


def cmd_run(args) -> int:
    from benchmark.running.compute import describe_device
    from benchmark.running.executors import import_ray

    if args.executor == "ray":
        try:
            import_ray()  # fail before loading any data when the extra is missing
        except ImportError as exc:
            log.error("error: %s", exc)
            return 2
    device = describe_device(args.deterministic)
    try:
        executor = make_executor(args, device)
    except ValueError as exc:
        log.error("error: %s", exc)
        return 2
    log.info("Keras backend %s on %s; executor %s", device["backend"], device.get("gpu", device["kind"]),
             describe_executor(executor.describe()))

    from benchmark.provenance import provenance
    from benchmark.reporting.report import write_report
    from benchmark.running.plan import grid_directory
    from benchmark.running.runner import run_grids

    names = _splits(args, ["intra"])
    grid = _grid(args, names[0])
    splits = {name: load_split(name, args.data_dir, args.kaggle_dir, _cache(args), args.refresh, task=grid.data.task)
              for name in names}
    deadline = None if args.time_limit is None else args.started + args.time_limit
    outcomes = run_grids(grid, splits, Path(args.results_dir), _cache(args), args.overwrite,
                         provenance={**provenance(), "device": device}, verbose=args.verbose, executor=executor,
                         deadline=deadline)
    for name in names:
        for path in write_report(_store(args).grid(name, grid_directory(_grid(args, name)))):
            log.info("wrote %s", path)
    _write_overview(_store(args))
    failed = {run_id: reason for o in outcomes.values() for run_id, reason in o.failed.items()}
    if failed:
        log.error("%d run(s) failed:", len(failed))
        for run_id, reason in failed.items():
            log.error("  %s: %s", run_id, reason)
        return 1
    if any(o.stopped_by_time_limit for o in outcomes.values()):
        log.info(time_limit_line(outcomes, args.time_limit, args.argv))
    return 0


def describe_executor(about: dict) -> str:
    """An executor's description in words: its name, then its settings (``local, threads 2, jit_compile on``)."""
    def word(v):
        return ("on" if v else "off") if isinstance(v, bool) else v

    return ", ".join([str(about.get("name", "?")), *(f"{k.replace('_', ' ')} {word(v)}"
                                                     for k, v in about.items() if k != "name")])


def time_limit_line(outcomes: dict, limit: float, argv: list[str]) -> str:
    """What the time limit left, and the command that resumes it (this one, again)."""
    import shlex

    total = sum(len(o.done) + len(o.skipped) + len(o.interrupted) + len(o.not_started) for o in outcomes.values())
    done = sum(len(o.done) + len(o.skipped) for o in outcomes.values())
    stopped = sum(len(o.interrupted) for o in outcomes.values())
    command = shlex.join(["run_benchmark.py", *argv])
    return (f"time limit ({clock(limit)}) reached: {done} of {total} runs done, {stopped} stopped at a check "
            f"(they resume from it), {total - done - stopped} not started; resume with: python {command}")


def _run_grid_store(args):
    """The grid the options name and its store; (grid, None), after saying so, when it has not been run."""
    from benchmark.running.plan import grid_directory

    grid = _grid(args)
    store = _store(args).grid(grid.data.split, grid_directory(grid))
    if not store.exists():
        log.error("%s: no grid has been run here; run it first (with the same --grid, --split and budget "
                  "options), or name its folder with --results-dir", store.path)
        return grid, None
    return grid, store


def cmd_evaluate(args) -> int:
    from benchmark.running.evaluate import evaluate_grid
    from benchmark.running.plan import prepare_data

    grid, store = _run_grid_store(args)
    if store is None:
        return 1
    if args.on == "test":
        split = load_split(grid.data.split, args.data_dir, args.kaggle_dir, _cache(args), args.refresh,
                           task=grid.data.task)
        data = prepare_data(split, grid)
        check_same_test_part(store, data)
        beats, source = data.test, f"the grid's own test part ({grid.data.split} split)"
    else:
        from benchmark.external import load_external
        from benchmark.running.evaluate import check_fair

        check_fair(store, args.on)  # before fetching and building any beats
        beats, source = load_external(args.on, getattr(args, f"{args.on}_dir"), _cache(args), args.refresh)
        from benchmark.data.splits import relabelled
        from benchmark.tasks import task_of

        from benchmark.data.inputs import with_inputs

        beats = relabelled(beats, task_of(store.manifest()))  # built with AAMI classes, scored in the grid's task
        beats = with_inputs(beats, grid.data.inputs, f"{args.on}'s beats")
        log.info("%s: %d beats; %s", args.on, len(beats), source)
    from benchmark.provenance import provenance
    from benchmark.running.compute import describe_device

    about = {**provenance(), "device": describe_device(args.deterministic), "data": str(source)}
    table = evaluate_grid(store, beats, args.on, about)
    if not len(table):
        log.error("%s: no finished run has a saved model", store.path)
        return 1
    log.info("wrote %s", store.evaluation_path(args.on))
    print(table[["run_id", "macro_f1", *[c for c in ("saved_macro_f1", "beats_differing") if c in table]]]
          .to_string(index=False))
    if args.on == "test" and not table.reproduced.all():
        log.error("%d of %d saved models did not reproduce their runs' test predictions", (~table.reproduced).sum(),
                  len(table))
        return 1
    return 0


def check_same_test_part(store, data) -> None:
    """Refuse to score a grid's saved models on a test part other than the one its runs were tested on. A
    grid keyed before data keys digested the parts' contents has another key for the same data: its stored
    test beats (labels and records, in order) decide."""
    import numpy as np

    saved_key = store.manifest().get("data_key")
    if data.key == saved_key:
        return
    labels, records = store.test_labels(), store.test_records()
    same = (len(labels) == len(data.test.y) and np.array_equal(labels, data.test.y)
            and (records is None or np.array_equal(records, np.asarray(data.test.record).astype("U8"))))
    if not same:
        raise DataError(f"{store.path}: its runs were tested on other beats (data key {saved_key}, these records "
                        f"give {data.key}, and the stored test part differs)")
    log.warning("%s: data key %s differs from %s (a grid keyed before data keys digested contents, or one whose "
                "training or validation part has changed since); its test part is the same beats, so its saved "
                "models are scored on it", store.path, saved_key, data.key)


def cmd_export(args) -> int:
    from benchmark.serving.bundle import best_run, export_bundle, store_of_run

    if not args.out or bool(args.run) == bool(args.best):
        log.error("error: export needs --out DIR and either --run RUN_DIR or --grid G --split S --best")
        return 2
    if args.run:
        store, run_id = store_of_run(Path(args.run))
    else:
        if not args.grid or args.split in (None, "all"):
            log.error("error: export --best needs --grid and one --split")
            return 2
        store = _store(args).grid(args.split, args.grid)
        if not store.exists():
            raise DataError(f"{store.path}: no grid has been run here; name the results folder with --results-dir")
        run_id = best_run(store)
        log.info("best run on validation macro F1: %s (%.4f)", run_id, store.metrics(run_id)["best_val_macro_f1"])
    path = export_bundle(store, run_id, Path(args.out))
    log.info("wrote %s and the model next to it", path)
    return 0


def cmd_predict(args) -> int:
    from benchmark.serving.bundle import load_bundle
    from benchmark.serving.inputs import read_input
    from benchmark.serving.predict import classify, summary_text, table_text, write_result

    bundle_dir, input_path = args.operands
    bundle = load_bundle(Path(bundle_dir), args.runtime)
    result = classify(bundle, read_input(Path(input_path), args.fs, bundle.params))
    for warning in result["warnings"]:
        log.warning("warning: %s", warning)
    if args.out:
        write_result(result, bundle.classes, Path(args.out))
        log.info("wrote %s", args.out)
    else:
        print(table_text(result["rows"], bundle.classes), end="")
    # the table alone on standard output, so `predict ... > beats.csv` is a CSV; the summary beside it
    print(summary_text(result), file=sys.stdout if args.out else sys.stderr)
    return 0


def cmd_compare(args) -> int:
    from benchmark.reporting.input_comparison import write_comparison

    if args.split in (None, "all"):
        raise DataError("compare needs --split: the split whose two grid folders to compare")
    stores = [_store(args).grid(args.split, name) for name in args.operands]
    for store in stores:
        if not store.exists():
            raise DataError(f"{store.path}: no grid has been run here; run it first, or name the results folder "
                            "with --results-dir")
    for path in write_comparison(*stores, stores[0].path.parent):
        log.info("wrote %s", path)
    return 0


def cmd_serve(args) -> int:
    from benchmark.serving.bundle import load_bundle

    try:
        import uvicorn

        from benchmark.serving.app import create_app
    except ImportError as exc:
        log.error("error: serve needs the serve extra (%s): pip install -e \".[serve]\"", exc)
        return 2
    app = create_app(load_bundle(Path(args.operands[0]), args.runtime))
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")
    return 0


def _share(text: str) -> float:
    value = _positive_float(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"expected a share in (0, 1], got {text!r}")
    return value


def cmd_transfer(args) -> int:
    from benchmark.provenance import provenance
    from benchmark.running.compute import describe_device, resolve_jit
    from benchmark.transfer.config import TransferConfig
    from benchmark.transfer.plan import Selection
    from benchmark.transfer.report import write_transfer_report
    from benchmark.transfer.runner import run_transfer
    from benchmark.transfer.target import csv_target, external_target

    if not args.to and not args.to_csv:
        log.error("error: transfer needs a target: --to DATABASE or --to-csv DIR")
        return 2
    grid, store = _run_grid_store(args)
    if store is None:
        return 1
    try:
        config = TransferConfig(fractions=tuple(args.fractions), strategies=tuple(args.strategies),
                                steps=args.transfer_steps, eval_every=args.transfer_eval_every,
                                patience=args.transfer_patience, fine_tune_lr=args.fine_tune_lr,
                                parts=tuple(args.target_parts), split_seed=args.target_split_seed,
                                treat_target=args.treat_target)
    except ValueError as exc:
        raise DataError(str(exc)) from None
    manifest = store.manifest()
    target = csv_target(args.to_csv, manifest) if args.to_csv else \
        external_target(args.to, manifest, getattr(args, f"{args.to}_dir"), _cache(args), args.refresh)
    log.info("target %s: %d beats; %s", target.name, len(target.beats), target.source)
    device = describe_device(args.deterministic)
    outcome = run_transfer(store, target, config, Selection(args.models and tuple(args.models),
                                                            args.resamplers and tuple(args.resamplers),
                                                            args.seeds and tuple(args.seeds)),
                           resolve_jit(args.jit, device["backend"], device["kind"]),
                           {**provenance(), "device": device}, args.overwrite)
    for path in write_transfer_report(store):
        log.info("wrote %s", path)
    log.info("transfer: %d trained, %d skipped (done), %d failed", len(outcome.done), len(outcome.skipped),
             len(outcome.failed))
    for run_id, reason in outcome.failed.items():
        log.error("  %s: %s", run_id, reason)
    return 1 if outcome.failed else 0


def _cache(args) -> Path | None:
    return Path(args.cache_dir).expanduser() if args.cache_dir else None


def _early_settings(argv: list[str]) -> None:
    """Thread counts and deterministic kernels, set from the command line before any backend starts
    (building the parser imports the model registry, and with it Keras)."""
    from benchmark.running.compute import choose_backend, configure
    from benchmark.running.executors import thread_env

    early = argparse.ArgumentParser(add_help=False)
    early.add_argument("--threads", type=_positive)
    early.add_argument("--deterministic", action=argparse.BooleanOptionalAction, default=True)
    known, _ = early.parse_known_args(argv)
    os.environ.update(thread_env(known.threads or available_cores()))
    if argv[0] in JAX_COMMANDS:  # argv names its command (``_with_command``)
        choose_backend()
    configure(known.deterministic)


def main(argv: list[str] | None = None) -> int:
    from benchmark.logs import import_without_noise, quiet_backend_logs, setup

    started = time.time()  # --time-limit counts from here
    argv = _with_command(list(sys.argv[1:] if argv is None else argv))
    if "-h" in argv or "--help" in argv:
        build_parser().parse_args(argv)  # prints the help and exits, before any backend is imported
    _early_settings(argv)
    quiet = quiet_backend_logs()
    if quiet:
        import_without_noise(("keras",))  # before the models' registry imports Keras
    top = build_parser()
    args, extra = top.parse_known_args(argv)
    commands = top._subparsers._group_actions[0].choices
    parser = commands[args.command]  # its errors name the command
    if extra:
        _refuse(parser, commands, extra)
    for key, value in _defaults().items():  # the options other commands have: their defaults
        if not hasattr(args, key):
            setattr(args, key, value)
    args.operands = [vars(args)[k] for k in POSITIONALS[args.command]]
    args.started = started
    args.argv = argv
    setup(verbose=args.verbose)
    if quiet and args.command in ("run", "evaluate", "transfer", "tune"):
        import_without_noise(("tensorflow",))  # Keras seeds TensorFlow when it is installed, whatever the backend
    args.results_dir = args.results_dir or DEFAULT_RESULTS[args.command]
    args.threads = args.threads or available_cores()
    if args.grid is not None and args.grid not in GRIDS and args.command not in GRID_FOLDER_COMMANDS:
        parser.error(f"argument --grid: invalid choice: {args.grid!r} (choose from {', '.join(sorted(GRIDS))}; "
                     f"{' and '.join(GRID_FOLDER_COMMANDS)} also take a grid's folder, such as quick-rr)")
    if args.workers and args.executor != "pool":
        parser.error("--workers goes with --executor pool")
    if args.time_limit and args.executor == "packed":
        parser.error("--time-limit needs runs that checkpoint: --executor local, pool or ray (packed runs do not)")
    if args.executor != "ray" and (args.ray_address or args.ray_workers):
        parser.error("--ray-address and --ray-workers go with --executor ray")
    _check_schedule(parser, args)
    from benchmark.tuning.command import check_tune_arguments

    check_tune_arguments(parser, args)
    if args.ray_address and args.ray_workers:
        parser.error("--ray-workers sizes a local Ray instance; a cluster at --ray-address has its own CPUs")
    try:
        return {"run": cmd_run, "data": cmd_data, "report": cmd_report, "evaluate": cmd_evaluate, "export": cmd_export,
                "predict": cmd_predict, "serve": cmd_serve, "compare": cmd_compare,
                "transfer": cmd_transfer, "tune": cmd_tune}[args.command](args)
    except DataError as exc:
        log.error("error: %s", exc)
        return 2
