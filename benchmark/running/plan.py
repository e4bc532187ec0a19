"""The plan of a grid: its data, its runs, and the identity that names each run and cached part.

A run's identity holds everything that can change its result: the model's resolved hyperparameters,
the sampler's parameters, the training budget, the data (its content key and subset), the seed, and
digests of the code that builds the model, resamples the training part and trains. Its hash names the
run directory, so a change to any of them makes a new run instead of reusing an old result. A
resampled training part is cached under the resampling half of the same identity.
"""
from __future__ import annotations

import ast
import hashlib
import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from importlib.metadata import version
from pathlib import Path

import numpy as np

from benchmark.config import GRIDS, DataConfig, Grid, config_hash
from benchmark.data.beats import BeatSet
from benchmark.data.inputs import InputConfig, with_inputs
from benchmark.data.splits import SPLIT_SEED, Split, contents_key, stratified_subset
from benchmark.tasks import Task, get_task

PROJECT = Path(__file__).resolve().parents[2]
PACKAGES = ("benchmark", "models", "resampling")  # whose modules count as the project's code
# the code that trains a run, whichever executor runs it (packed runs are the runs they would be alone)
TRAINING_SOURCES = (PROJECT / "benchmark/running/trainer.py", PROJECT / "benchmark/running/packed.py")


@dataclass(frozen=True)
class RunSpec:
    split: str
    model: str
    resampler: str
    seed: int
    config: str  # hash of the run's identity
    resample_key: str  # names its resampled training part in the cache

    @property
    def run_id(self) -> str:
        return f"{self.model}__{self.resampler}__seed{self.seed}__{self.config}"

    @property
    def cell(self) -> str:
        return f"{self.model}/{self.resampler}/{self.seed}"


@dataclass
class GridData:
    """The parts a grid trains on, labelled for its task, their ``x`` the models' input (``inputs``), and
    their identity: ``key`` digests the inputs, labels and records of all three parts and the task, so any
    change to what a split holds (or to the code that carves it or builds the inputs) makes new runs and new
    cached parts."""

    train: BeatSet
    val: BeatSet
    test: BeatSet
    key: str
    source: str
    task: Task = get_task("aami5")
    inputs: InputConfig = InputConfig()

    @property
    def features(self) -> int:
        """How many features follow the waveform in each input row (the models' second branch)."""
        return self.inputs.n_features

    def held_out(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(validation x, y, test x, y), shaped for the models."""
        return self.val.x[..., None], self.val.y, self.test.x[..., None], self.test.y


def prepare_data(split: Split, grid: Grid) -> GridData:
    """The grid's parts (its stratified subset, if any) and their content key."""
    task = get_task(grid.data.task)
    if split.task != task.name:
        raise ValueError(f"the {split.name} split was labelled for task {split.task!r}, the grid asks for "
                         f"{task.name!r}; load it with task={task.name!r}")
    parts = [split.train, split.val, split.test]
    if grid.data.subset:
        parts = [stratified_subset(p, n, SPLIT_SEED) for p, n in zip(parts, grid.data.subset)]
    inputs = grid.data.inputs
    parts = [with_inputs(p, inputs, f"the {split.name} split's beats") for p in parts]
    return GridData(*parts, key=contents_key(parts, task.name), source=split.source, task=task, inputs=inputs)


def grid_directory(grid: Grid) -> str:
    """The name of a grid's directory in the run store: the preset's name when its budget and data are the
    preset's own, else the name with the task and the input's tag (``InputConfig.tag``) where they are not the
    preset's own (aami5 and the whole window for a grid that is no preset), and a hash of the budget and
    subset where those are changed, so a customised grid never mixes with it. A grid given tuned settings
    (``--params``) is ``<name>-tuned-<hash>``, the hash covering them too: tuned and untuned runs never mix."""
    preset = GRIDS.get(grid.name)
    own = preset.data if preset is not None else DataConfig()  # a preset's own task and input name no folder
    name = "-".join(p for p in (grid.name, "" if grid.data.task == own.task else grid.data.task,
                                "" if grid.data.inputs == own.inputs else grid.data.inputs.tag() or "window",
                                "tuned" if grid.params else "")
                    if p)
    if grid.params:
        return f"{name}-{config_hash(grid.train.as_dict(), grid.data.subset, grid.params.as_dict())}"
    if preset is not None and preset.train == grid.train and preset.data.subset == grid.data.subset:
        return name
    return f"{name}-{config_hash(grid.train.as_dict(), grid.data.subset)}"


# ---------------------------------------------------------------------- code identity

def _module_file(name: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    origin = Path(spec.origin).resolve() if spec and spec.origin else None
    return origin if origin and origin.is_relative_to(PROJECT) and origin.suffix == ".py" else None


def with_project_imports(files) -> list[Path]:
    """``files`` and every project module they import, directly or not."""
    seen, todo = set(), [Path(f).resolve() for f in files]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else []
            for name in names:
                if name.split(".")[0] in PACKAGES and name != "benchmark":
                    found = _module_file(name)
                    if found and found not in seen:
                        todo.append(found)
    return sorted(seen)


def digest(texts: list[str]) -> str:
    h = hashlib.sha256()
    for text in texts:
        h.update(hashlib.sha256(text.encode()).digest())
    return h.hexdigest()[:12]


def _files_digest(files) -> str:
    """Digest of the files' names (relative to the project) and contents."""
    def name(f: Path) -> str:
        return f.relative_to(PROJECT).as_posix() if f.is_relative_to(PROJECT) else f.name
    return digest([f"{name(Path(f))}\n{Path(f).read_text()}" for f in files])


@lru_cache(maxsize=None)
def model_code(model: str) -> str:
    """Digest of the code that builds ``model``: its builder's file, the registry, and what they import."""
    from models import builder_source
    from models import registry

    return _files_digest(with_project_imports([builder_source(model), registry.__file__]))


@lru_cache(maxsize=None)
def resampler_code(resampler: str) -> str:
    """Digest of the code that resamples: the factory's source and the project files it runs."""
    from resampling import sampler_code

    source, files = sampler_code(resampler)
    return digest([source, _files_digest(with_project_imports(files))])


def training_code() -> str:
    """Digest of the code that trains a run (read each time: a test may point it at other files)."""
    return _files_digest(with_project_imports(TRAINING_SOURCES))


# ---------------------------------------------------------------------- identities

def resampling_identity(data: GridData, resampler: str, seed: int) -> dict:
    from resampling import sampler_parameters

    return {"data_key": data.key, "resampler": resampler, "sampler": sampler_parameters(resampler, seed),
            "seed": seed, "code": resampler_code(resampler), "imbalanced_learn": version("imbalanced-learn")}


def resample_key(data: GridData, resampler: str, seed: int) -> str:
    """The name of a treated training part in the cache (``ResampleCache``): its resampling identity's hash."""
    return f"{resampler}-seed{seed}-{config_hash(resampling_identity(data, resampler, seed))}"


def run_identity(grid: Grid, data: GridData, model: str, resampler: str, seed: int) -> dict:
    """What names a run (module docstring); a model with tuned settings (``--params``) records them as
    ``tuned`` besides the resolved hyperparameters and training they give."""
    from models import builder_arguments

    identity = {"model": model, "builder": builder_arguments(model, **grid.hyperparameters_for(model)),
                "task": data.task.as_dict(), "resampling": resampling_identity(data, resampler, seed),
                "seed": seed, "train": grid.train_for(model).as_dict(), "data": grid.data.as_dict(),
                "data_key": data.key, "code": {"model": model_code(model), "training": training_code()}}
    tuned = grid.params.for_model(model)
    return {**identity, "tuned": tuned} if tuned else identity


def run_specs(grid: Grid, data: GridData) -> tuple[list[RunSpec], dict[str, dict]]:
    """The grid's runs in the order they run, and {run_id: identity}."""
    specs, identities = [], {}
    for resampler, seed, model in grid.cells():
        identity = run_identity(grid, data, model, resampler, seed)
        key = f"{resampler}-seed{seed}-{config_hash(identity['resampling'])}"  # resample_key, computed once
        spec = RunSpec(grid.data.split, model, resampler, seed, config_hash(identity), key)
        specs.append(spec)
        identities[spec.run_id] = identity
    return specs, identities
