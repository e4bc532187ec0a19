"""Registry of external test sets: databases the saved models are scored on without training
(``python run_benchmark.py evaluate --on NAME``).

An entry declares everything the rest of the code asks of a test set, so adding a database is one
:func:`register_external` call in one new file imported below, plus its beat loader: its PhysioNet
database (where its records come from: ``--NAME-dir``, ``$NAME_DIR`` or the cache), how its beats are
loaded, its fairness rule (a grid whose models saw its patients is refused), the report section that
renders its evaluation, and the overview's column. The command line's ``--on`` choices and ``--*-dir``
options, ``evaluate``'s refusal, and the report and overview iterate over the registry.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from benchmark.data.records import Database


@dataclass(frozen=True)
class ExternalSet:
    """One external test set.

    ``load(data_dir, cache_dir, refresh, params)``: (its BeatSet, where the beats came from in words).
    ``refused(manifest)``: why a grid's models may not be scored on it (they saw its patients), or None.
    ``section(g, evaluation, figure_dir)``: (REPORT.md lines, figures drawn) for a grid (a
    ``benchmark.reporting.analysis.SavedGrid``) and its evaluation (None when not scored).
    ``overview(g, evaluation)``: (the overview column's label, {(model, resampler): score}).
    ``patient(record)``: the patient a record belongs to, where records share patients (nstdb's are two
    patients at six SNRs); None: every record is its own patient. Splitting the set by patient
    (``benchmark.transfer``) keeps a patient on one side.
    """

    name: str
    database: Database
    help: str  # what it is, for --on's help
    load: Callable
    refused: Callable[[dict], str | None]
    section: Callable
    overview: Callable
    overview_note: str  # what the overview says of its column
    patient: Callable[[str], str] | None = None

    def patients(self, records) -> list[str]:
        """The patient of each of ``records``."""
        return [str(r) if self.patient is None else self.patient(str(r)) for r in records]

    @property
    def dir_option(self) -> str:
        return f"--{self.name}-dir"

    @property
    def dir_variable(self) -> str:
        return self.database.dir_variable


_EXTERNAL: dict[str, ExternalSet] = {}


def register_external(entry: ExternalSet) -> ExternalSet:
    if entry.name in _EXTERNAL:
        raise ValueError(f"external test set {entry.name!r} is registered twice")
    if entry.name == "test":
        raise ValueError("'test' is the grid's own test part, not an external test set")
    _EXTERNAL[entry.name] = entry
    return entry


def list_external() -> list[str]:
    return list(_EXTERNAL)


def get_external(name: str) -> ExternalSet:
    if name not in _EXTERNAL:
        raise KeyError(f"unknown external test set {name!r}; known: {', '.join(list_external())}")
    return _EXTERNAL[name]


def load_external(name: str, data_dir=None, cache_dir=None, refresh: bool = False, params=None):
    """The beats of a registered external test set (a BeatSet), and where they came from in words."""
    from benchmark.data.beats import BuildParams

    if name not in _EXTERNAL:
        raise ValueError(f"unknown external test set {name!r}; known: {', '.join(list_external())}")
    return _EXTERNAL[name].load(data_dir, cache_dir, refresh, params or BuildParams())


def external_sets() -> list[ExternalSet]:
    """Every registered set, in registration order (the order of the report's sections and columns)."""
    return list(_EXTERNAL.values())
