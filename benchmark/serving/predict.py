"""Beats classified by a bundle's model: one row per beat (position, class, class probabilities) and a
class summary, printed or written as CSV or JSON."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmark.errors import DataError
from benchmark.files import write_json, write_text


def predictions(bundle, beats) -> list[dict]:
    """One dict per beat: ``beat`` (its index), ``sample`` (R peak in the recording, or None), ``class``,
    ``probabilities`` by class name and, where the input labelled it, ``given_class`` in the bundle's task."""
    from benchmark.tasks import get_task

    proba = bundle.predict_proba(beats.x, beats.rr)
    classes = bundle.classes
    given = None
    if beats.labels is not None:
        given = get_task(bundle.metadata["task"]).relabel(beats.labels)
    rows = []
    for i, p in enumerate(proba):
        row = {"beat": i, "sample": None if beats.sample is None else int(beats.sample[i]),
               "class": classes[int(np.argmax(p))],
               "probabilities": {c: round(float(v), 6) for c, v in zip(classes, p)}}
        if given is not None:
            row["given_class"] = classes[int(given[i])]
        rows.append(row)
    return rows


def summary(rows: list[dict], classes: tuple[str, ...]) -> dict:
    """Beats per predicted class (every class named, zeros included), and agreement with given classes."""
    counts = {c: 0 for c in classes}
    for row in rows:
        counts[row["class"]] += 1
    out = {"beats": len(rows), "per_class": counts}
    labelled = [r for r in rows if "given_class" in r]
    if labelled:
        out["agreeing_with_given_class"] = sum(r["class"] == r["given_class"] for r in labelled)
    return out


def summary_text(result: dict) -> str:
    s = result["summary"]
    n = max(s["beats"], 1)
    lines = [f"{result['source']}: {s['beats']} beats"]
    lines += [f"  {c:>10}  {k:7d}  {100 * k / n:5.1f}%" for c, k in s["per_class"].items()]
    if "agreeing_with_given_class" in s:
        lines.append(f"  predicted class = the file's class for {s['agreeing_with_given_class']} of {s['beats']}")
    return "\n".join(lines)


def table_text(rows: list[dict], classes: tuple[str, ...]) -> str:
    """The rows as CSV: beat, sample, class, (given_class,) one probability column per class."""
    given = any("given_class" in r for r in rows)
    head = ["beat", "sample", "class", *(["given_class"] if given else []), *(f"p_{c}" for c in classes)]
    lines = [",".join(head)]
    for r in rows:
        cells = [str(r["beat"]), "" if r["sample"] is None else str(r["sample"]), r["class"],
                 *([r.get("given_class", "")] if given else []), *(f"{r['probabilities'][c]:.6f}" for c in classes)]
        lines.append(",".join(cells))
    return "\n".join(lines) + "\n"


def classify(bundle, beats) -> dict:
    """Everything ``predict`` reports of ``beats``: the model, the source, the rows and their summary."""
    if not len(beats):
        from benchmark.serving.inputs import NoBeats

        raise NoBeats(f"{beats.source}: no usable beats (too short, or every beat ran past its end)")
    rows = predictions(bundle, beats)
    return {"model": bundle.metadata["run"]["run_id"], "source": beats.source, "rows": rows,
            "summary": summary(rows, bundle.classes), "warnings": bundle.warnings(beats)}


def write_result(result: dict, classes: tuple[str, ...], out: Path) -> None:
    """``out``: .csv (one row per beat) or .json (rows and summary)."""
    out = Path(out)
    if out.suffix.lower() == ".csv":
        write_text(out, table_text(result["rows"], classes))
    elif out.suffix.lower() == ".json":
        write_json(out, result)
    else:
        raise DataError(f"{out}: --out must end in .csv or .json")
