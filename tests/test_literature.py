"""Every published figure the reports quote comes from the one cited table, and no other code states one."""
import re
from pathlib import Path

from benchmark.literature import INTER_PATIENT, INTRA_PATIENT, f1_of, published_s_f1, s_f1_sentence

ROOT = Path(__file__).resolve().parents[1]


def test_every_row_names_its_source_year_and_venue():
    for row in (*INTER_PATIENT, *INTRA_PATIENT):
        assert re.search(r"\b(19|20)\d\d\b", row.source) and row.venue, row


def test_the_quoted_s_f1_range_is_computed_from_the_cited_rows():
    values = [v for _, v in published_s_f1()]
    assert f"{min(values):.2f}–{max(values):.2f}" in s_f1_sentence()
    assert f1_of(76.0, 38.0) == 2 * 0.76 * 0.38 / (0.76 + 0.38)
    assert all(row.n_classes == 5 for row in INTER_PATIENT if row.source in s_f1_sentence())


def test_no_report_module_states_a_published_number_of_its_own():
    """Words like 'published' or 'literature' next to a number belong in benchmark/literature.py only."""
    pattern = re.compile(r"(published|literature|reported|reimplementation)[^\"'\n]{0,60}\d\.\d", re.IGNORECASE)
    for path in (ROOT / "benchmark").rglob("*.py"):
        if path.name == "literature.py":
            continue
        hits = [line for line in path.read_text().splitlines() if pattern.search(line)]
        assert not hits, f"{path}: {hits}"
