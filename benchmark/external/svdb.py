"""svdb, the MIT-BIH Supraventricular Arrhythmia Database: 78 other patients, another recording setup.
Always fair (no mitdb patient is in it); its section is per-class Se / +P and record-level tests."""
from __future__ import annotations

from benchmark.data.external import load_database_beats
from benchmark.data.records import SVDB
from benchmark.external.registry import ExternalSet, register_external


def _section(g, evaluation, figure_dir):
    from benchmark.reporting.shift_sections import external_section

    return external_section(g, "svdb", evaluation), []


def _overview(g, evaluation):
    from benchmark.reporting.shifts import shifted_scores

    return "→ svdb", shifted_scores(g, evaluation)


register_external(ExternalSet(
    "svdb", SVDB,
    help="the MIT-BIH Supraventricular Arrhythmia Database (78 other patients)",
    load=lambda data_dir, cache_dir, refresh, params: load_database_beats(SVDB, data_dir, cache_dir, refresh, params),
    refused=lambda manifest: None,
    section=_section, overview=_overview,
    overview_note="`→ svdb`: the same saved models on the external svdb database, macro F1 over the classes with "
                  "enough beats there (see the grid's report)"))
