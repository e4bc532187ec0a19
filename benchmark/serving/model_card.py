"""A bundle's model card (``MODEL_CARD.md``, a Hugging Face-style YAML header and its text): what the model is,
what it was trained and tested on, its test scores with intervals over the test records (the patients), what it
is for, and where it is not to be trusted. And the warning for a recording the model was trained on."""
from __future__ import annotations

import numpy as np

MODEL_CARD = "MODEL_CARD.md"
RELIABLE_RECALL = 0.8  # a class whose recall's interval over test records lies above this is called reliable
SPLIT_WORDS = {
    "intra": "intra-patient (beats of every MIT-BIH record in training, validation and test alike: the Kaggle "
             "set's 80/20 split; scores here overstate what it does on a new patient)",
    "inter": "inter-patient (de Chazal's DS1 records trained it, DS2's 22 other patients tested it)",
    "inter_ds2": "inter-patient (DS1 trained it; DS2 without records 118 and 119 tested it)",
    "kaggle": "the Kaggle CSVs' own train/test split (intra-patient)",
}


def test_scores(store, run_id: str, classes: list[str], n_boot: int = 2000) -> dict:
    """The run's test macro F1 and per-class recall, each with its 95% interval over resamples of the test
    records: {name: (value, low, high)}; the test beats and records of each class as ``support``."""
    from benchmark.metrics.stats import record_interval
    from benchmark.metrics.evaluator import metric_of

    y, groups, pred = store.test_labels(), store.test_records(), store.predictions(run_id)
    scores = {"macro_f1": record_interval(y, pred, groups, metric_of("macro_f1", tuple(classes)), len(classes),
                                          n_boot)}
    for i, c in enumerate(classes):
        if np.any(y == i):
            scores[f"recall_{c}"] = record_interval(y, pred, groups, metric_of(f"recall_{c}", tuple(classes)),
                                                    len(classes), n_boot)
    support = {c: (int(np.sum(y == i)), len(set(groups[y == i].tolist()))) for i, c in enumerate(classes)}
    return {"scores": scores, "support": support}


def _yaml(value, indent: int = 0) -> list[str]:
    """A small YAML writer for the header (plain dicts, lists, strings and numbers)."""
    pad, lines = " " * indent, []
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(v, (dict, list)):
                lines += [f"{pad}{k}:", *_yaml(v, indent + 2)]
            else:
                lines.append(f"{pad}{k}: {_scalar(v)}")
    else:
        for item in value:
            if not isinstance(item, (dict, list)):
                lines.append(f"{pad}- {_scalar(item)}")
                continue
            inner = _yaml(item, indent + 2)
            lines.append(f"{pad}- {inner[0].strip()}")
            lines += inner[1:]
    return lines


def _scalar(v) -> str:
    if isinstance(v, bool) or v is None:
        return {True: "true", False: "false", None: "null"}[v]
    if isinstance(v, (int, float)):
        return f"{v:.4f}" if isinstance(v, float) else str(v)
    return '"' + str(v).replace('"', "'") + '"'


def model_card(store, run_id: str, metadata: dict) -> str:
    """The text of ``MODEL_CARD.md`` for run ``run_id`` of ``store``, bundled with ``metadata`` (bundle.json)."""
    manifest = store.manifest()
    classes, run = metadata["classes"], metadata["run"]
    measured = test_scores(store, run_id, classes)
    scores, support = measured["scores"], measured["support"]
    split = store.split
    reliable = [c for c in classes if f"recall_{c}" in scores and scores[f"recall_{c}"][1] >= RELIABLE_RECALL]
    unreliable = [c for c in classes if c not in reliable]
    header = {
        "library_name": "keras" if metadata["model_file"].endswith(".keras") else "scikit-learn",
        "tags": ["ecg", "heartbeat-classification", "mit-bih", "class-imbalance", metadata["model"]],
        "datasets": ["physionet/mitdb"],
        "metrics": ["f1", "recall"],
        "model-index": [{"name": run_id, "results": [{
            "task": {"type": "heartbeat-classification", "name": f"{metadata['task']} beat classes"},
            "dataset": {"name": "MIT-BIH Arrhythmia Database", "type": "physionet/mitdb", "split": split},
            "metrics": [{"type": "f1" if name == "macro_f1" else "recall",
                         "name": "test macro F1" if name == "macro_f1" else f"test recall of {name[len('recall_'):]}",
                         "value": value, "args": {"interval_95_over_test_records": [low, high]}}
                        for name, (value, low, high) in scores.items()]}]}],
    }
    train, val = manifest.get("train_records", []), manifest.get("validation_records", [])
    named = ", ".join(f"{c} ({metadata['class_names'][c]})" for c in classes)
    lines = ["---", *_yaml(header), "---", "", f"# Model card: {run_id}", "",
             f"A `{metadata['model']}` trained with the `{run['resampler']}` treatment (seed {run['seed']}) by "
             f"ecg-oversampling-bench, grid `{run['grid_directory']}` of the `{split}` split, commit "
             f"{metadata.get('commit') or 'unknown'}. It classifies single heartbeats (187-sample windows at 125 Hz "
             f"from the R peak, scaled to [0, 1]) into {named}.",
             "", "## Intended use", "",
             "Research on heartbeat classification and on class-imbalance handling: reading what a model of this "
             "benchmark does on recordings. Not a medical device, not validated for diagnosis or monitoring; its "
             "scores come from one database's 48 patients (MIT-BIH, recorded 1975-79).", "",
             "## Training and evaluation data", "",
             f"Split: {SPLIT_WORDS.get(split, split)}. Trained on the beats of {len(train)} records "
             f"({', '.join(train)}); validation (choosing its weights) from {len(val)} records; tested on "
             f"{len(set(store.test_records().tolist()))} records. The weights are those of the best validation "
             f"macro F1 ({run['best_val_macro_f1']:.4f} at step {run['best_step']}); the test part played no part.",
             "", "## Test scores", "",
             "With 95% percentile intervals over 2,000 resamples of the test records (the patients), so they say "
             "how much the score depends on which patients were tested.", "",
             "| score | value | 95% interval | test beats (records) of the class |", "|---|---|---|---|"]
    for name, (value, low, high) in scores.items():
        c = name[len("recall_"):] if name.startswith("recall_") else None
        beats = f"{support[c][0]:,} ({support[c][1]})" if c else f"{sum(n for n, _ in support.values()):,}"
        label = "macro F1" if c is None else f"recall of {c}"
        lines.append(f"| {label} | {value:.3f} | {low:.3f} – {high:.3f} | {beats} |")
    lines += ["", "## Limits", "",
              f"- Reliable here (the recall's interval above {RELIABLE_RECALL}): "
              f"{', '.join(reliable) or 'no class'}; not reliable: {', '.join(unreliable) or 'none'}. A class held by "
              "few test records is measured on those patients alone.",
              "- A recording from a record in the training list above was seen in training: `predict` and the page say "
              "so, and their output on it is no test of the model.",
              "- Another database, lead or sampling rate than MLII at 360 Hz resampled to 125 Hz is outside what it "
              "was tested on (the benchmark's `transfer` and svdb evaluations measure that).", ""]
    return "\n".join(lines)


def seen_warning(metadata: dict, record: str | None) -> str | None:
    """What to say when ``record`` (a WFDB record's name) was in the model's training part; None otherwise."""
    if record is None or record not in metadata.get("training_records", []):
        return None
    return (f"record {record} was in this model's training part ({metadata['run']['split']} split): its beats "
            "trained the model, so these predictions are no test of it")
