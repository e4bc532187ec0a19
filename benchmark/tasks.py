"""Task registry: what a beat's label is, which classes a report shows, and how a run is scored.

Beats are built and cached with their AAMI EC57 class (``benchmark.data.beats``: N, S, V, F, Q from the
annotation symbols); a task groups those five classes into its own. Adding a task is one
:func:`register_task` call here (or in a file that this module imports): the command line's ``--task``
choices, the data config, the run identity, every table and the generic tests come from the registry.

- ``aami5``: the five AAMI classes (the benchmark's task, and Kachuee et al.'s);
- ``binary``: normal (N) against abnormal (S, V, F, Q), the binary-classification project's task.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

AAMI_CLASSES = ("N", "S", "V", "F", "Q")
AAMI_SYMBOLS = {"N": "NLRej", "S": "AaJS", "V": "VE", "F": "F", "Q": "/fQ"}  # annotation symbols per AAMI class


@dataclass(frozen=True)
class Task:
    """A classification task over AAMI-labelled beats.

    ``groups``: for each of the task's classes, in label order, the AAMI classes it holds (every AAMI
    class in exactly one). ``reported``: the classes the inter-patient literature reports Se and +P for.
    ``metrics``: the task's headline metrics, first the primary one (the one early stopping and the
    "best" choices use).
    """

    name: str
    groups: dict[str, tuple[str, ...]]
    long_names: dict[str, str]
    reported: tuple[str, ...]
    metrics: tuple[str, ...]
    description: str

    def __post_init__(self):
        covered = [c for members in self.groups.values() for c in members]
        if sorted(covered) != sorted(AAMI_CLASSES):
            raise ValueError(f"task {self.name!r}: its classes must hold every AAMI class exactly once, "
                             f"they hold {covered}")
        unknown = [c for c in self.reported if c not in self.groups]
        if unknown:
            raise ValueError(f"task {self.name!r}: reported classes {unknown} are not among its classes")

    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(self.groups)

    @property
    def n_classes(self) -> int:
        return len(self.groups)

    @property
    def primary_metric(self) -> str:
        return self.metrics[0]

    def aami_to_label(self) -> np.ndarray:
        """Lookup array: AAMI class index (0..4) → this task's label."""
        out = np.empty(len(AAMI_CLASSES), np.int8)
        for label, members in enumerate(self.groups.values()):
            for c in members:
                out[AAMI_CLASSES.index(c)] = label
        return out

    def relabel(self, aami_labels: np.ndarray) -> np.ndarray:
        """This task's labels of beats labelled with their AAMI class."""
        return self.aami_to_label()[np.asarray(aami_labels, dtype=np.int64)]

    def symbol_map(self) -> dict[str, int]:
        """Annotation symbol → this task's label (symbols of no AAMI class are not beats)."""
        lookup = self.aami_to_label()
        return {s: int(lookup[AAMI_CLASSES.index(c)]) for c, syms in AAMI_SYMBOLS.items() for s in syms}

    def as_dict(self) -> dict:
        """What the manifest and the identity record of the task."""
        return {"name": self.name, "classes": list(self.classes), "groups": {k: list(v) for k, v in self.groups.items()},
                "reported": list(self.reported), "metrics": list(self.metrics)}


_TASKS: dict[str, Task] = {}


def register_task(task: Task) -> Task:
    if task.name in _TASKS:
        raise ValueError(f"task {task.name!r} is registered twice")
    _TASKS[task.name] = task
    return task


def list_tasks() -> list[str]:
    return list(_TASKS)


def get_task(name: str) -> Task:
    if name not in _TASKS:
        raise KeyError(f"unknown task {name!r}; known tasks: {', '.join(list_tasks())}")
    return _TASKS[name]


def task_of(manifest: dict) -> Task:
    """The task a grid's manifest names; grids written before tasks existed are ``aami5``."""
    return get_task((manifest.get("task") or {}).get("name", "aami5"))


register_task(Task(
    "aami5", {c: (c,) for c in AAMI_CLASSES},
    {"N": "normal", "S": "supraventricular ectopic", "V": "ventricular ectopic", "F": "fusion",
     "Q": "unknown / paced"},
    reported=("N", "S", "V", "F"), metrics=("macro_f1",),
    description="the five AAMI EC57 classes"))

register_task(Task(
    "binary", {"normal": ("N",), "abnormal": ("S", "V", "F", "Q")},
    {"normal": "normal (AAMI N)", "abnormal": "abnormal (AAMI S, V, F, Q)"},
    reported=("normal", "abnormal"), metrics=("macro_f1", "sensitivity", "specificity", "auroc"),
    description="normal (N) against abnormal (S, V, F, Q); sensitivity is the abnormal class's recall"))
