"""The plan of a transfer: which saved runs it starts from, the runs it makes, and the identity that names each.

A transfer run is identified like a grid's run: its id names the source run (or, from scratch, only its model,
which is all such a run takes from it), the target, the strategy, the fraction of the fine-tuning part, the
treatment of that part (the source's own, or ``none``) and a hash of everything that can change its result:
the source run's identity, the target's data (the beats of its fraction, validation and test parts), the split
settings, the budget, the seed and digests of the code (model, training, treatment and this package). A
finished run is skipped on rerun; a changed setting makes a new run.

A *cell* is what the report reads: (source run, strategy, fraction, treatment). Cells that would train the same
thing share one run: every source run of a model shares its from-scratch runs, and a source run without
treatment has one treatment of the target part, not two. Zero-shot takes no target data, so it is one run per
source run, shown at every fraction.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from functools import lru_cache
from importlib.metadata import version
from pathlib import Path

from benchmark.config import config_hash
from benchmark.running.plan import PROJECT, digest, model_code, resampler_code, training_code, with_project_imports
from benchmark.store import GridStore
from benchmark.tasks import task_of
from benchmark.transfer.config import FROM_SOURCE, TransferConfig, fraction_tag
from benchmark.transfer.strategies import SourceRun, class_map, uses_weights

log = logging.getLogger(__name__)
# the code that computes a transfer run (the report's modules are not part of it)
TRANSFER_SOURCES = tuple(PROJECT / "benchmark/transfer" / f for f in ("config.py", "split.py", "target.py",
                                                                      "strategies.py", "plan.py", "runner.py"))


@dataclass(frozen=True)
class Selection:
    """Which of the grid's runs to start from (None: all of the grid's)."""

    models: tuple[str, ...] | None = None
    resamplers: tuple[str, ...] | None = None
    seeds: tuple[int, ...] | None = None

    def wants(self, model: str, resampler: str, seed: int) -> bool:
        return ((self.models is None or model in self.models)
                and (self.resamplers is None or resampler in self.resamplers)
                and (self.seeds is None or seed in self.seeds))


@dataclass(frozen=True)
class TransferRun:
    """One run of a transfer; ``cells``: the (source run, strategy, fraction, treatment) cells it fills."""

    run_id: str
    strategy: str
    model: str
    seed: int
    fraction: float | None  # None: zero-shot, which takes no target data
    treatment: str | None
    source: SourceRun | None  # the saved run it starts from (None: from scratch)
    identity: dict = field(compare=False)
    cells: tuple[str, ...] = ()


@lru_cache(maxsize=None)
def transfer_code() -> str:
    """Digest of the code that computes a transfer run: this package's modules and what they import."""
    files = with_project_imports(TRANSFER_SOURCES)
    return digest([f"{Path(f).relative_to(PROJECT).as_posix()}\n{Path(f).read_text()}" for f in files])


def cell_key(source_run: str, strategy: str, fraction: float | None, treatment: str | None) -> str:
    return "/".join([source_run, strategy, "-" if fraction is None else fraction_tag(fraction), treatment or "-"])


def source_runs(grid: GridStore, selection: Selection) -> tuple[list[SourceRun], dict[str, str]]:
    """The grid's finished runs with a saved model that ``selection`` asks for, in the grid's order, and
    {run_id: why it cannot be a source} for the others asked for."""
    from models import builder_arguments

    manifest = grid.manifest()
    task = task_of(manifest)
    sources, skipped = [], {}
    for run_id in manifest["runs"]:
        metrics = grid.metrics(run_id)
        if metrics is None:
            model, resampler, seed, _ = run_id.split("__")
            if selection.wants(model, resampler, int(seed.removeprefix("seed"))):
                skipped[run_id] = "not finished (no metrics.json): run the grid first"
            continue
        if not selection.wants(metrics["model"], metrics["resampler"], metrics["seed"]):
            continue
        path = grid.model_path(run_id)
        builder = metrics.get("identity", {}).get("builder")
        if path is None:
            skipped[run_id] = "no saved model (trained before models were kept)"
        elif builder is not None and builder != builder_arguments(metrics["model"]):
            skipped[run_id] = (f"its model was built with {builder}; the builder now gives "
                               f"{builder_arguments(metrics['model'])}, so a build would not hold its weights")
        else:
            sources.append(SourceRun(run_id, metrics["model"], metrics["resampler"], metrics["seed"],
                                     metrics.get("config", run_id.rsplit("__", 1)[-1]), path, task,
                                     builder if builder is not None else builder_arguments(metrics["model"])))
    return sources, skipped


def plan_runs(sources: list[SourceRun], target_name: str, task, config: TransferConfig, train_configs: dict,
              data_keys: dict, target_identity: dict) -> tuple[list[TransferRun], dict[str, tuple[str, dict]],
                                                               dict[str, str]]:
    """Every run the transfer makes, once each, in the order they run (zero-shot first, then by fraction and
    treatment, so a treated part serves every model); {cell key: (its run id, what the cell is)}; and {source
    run id: what was left out for it, and why}.

    ``train_configs``: {strategy: TrainConfig}; ``data_keys``: {fraction or None (the test part alone): key}."""
    from models import builder_arguments

    runs: dict[str, TransferRun] = {}
    cells: dict[str, list[str]] = {}
    planned: dict[str, tuple[str, dict]] = {}
    notes: dict[str, str] = {}

    def add(strategy, source, fraction, treatment, identity, run_id):
        run = runs.get(run_id) or TransferRun(run_id, strategy, source.model, source.seed, fraction, treatment,
                                              source if strategy != "scratch" else None, identity)
        runs[run_id] = run
        key = cell_key(source.run_id, strategy, fraction, treatment)
        cells.setdefault(run_id, []).append(key)
        planned[key] = run_id, {"source_run": source.run_id, "model": source.model, "resampler": source.resampler,
                                "seed": source.seed, "strategy": strategy, "fraction": fraction, "treatment": treatment}

    def note(source, words):
        notes[source.run_id] = "; ".join(filter(None, [notes.get(source.run_id), words]))

    base = {"target": target_identity, "task": task.as_dict(), "code": {"transfer": transfer_code()}}
    for source in sources:
        origin = {"run_id": source.run_id, "config": source.config}
        if "zero_shot" in config.strategies:
            if class_map(source.task, task) is None:
                note(source, f"zero-shot left out: its {source.task.name} classes do not map onto {task.name}'s")
            else:
                identity = {**base, "strategy": "zero_shot", "source": origin, "data_key": data_keys[None]}
                add("zero_shot", source, None, None, identity,
                    f"{source.run_id}__to-{target_name}__zero_shot__{config_hash(identity)}")
        if not uses_weights(source.model) and any(s in FROM_SOURCE for s in config.strategies):
            note(source, f"a {source.model} model has no weights to fine-tune or freeze: zero-shot and from scratch "
                         "only")
        for fraction in config.fractions:
            for treatment in config.treatments(source.resampler):
                for strategy in (s for s in config.strategies if s != "zero_shot"):
                    if strategy in FROM_SOURCE and not uses_weights(source.model):
                        continue
                    identity = {**base, "strategy": strategy, "model": source.model, "seed": source.seed,
                                "builder": builder_arguments(source.model),
                                "source": origin if strategy in FROM_SOURCE else None,
                                "fraction": fraction, "data_key": data_keys[fraction],
                                "treatment": _treatment_identity(treatment, source.seed),
                                "train": train_configs[strategy].as_dict(),
                                "code": {**base["code"], "model": model_code(source.model),
                                         "training": training_code()}}
                    hashed = config_hash(identity)
                    where = f"to-{target_name}__{strategy}__{fraction_tag(fraction)}__treat-{treatment}__{hashed}"
                    run_id = f"{source.model}__seed{source.seed}__{where}" if strategy == "scratch" \
                        else f"{source.run_id}__{where}"
                    add(strategy, source, fraction, treatment, identity, run_id)
    order = {s: i for i, s in enumerate(("zero_shot", "fine_tune", "frozen", "scratch"))}
    order_of = sorted(runs.values(), key=lambda r: (r.fraction is not None, r.fraction or 0, r.treatment or "",
                                                   r.seed, r.model, order[r.strategy]))
    return [replace(r, cells=tuple(cells[r.run_id])) for r in order_of], planned, notes


def _treatment_identity(treatment: str, seed: int) -> dict:
    from resampling import sampler_parameters

    return {"name": treatment, "sampler": sampler_parameters(treatment, seed), "code": resampler_code(treatment),
            "imbalanced_learn": version("imbalanced-learn")}
