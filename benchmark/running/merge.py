"""Pieces of one grid trained on other machines, merged into its folder here.

A GPU lent ten minutes at a time trains a split model by model; each piece comes back as a grid folder
of its own (``benchmarks/gpu_full_grid.sh`` packs it, ``benchmarks/gpu_unpack.py`` unpacks it). Merging a
piece is resuming the grid across machines, so it obeys the run store's rules:

- the piece must be the same grid: the same settings, data key, test part and records; anything else is
  refused, naming what differs, and nothing is written;
- a cell may hold one run: a piece whose run for a cell has another identity than the one already here
  (the code or a setting changed between pieces) is refused, since the grid would mix two versions;
- a run already here must hold the same bytes in every file both copies have (a file one of them lacks,
  such as a saved model left behind to keep the transfer small, is added);
- an evaluation (``evaluations/<set>.npz``) of the same beats keeps the runs scored here and adds the
  piece's; who scored which runs where is kept for each piece.

Merging twice is a no-op. The reports are rebuilt afterwards (``run_benchmark.py report``).
"""
from __future__ import annotations

import filecmp
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from benchmark.store import (ERROR, EVALUATIONS, MANIFEST, METRICS, RUNS, TEST_LABELS, TEST_RECORDS, GridStore,
                             StoreError)

# the manifest's fields that make two folders one grid (the rest are derived, or differ per piece)
SAME_GRID = ("grid", "directory", "split", "train", "data", "data_key", "task", "class_counts", "train_records",
             "validation_records", "params")


@dataclass
class MergeOutcome:
    grid: str
    added: list[str] = field(default_factory=list)  # runs new here
    completed: list[str] = field(default_factory=list)  # runs here that gained files (a saved model, say)
    unchanged: list[str] = field(default_factory=list)
    evaluations: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"{self.grid}: {len(self.added)} run(s) added, {len(self.completed)} completed, "
                f"{len(self.unchanged)} already here; evaluations merged: {', '.join(self.evaluations) or 'none'}")


def _union(old: list, new: list) -> list:
    return list(dict.fromkeys([*old, *new]))


def _check_same_grid(piece: GridStore, into: GridStore, a: dict, b: dict) -> None:
    for key in SAME_GRID:
        if a.get(key) != b.get(key):
            raise StoreError(f"{piece.path}: not a piece of {into.path}: its {key!r} differs "
                             f"({b.get(key)!r} there, {a.get(key)!r} here)")
    same_labels = np.array_equal(piece.test_labels(), into.test_labels())
    records_a, records_b = piece.test_records(), into.test_records()
    if not same_labels or (records_a is not None and records_b is not None and not np.array_equal(records_a, records_b)):
        raise StoreError(f"{piece.path}: its test part differs from {into.path}'s; the grid would mix two test sets")


def _check_cells(piece: GridStore, into: GridStore, a: dict, b: dict) -> None:
    for cell, run_id in b["cells"].items():
        here = a["cells"].get(cell)
        if here is not None and here != run_id:
            raise StoreError(f"{piece.path}: cell {cell} is run {run_id} there and {here} here: the code or a "
                             "setting that enters a run's identity changed between the pieces; rerun the grid "
                             "(or the piece) at one commit instead of mixing them")


def _check_run(source: Path, target: Path) -> list[str]:
    """The files ``source`` has and ``target`` lacks; refuses a file both have with other bytes (a finished
    run here is never replaced by a failure, nor a failure kept beside a finished run)."""
    missing = []
    for f in sorted(p for p in source.iterdir() if p.is_file()):
        if f.name == ERROR and (target / METRICS).exists():
            continue  # finished here: the piece's failure of the same run is stale
        there = target / f.name
        if not there.exists():
            missing.append(f.name)
        elif f.name != ERROR and not filecmp.cmp(f, there, shallow=False):
            raise StoreError(f"{source}: run {source.name} is here too, with another {f.name} ({there}); the same "
                             "identity with other results means another machine or backend trained it. Keep one: "
                             "move one of the two runs away first")
    return missing


def merge_manifest(a: dict, b: dict) -> dict:
    """``a`` (here) with ``b``'s (the piece's) cells, models, resamplers and seeds added, and each piece's
    provenance kept under ``pieces``."""
    cells = {**a["cells"], **b["cells"]}
    models, resamplers, seeds = (_union(a[k], b[k]) for k in ("models", "resamplers", "seeds"))
    runs = [cells[c] for r in resamplers for s in seeds for m in models if (c := f"{m}/{r}/{s}") in cells]
    pieces = a.get("pieces") or [{"models": a["models"], "provenance": a.get("provenance")}]
    piece = {"models": b["models"], "provenance": b.get("provenance")}
    return {**a, "models": models, "resamplers": resamplers, "seeds": seeds, "cells": cells, "runs": runs,
            "superseded": _union(a.get("superseded", []), b.get("superseded", [])),
            "pieces": pieces if piece in pieces else [*pieces, piece]}


def merge_grid(piece: GridStore, into: GridStore) -> MergeOutcome:
    """Merge the grid folder ``piece`` into ``into`` (created when absent); see the module's rules. All the
    checks run before the first write."""
    b = piece.manifest()
    outcome = MergeOutcome(f"{into.split}/{into.name}")
    runs = sorted(p for p in (piece.path / RUNS).iterdir() if p.is_dir()) if (piece.path / RUNS).exists() else []
    if not into.exists():
        a = None
    else:
        a = into.manifest()
        _check_same_grid(piece, into, a, b)
        _check_cells(piece, into, a, b)
    plans = []
    for source in runs:
        target = into.run_dir(source.name)
        if target.exists():
            missing = _check_run(source, target)
            (outcome.completed if missing else outcome.unchanged).append(source.name)
            plans.append((source, target, missing))
        else:
            outcome.added.append(source.name)
            plans.append((source, target, None))
    from benchmark.running.evaluate import merge_evaluation, read_evaluation, same_beats

    evaluations = [(p.stem, read_evaluation(piece, p.stem))
                   for p in sorted((piece.path / EVALUATIONS).glob("*.npz"))] if (piece.path / EVALUATIONS).exists() else []
    heres = {}  # into's evaluations, read once: checked here, joined below
    if a is not None:
        for name, evaluation in evaluations:
            here = heres[name] = read_evaluation(into, name) if into.evaluation_path(name).exists() else None
            if here is not None and not same_beats(here, evaluation):
                raise StoreError(f"{piece.path / EVALUATIONS / name}.npz: scored other beats than {into.path}'s "
                                 f"{name} evaluation; refusing to mix them")
    # everything checked: write
    into.path.mkdir(parents=True, exist_ok=True)
    if a is None:
        for name in (MANIFEST, TEST_LABELS, TEST_RECORDS):  # the grid's data files; reports are rebuilt
            if (piece.path / name).exists():
                shutil.copy2(piece.path / name, into.path / name)
        a = b
    for source, target, missing in plans:
        if missing is None:
            shutil.copytree(source, target)
        else:
            for name in missing:
                shutil.copy2(source / name, target / name)
            if (target / METRICS).exists():
                (target / ERROR).unlink(missing_ok=True)
    into.write_manifest(merge_manifest(a, b))
    for name, evaluation in evaluations:
        merge_evaluation(into, name, *evaluation, earlier=heres.get(name))
        outcome.evaluations.append(name)
    return outcome


def merge_pieces(pieces_root: Path, results_root: Path) -> list[MergeOutcome]:
    """Every grid folder under ``pieces_root`` (``<split>/<grid>/grid.json``) merged into the same place under
    ``results_root``."""
    grids = sorted(p.parent for p in Path(pieces_root).glob(f"*/*/{GridStore.manifest_name}"))
    if not grids:
        raise StoreError(f"{pieces_root}: no grid folder (<split>/<grid>/grid.json) in it")
    return [merge_grid(GridStore(g), GridStore(Path(results_root) / g.parent.name / g.name)) for g in grids]
