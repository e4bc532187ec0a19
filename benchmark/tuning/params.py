"""The tuned-settings file: what a study found, as JSON a grid takes (``--params FILE``).

::

    {"format": "ecg-oversampling-bench tuned settings 1",
     "models": {"lstm": {"hyperparameters": {"units": 96, "bidirectional": false},
                         "train": {"learning_rate": 0.0021, "batch_size": 128, "lr_schedule": "step"}}},
     "treatments": {"under_over": {"majority_fraction": 0.4}},
     "source": {"study": "...", "trial": 17, "val_macro_f1": 0.91, "budget": {...}, "commit": "..."}}

Per model: builder hyperparameters and training fields (``benchmark.config.TUNABLE_TRAIN_FIELDS``; the
budget, steps, checks and patience, stays the grid's). Per treatment (optional): sampler parameters, which
every model of the grid that runs that treatment gets (a resampled part serves all of a grid's models); the
grid's resampler name then carries them (``smote[k_neighbors=7]``). ``source`` says where the settings came
from and is not part of any identity; everything else is, and names the grid's folder (``<grid>-tuned-<hash>``).
"""
from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path

from benchmark.config import Grid, TrainConfig, TunedSettings
from benchmark.errors import DataError
from benchmark.files import write_json

log = logging.getLogger(__name__)
FORMAT = "ecg-oversampling-bench tuned settings 1"
KEYS = ("format", "models", "treatments", "source")


def read_params(path: Path) -> tuple[TunedSettings, dict]:
    """(the settings of a tuned-settings file, checked against the registries; its ``source``). DataError
    naming the file and what is wrong: not JSON, an unknown model, hyperparameter, training field or treatment
    parameter, or a value no run can train with."""
    from models import builder_arguments, list_models
    from resampling import check_resampler

    path = Path(path)
    try:
        payload = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: not a readable tuned-settings file ({exc}); write one with `tune`") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise DataError(f"{path}: not a tuned-settings file (its \"format\" is not {FORMAT!r}); write one with `tune`")
    unknown = sorted(set(payload) - set(KEYS))
    if unknown:
        raise DataError(f"{path}: unknown keys {', '.join(unknown)}; a tuned-settings file holds {', '.join(KEYS)}")
    models, treatments = payload.get("models") or {}, payload.get("treatments") or {}
    for model, settings in models.items():
        if model not in list_models():
            raise DataError(f"{path}: unknown model {model!r}; known models: {', '.join(list_models())}")
        extra = sorted(set(settings) - {"hyperparameters", "train"})
        if extra:
            raise DataError(f"{path}: model {model!r}: unknown keys {', '.join(extra)}; give hyperparameters and train")
        try:
            builder_arguments(model, **settings.get("hyperparameters", {}))
            TrainConfig(**settings.get("train", {}))
        except (TypeError, ValueError) as exc:
            raise DataError(f"{path}: {exc}") from None
    for treatment, parameters in treatments.items():
        try:
            check_resampler(_named(treatment, parameters))
        except ValueError as exc:
            raise DataError(f"{path}: treatment {treatment!r}: {exc}") from None
    try:
        settings = TunedSettings.of(models, treatments)
    except ValueError as exc:
        raise DataError(f"{path}: {exc}") from None
    return settings, dict(payload.get("source") or {})


def load_params(paths: list[str | Path]) -> tuple[TunedSettings, list[dict]]:
    """The settings of one or more files, merged; a model or treatment in two files is refused."""
    models, treatments, sources = {}, {}, []
    for path in paths:
        settings, source = read_params(Path(path))
        for name in (m for m, _ in settings.models):
            if name in models:
                raise DataError(f"{path}: model {name!r} is tuned in another --params file too; give one file per model")
            models[name] = settings.for_model(name)
        for name, parameters in settings.treatments:
            if name in treatments:
                raise DataError(f"{path}: treatment {name!r} is tuned in another --params file too")
            treatments[name] = dict(parameters)
        sources.append({**source, "file": str(path)})
    return TunedSettings.of(models, treatments), sources


def with_params(grid: Grid, settings: TunedSettings, sources: list[dict] = ()) -> Grid:
    """``grid`` given the tuned settings of its own models and treatments (the others are left out, so they
    name no folder); its resampler names carry the treatments' parameters."""
    from resampling import canonical_name
    from resampling.registry import parse_name

    models = {m: settings.for_model(m) for m, _ in settings.models if m in grid.models}
    treatments = {t: dict(p) for t, p in settings.treatments}
    left_out = sorted({m for m, _ in settings.models} - set(models))
    if left_out:
        log.info("--params: settings for %s, not in this grid, left out", ", ".join(left_out))
    resamplers, used = [], {}
    for name in grid.resamplers:
        base, named = parse_name(name)
        tuned = treatments.get(base)
        if tuned is None:
            resamplers.append(name)
            continue
        clash = sorted(k for k in set(named) & set(tuned) if named[k] != tuned[k])
        if clash:
            raise DataError(f"--params sets {base}'s {', '.join(clash)} and --resamplers {name!r} sets "
                            f"{'it' if len(clash) == 1 else 'them'} otherwise; name the treatment without them")
        used[base] = tuned
        resamplers.append(canonical_name(_named(base, {**named, **tuned})))
    for source in sources:
        budget = source.get("budget")
        if budget and budget != {k: v for k, v in grid.train.as_dict().items() if k in budget}:
            log.warning("--params %s: tuned with the budget %s; this grid trains with %s", source.get("file"),
                        budget, grid.train.as_dict())
    return replace(grid, resamplers=tuple(resamplers), params=TunedSettings.of(models, used))


def params_payload(model: str, hyperparameters: dict, train: dict, treatments: dict, source: dict) -> dict:
    """A tuned-settings file's content (``write_params``)."""
    payload = {"format": FORMAT, "models": {model: {"hyperparameters": hyperparameters, "train": train}}}
    if treatments:
        payload["treatments"] = treatments
    return {**payload, "source": source}


def write_params(path: Path, payload: dict) -> Path:
    write_json(Path(path), payload)
    read_params(Path(path))  # what was written is what a grid reads
    return Path(path)


def _named(treatment: str, parameters: dict) -> str:
    from resampling.registry import _text

    return treatment + ("[" + ",".join(f"{k}={_text(v)}" for k, v in sorted(parameters.items())) + "]"
                        if parameters else "")
