"""Frozen configuration: the training budget, the grids, and the hash that names a run."""
from __future__ import annotations

import hashlib
import json
import numbers
from dataclasses import asdict, dataclass, field, replace

from benchmark.data.inputs import InputConfig
from benchmark.search_space import Choice, FloatRange


@dataclass(frozen=True)
class TrainConfig:
    """The training budget and optimiser, identical for every model and resampler of a grid.

    ``steps`` counts optimizer updates, whatever the size of the (resampled) training set, so an
    oversampled set never gets more updates than the original one.

    ``lr_schedule``: "step" (``learning_rate`` × ``lr_decay`` every ``lr_decay_steps`` steps) or
    "triangular" (the ResNet project's cyclical rate: from ``lr_min`` up to ``lr_max`` and back, linearly,
    once every ``lr_cycle_steps`` steps; Smith 2017). The triangular fields join the identity
    (``as_dict``) only when they are used, so a step-decay run keeps the identity it always had.
    """

    steps: int = 10_000
    batch_size: int = 128
    eval_every: int = 500  # optimizer steps between validation macro-F1 checks
    patience: int = 5  # validation checks without improvement before stopping early
    learning_rate: float = 1e-3
    lr_decay: float = 0.75  # Kachuee et al.: lr × 0.75 every 10,000 steps
    lr_decay_steps: int = 10_000
    lr_schedule: str = "step"
    lr_min: float = 1e-4
    lr_max: float = 1e-3
    lr_cycle_steps: int = 2_000

    def __post_init__(self):
        # a count of 0 fails every run late (--steps 0) or divides by zero (--eval-every 0 makes packed runs NaN)
        for name in ("steps", "batch_size", "eval_every", "patience", "lr_decay_steps", "lr_cycle_steps"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
                raise ValueError(f"TrainConfig.{name} must be a whole number of at least 1, got {value!r}; "
                                 f"give it a positive count (e.g. {name}={getattr(TrainConfig, name)})")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"TrainConfig.lr_schedule must be one of {', '.join(LR_SCHEDULES)}, got "
                             f"{self.lr_schedule!r}")
        if not 0 <= self.lr_min <= self.lr_max or not 0 < self.lr_max < float("inf"):
            raise ValueError(f"TrainConfig: the triangular schedule needs 0 <= lr_min <= lr_max, lr_max > 0; got "
                             f"lr_min={self.lr_min!r}, lr_max={self.lr_max!r}")

    def as_dict(self) -> dict:
        fields = asdict(self)
        if self.lr_schedule == "step":  # unused: a step-decay run's identity is the one it had before them
            for name in CYCLICAL_FIELDS:
                del fields[name]
        return fields


LR_SCHEDULES = ("step", "triangular")
CYCLICAL_FIELDS = ("lr_schedule", "lr_min", "lr_max", "lr_cycle_steps")
# what tuned settings (--params) may set of a model's training; the budget (steps, checks, patience) stays
# the grid's, so a tuned run and an untuned one get the same number of optimizer steps
TUNABLE_TRAIN_FIELDS = ("learning_rate", "batch_size", "lr_decay", "lr_decay_steps", *CYCLICAL_FIELDS)
# What a tune tries of the training settings of a model trained for steps (the LSTM project tuned them):
# the rate, the batch and the schedule. A triangular trial cycles from a tenth of the rate up to it
# (`tuned_training`): the ratio of the schedule's own bounds. A grid's own values are the defaults.
TRAIN_SEARCH_SPACE = {"learning_rate": FloatRange(1e-4, 1e-2, log=True, points=(3e-4, 1e-3, 3e-3)),
                      "batch_size": Choice((64, 128, 256)), "lr_schedule": Choice(LR_SCHEDULES)}


def tuned_training(values: dict, base: TrainConfig) -> dict:
    """The TrainConfig fields a tune's training values set, given the grid's budget ``base``: with the
    triangular schedule, ``learning_rate`` is its upper bound and a tenth of it the lower one."""
    fields = dict(values)
    if fields.get("lr_schedule", base.lr_schedule) == "triangular" and "learning_rate" in fields:
        fields["lr_max"] = fields["learning_rate"]
        fields["lr_min"] = float(f"{fields['learning_rate'] / 10:.6g}")
    return fields


def _pairs(mapping: dict) -> tuple:
    return tuple(sorted(mapping.items()))


@dataclass(frozen=True)
class TunedSettings:
    """Settings a tune found, given to a grid (``--params FILE``): per model, builder hyperparameters and
    training fields (``TUNABLE_TRAIN_FIELDS``); per treatment, sampler parameters. Held as sorted pairs so the
    grid stays a frozen, hashable value; part of every run's identity and of the grid's folder name."""

    models: tuple = ()  # ((model, (hyperparameter pairs, train pairs)), ...)
    treatments: tuple = ()  # ((treatment, parameter pairs), ...)

    @classmethod
    def of(cls, models: dict | None = None, treatments: dict | None = None) -> "TunedSettings":
        """From {model: {"hyperparameters": {...}, "train": {...}}} and {treatment: {parameter: value}}."""
        for model, settings in (models or {}).items():
            unknown = sorted(set(settings.get("train", {})) - set(TUNABLE_TRAIN_FIELDS))
            if unknown:
                raise ValueError(f"tuned settings of {model!r}: {', '.join(unknown)} cannot be tuned (the budget is "
                                 f"the grid's); training fields that can: {', '.join(TUNABLE_TRAIN_FIELDS)}")
        return cls(tuple(sorted((m, (_pairs(s.get("hyperparameters", {})), _pairs(s.get("train", {}))))
                                for m, s in (models or {}).items())),
                   tuple(sorted((t, _pairs(p)) for t, p in (treatments or {}).items())))

    def __bool__(self) -> bool:
        return bool(self.models or self.treatments)

    def hyperparameters(self, model: str) -> dict:
        return dict(dict(self.models).get(model, ((), ()))[0])

    def train(self, model: str, base: TrainConfig) -> TrainConfig:
        """The model's training: the grid's ``base`` with the model's tuned fields."""
        return replace(base, **dict(dict(self.models).get(model, ((), ()))[1]))

    def for_model(self, model: str) -> dict:
        """The model's tuned settings as a run's identity records them ({} when it has none)."""
        if model not in dict(self.models):
            return {}
        return {"hyperparameters": self.hyperparameters(model), "train": dict(dict(self.models)[model][1])}

    def as_dict(self) -> dict:
        return {"models": {m: self.for_model(m) for m, _ in self.models},
                "treatments": {t: dict(p) for t, p in self.treatments}}


@dataclass(frozen=True)
class DataConfig:
    """Which data a grid runs on. ``subset``: stratified sizes of (train, validation, test), or None;
    ``task``: the classes its beats are labelled with (``benchmark.tasks``); ``inputs``: what a model sees
    of each beat (``benchmark.data.inputs``), in the identity only when it is not the whole window alone,
    so a run of the default input keeps the identity it always had."""

    split: str = "intra"
    subset: tuple[int, int, int] | None = None
    task: str = "aami5"
    inputs: InputConfig = field(default_factory=InputConfig)

    def as_dict(self) -> dict:
        fields = {"split": self.split, "subset": self.subset, "task": self.task}
        return fields if self.inputs.is_default else {**fields, "inputs": self.inputs.as_dict()}


@dataclass(frozen=True)
class Grid:
    name: str
    models: tuple[str, ...]
    resamplers: tuple[str, ...]
    seeds: tuple[int, ...]
    train: TrainConfig
    data: DataConfig
    description: str = ""  # what it is, for --help (the published systems' presets)
    params: TunedSettings = field(default_factory=TunedSettings)  # tuned settings (--params); empty: none
    # a preset's own builder settings where they are not the builder's defaults ((model, pairs), ...): a published
    # system as it was built, kept when the benchmark's defaults move; in the runs' identity, not the folder's name
    builders: tuple = ()

    def cells(self) -> list[tuple[str, int, str]]:
        """(resampler, seed, model) in the order they run: seed-major (every cell's seed 0, then seed 1, ...), so a
        grid stopped part-way is a whole grid of fewer seeds; within a seed a resampled set serves every model."""
        return [(r, s, m) for s in self.seeds for r in self.resamplers for m in self.models]

    def train_for(self, model: str) -> TrainConfig:
        """How ``model`` trains in this grid: the grid's budget, with its tuned training fields if any."""
        return self.params.train(model, self.train)

    def hyperparameters_for(self, model: str) -> dict:
        """``model``'s builder hyperparameters where they are not its defaults: the preset's own, then the tuned
        ones over them ({}: its builder's defaults)."""
        return {**dict(dict(self.builders).get(model, ())), **self.params.hyperparameters(model)}


# The members of the published benchmark. The registries (``models``, ``resampling``) list what can
# run; a grid names what it runs, so registering a model or resampler never changes a preset grid.
BENCHMARK_MODELS = ("mlp", "cnn", "lstm", "resnet")
BENCHMARK_RESAMPLERS = ("none", "random", "smote", "adasyn", "smote_enn", "class_weight")

GRIDS = {
    # CI: every cell once, on a small stratified subset, in under 3 minutes on 2 cores.
    "smoke": Grid("smoke", BENCHMARK_MODELS, BENCHMARK_RESAMPLERS, (0,),
                  TrainConfig(steps=40, batch_size=64, eval_every=20, patience=2),
                  DataConfig(subset=(2000, 600, 1200))),
    # Every cell once on the full data, sized for about an hour on 2 CPU cores.
    "quick": Grid("quick", BENCHMARK_MODELS, BENCHMARK_RESAMPLERS, (0,),
                  TrainConfig(steps=2000, eval_every=250, patience=4), DataConfig()),
    # The benchmark proper: five seeds and the full budget.
    "full": Grid("full", BENCHMARK_MODELS, BENCHMARK_RESAMPLERS, (0, 1, 2, 3, 4), TrainConfig(), DataConfig()),
}


# The five published systems the harness grew from (../shared/seeds/), each as it was configured: model,
# input, treatment, task and schedule as their READMEs give them. None of them states its budget in steps,
# so each gets the benchmark's full budget (10,000 steps, early stopping on validation macro F1); their
# published figures, in their own metrics, are in benchmark/literature.py (PUBLISHED_SYSTEMS).
PRESETS = {
    "lstm_first140_oversampled": Grid(
        "lstm_first140_oversampled", ("lstm",), ("random",), (0,), TrainConfig(),
        DataConfig(inputs=InputConfig(samples=140)),
        "the LSTM project: an LSTM on the first 140 samples of each beat, every minority class randomly "
        "oversampled to the majority's size",
        # the preset as it always ran: two LSTM layers read at the last step (the benchmark's LSTM until #37)
        builders=(("lstm", (("layers", 2), ("readout", "last"))),)),
    "resnet_smote_enn_cyclical": Grid(
        "resnet_smote_enn_cyclical", ("resnet",), ("smote_enn",), (0,), TrainConfig(lr_schedule="triangular"),
        DataConfig(),
        "the ResNet project: a residual CNN on SMOTE-ENN-treated beats with a triangular cyclical learning rate"),
    "cnn_lstm_gmm_stats": Grid(
        "cnn_lstm_gmm_stats", ("cnn_lstm",), ("gmm",), (0,), TrainConfig(),
        DataConfig(inputs=InputConfig(beat_stats=True)),
        "the CNN-LSTM project: a CNN-LSTM with the beat's mean, standard deviation, skewness and kurtosis "
        "beside it, minority classes raised by Gaussian-mixture draws"),
    "mlp_cnn_oversampling": Grid(
        "mlp_cnn_oversampling", ("mlp", "cnn"), ("none", "random", "smote", "adasyn"), (0,), TrainConfig(),
        DataConfig(),
        "the MLP / deep-CNN oversampling study: a baseline MLP and a deep CNN, each without resampling and with "
        "random oversampling, SMOTE and ADASYN"),
    "binary_mlp_rf_noise": Grid(
        "binary_mlp_rf_noise", ("mlp_128_64_16", "random_forest"),
        ("under_over[majority_fraction=0.662,minority_fraction=0.5,noise_scale=0.02]",), (0,), TrainConfig(),
        DataConfig(task="binary"),
        "the binary normal/abnormal project: Dense 128-64-16 and a random forest, N cut to 66.2% of its "
        "beats and abnormal beats raised by Gaussian-noise copies to half of that, as its own cut and raise"),
}
GRIDS.update(PRESETS)


def customise(grid: Grid, models=None, resamplers=None, seeds=None, split=None, task=None, inputs=None,
              **train_overrides) -> Grid:
    """A copy of ``grid`` with the given parts replaced; ``None`` keeps the grid's own value."""
    train = replace(grid.train, **{k: v for k, v in train_overrides.items() if v is not None})
    data = replace(grid.data, **{k: v for k, v in (("split", split), ("task", task), ("inputs", inputs)) if v})
    return replace(grid, models=tuple(models or grid.models), resamplers=tuple(resamplers or grid.resamplers),
                   seeds=tuple(grid.seeds if seeds is None else seeds), train=train, data=data)


def config_hash(*parts) -> str:
    """Short stable hash of JSON-able parts; changes whenever any setting changes."""
    payload = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:10]
