"""The inter-patient split in the literature's form (#39 item 2): macro F1 over N, S, V and F is its primary
score (tables, bold cells, paired tests, ranks), the five-class figure secondary; intra keeps macro F1."""
import numpy as np
import pandas as pd

from benchmark.metrics.comparisons import compare_cells
from benchmark.reporting.analysis import primary_score, read_grid, summarise, summary_metrics
from benchmark.reporting.narrative import _reading
from benchmark.reporting.tables import bootstrap_paragraph, macro_table, recall_table
from benchmark.tasks import get_task
from tests.synthetic_store import write_synthetic_grid

AAMI5 = get_task("aami5")


def test_inter_patient_splits_score_n_s_v_f_and_intra_every_class():
    for split in ("inter", "inter_ds2"):
        score = primary_score(split, AAMI5)
        assert (score.column, score.label, score.classes) == ("macro_f1_nsvf", "macro F1 (N S V F)", (0, 1, 2, 3))
        assert "Q out" in score.why
    assert primary_score("intra", AAMI5).column == "macro_f1" and primary_score("intra", AAMI5).classes is None
    binary = get_task("binary")  # its reported classes are all its classes: macro F1 itself
    assert primary_score("inter", binary).column == "macro_f1"


def test_the_best_cell_is_chosen_by_the_primary_score_not_the_five_class_one():
    rows = []
    for resampler, five, four in (("none", 0.60, 0.50), ("random", 0.55, 0.70)):
        row = {m: five for m in summary_metrics(AAMI5)} | {"macro_f1_nsvf": four}
        rows.append({**row, "model": "mlp", "resampler": resampler, "seed": 0, "collapsed": False})
    runs = pd.DataFrame(rows)
    inter = summarise(runs, ["mlp"], ["none", "random"], AAMI5, primary_score("inter", AAMI5))
    assert inter.set_index("resampler").best_for_model.to_dict() == {"none": False, "random": True}
    assert inter.set_index("resampler").score_mean.to_dict() == {"none": 0.50, "random": 0.70}
    intra = summarise(runs, ["mlp"], ["none", "random"], AAMI5, primary_score("intra", AAMI5))
    assert intra.set_index("resampler").best_for_model.to_dict() == {"none": True, "random": False}


def test_the_paired_tests_leave_q_out_on_inter():
    """Two cells that differ only on Q beats: a five-class gap, none over N, S, V, F."""
    rng = np.random.default_rng(0)
    y = rng.choice(5, 600, p=[0.6, 0.1, 0.1, 0.1, 0.1])
    a = y.copy()
    b = y.copy()
    b[y == 4] = 0  # b misses every Q beat (Q called N): N's precision falls a little too
    a_only_q = a.copy()
    runs = pd.DataFrame([{"model": "m", "resampler": r, "seed": 0, "run_id": r} for r in ("x", "none")])
    summary = pd.DataFrame([{"model": "m", "resampler": r, "best_val_macro_f1_mean": 0.5} for r in ("x", "none")])
    groups = np.arange(600) % 12
    five = compare_cells(runs, summary, {"x": a_only_q, "none": b}, y, ["m"], ["none", "x"], n_boot=200, groups=groups)
    four = compare_cells(runs, summary, {"x": a_only_q, "none": b}, y, ["m"], ["none", "x"], n_boot=200, groups=groups,
                         classes=(0, 1, 2, 3))
    assert five.difference.iloc[0] > 0.15  # Q's F1 is 1 against 0: a fifth of macro F1
    assert 0 < four.difference.iloc[0] < 0.05  # only N's precision differs


def test_an_inter_report_leads_with_the_literature_form(tmp_path):
    g = read_grid(write_synthetic_grid(tmp_path, resamplers=("none", "random"), split="inter"))
    assert g.score.label == "macro F1 (N S V F)" and g.comparisons is not None
    reading = "\n".join(_reading(g))
    assert reading.startswith("- Primary score: macro F1 (N S V F), the inter-patient literature's form")
    assert "Best cell: **" in reading and "macro F1 (N S V F) 0." in reading
    cell = g.cell("mlp", "none")
    assert f"{cell.macro_f1_nsvf_mean:.3f}" in macro_table(g) and "macro F1 (N S V F) 95% CI (t)" in recall_table(g)
    intra = read_grid(write_synthetic_grid(tmp_path / "intra", resamplers=("none", "random"), split="intra"))
    assert intra.score.label == "macro F1" and "Primary score" not in "\n".join(_reading(intra))
    assert f"{intra.cell('mlp', 'none').macro_f1_mean:.3f}" in macro_table(intra)


def test_the_tests_say_why_they_resample_records_and_seeds(tmp_path):
    one = read_grid(write_synthetic_grid(tmp_path / "one", resamplers=("none", "random")))
    assert "each verdict compares two training runs" in " ".join(bootstrap_paragraph(one))
    two = read_grid(write_synthetic_grid(tmp_path / "two", resamplers=("none", "random"), seeds=(0, 1)))
    words = " ".join(bootstrap_paragraph(two))
    assert "then the seeds with replacement" in words and "(2 seeds a cell here)" in words
    assert int(two.comparisons.n_seeds.max()) == 2


def test_the_cost_of_a_partial_grid_projects_its_runs_left_from_its_own_means(tmp_path):
    from benchmark.reporting.tables import compute_lines

    g = read_grid(write_synthetic_grid(tmp_path, resamplers=("none", "random"), seeds=(0, 1),
                                       not_run=[("mlp", "random")]), compare=False)
    seconds = g.runs.resample_seconds + g.runs.train_seconds
    words = compute_lines(g)[0]
    assert words.startswith(f"2 finished runs took {seconds.sum() / 3600:.1f} run-hours")
    assert f"the 2 runs left would take about {2 * seconds.mean() / 3600:.1f} run-hours more" in words


def test_a_seed_is_read_only_once_every_cell_has_run_it(tmp_path):
    """The campaign runs seed by seed: a table never mixes cells of two seeds with cells of one."""
    from benchmark.reporting.tables import compute_lines, spread_words

    store = write_synthetic_grid(tmp_path, resamplers=("none", "random"), seeds=(0, 1))
    begun = next(r for r in store.manifest()["runs"] if "__random__seed1__" in r)
    for path in store.run_dir(begun).iterdir():  # seed 1's random cell not run yet
        path.unlink()
    store.run_dir(begun).rmdir()
    g = read_grid(store)
    assert set(g.runs.seed) == {0} and g.held_back == {1: (1, 2)} and len(g.all_runs) == 3
    assert (g.summary.n_seeds == 1).all() and int(g.comparisons.n_seeds.max()) == 1
    assert "seed 1: 1 of its 2 runs finished, left out of every table and test until all have" in spread_words(g)
    assert compute_lines(g)[0].startswith("3 finished runs took")
    whole = read_grid(write_synthetic_grid(tmp_path / "whole", resamplers=("none", "random"), seeds=(0, 1)))
    assert whole.held_back == {} and set(whole.runs.seed) == {0, 1}
