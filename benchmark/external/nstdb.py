"""nstdb, the MIT-BIH Noise Stress Test Database: mitdb records 118 and 119 with electrode-motion noise at
24 … −6 dB. Fair only for grids whose models never saw 118 and 119; its section is the noise curve."""
from __future__ import annotations

from benchmark.data.external import base_record, load_database_beats, nstdb_records_seen, snr_of
from benchmark.data.records import NSTDB
from benchmark.external.registry import ExternalSet, register_external


def _refused(manifest: dict) -> str | None:
    seen = nstdb_records_seen(manifest)
    if not seen:
        return None
    return (f"its models trained on mitdb record(s) {', '.join(seen)}, the records nstdb adds its noise to, so "
            "their noise curve would score patients they have seen. Run a grid that holds them out (--split "
            "inter_ds2 trains on DS2) and evaluate that one")


def _load(data_dir, cache_dir, refresh, params):
    return load_database_beats(NSTDB, data_dir, cache_dir, refresh, params, check_record=snr_of)


def _section(g, evaluation, figure_dir):
    from benchmark.reporting.shift_sections import noise_section

    return noise_section(g, evaluation, figure_dir / "noise_curves.png")


def _overview(g, evaluation):
    from benchmark.reporting.shifts import noisy_scores

    lowest, scores = noisy_scores(g, evaluation)
    return f"→ nstdb {lowest} dB", scores


register_external(ExternalSet(
    "nstdb", NSTDB,
    help="the noise-stress records (118 and 119 with noise at 24 … −6 dB; only for grids whose models never "
         "saw those records)",
    load=_load, refused=_refused, section=_section, overview=_overview, patient=base_record,
    overview_note="`→ nstdb … dB`: the same saved models on nstdb's noisy segments at its lowest SNR, macro F1 over "
                  "the classes with enough beats there (2 patients: the grid's report has the whole curve)"))
