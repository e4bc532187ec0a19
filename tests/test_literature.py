"""Every published figure the reports quote comes from the one cited table, and no other code states one."""
import re
from pathlib import Path

from benchmark.literature import INTER_PATIENT, INTRA_PATIENT, f1_of, published_s_f1, s_f1_sentence

ROOT = Path(__file__).resolve().parents[1]


def test_every_row_names_its_source_year_venue_doi_and_where_each_number_stands():
    for row in (*INTER_PATIENT, *INTRA_PATIENT):
        assert re.search(r"\b(19|20)\d\d\b", row.source) and row.venue, row
        assert re.fullmatch(r"10\.\d{4,5}/\S+", row.doi) and row.where and row.checked, row
    assert len({row.doi for row in (*INTER_PATIENT, *INTRA_PATIENT)}) == len(INTER_PATIENT) + len(INTRA_PATIENT)


def test_the_rows_that_define_the_bar_are_there_with_their_published_figures():
    rows = {row.source.split(" (")[0]: row.values for row in (*INTER_PATIENT, *INTRA_PATIENT)}
    assert rows["de Chazal et al. 2004"] == {"Se S": 75.9, "+P S": 38.5, "Se V": 77.7, "+P V": 81.9}
    assert (rows["Xu et al. 2022"]["F1 S"], rows["Xu et al. 2022"]["F1 V"]) == (82.8, 91.7)
    assert (rows["Niu et al. 2020"]["F1 S"], rows["Niu et al. 2020"]["F1 V"]) == (76.6, 89.7)
    assert rows["Llamedo & Martínez 2011"]["Se S"] == 77.0 and rows["Zhang et al. 2014"]["accuracy"] == 86.66
    assert rows["Kachuee et al. 2018"]["accuracy"] == 93.4 and rows["Elgazzar 2026"]["macro F1"] == 96.38
    assert rows["El-Ghaish & Eldele 2024"]["macro F1"] == 94.26


def test_the_quoted_s_f1_range_is_computed_from_the_cited_rows():
    values = [v for _, v in published_s_f1()]
    assert f"{min(values):.2f}–{max(values):.2f}" in s_f1_sentence()
    assert f1_of(76.0, 38.0) == 2 * 0.76 * 0.38 / (0.76 + 0.38)
    assert "0.48–0.83" in s_f1_sentence()  # Mar 2011 (from Se, +P) to Xu 2022 (as published)
    assert published_s_f1()[-1] == ("Xu et al. 2022", 0.828)


def test_no_report_module_states_a_published_number_of_its_own():
    """Words like 'published' or 'literature' next to a number belong in benchmark/literature.py only."""
    pattern = re.compile(r"(published|literature|reported|reimplementation)[^\"'\n]{0,60}\d\.\d", re.IGNORECASE)
    for path in (ROOT / "benchmark").rglob("*.py"):
        if path.name == "literature.py":
            continue
        hits = [line for line in path.read_text().splitlines() if pattern.search(line)]
        assert not hits, f"{path}: {hits}"
