"""Sentences the reports generate that claimed too much (#39 item 9), each held to what the runs support."""
import pandas as pd

from benchmark.reporting.analysis import read_grid, summarise, summary_metrics
from benchmark.reporting.narrative import _reading
from benchmark.reporting.report import write_overview
from benchmark.store import RunStore
from benchmark.tasks import get_task
from tests.synthetic_store import write_synthetic_grid


def test_a_smoke_grid_reads_as_a_check_of_the_harness_not_a_result(tmp_path):
    store = write_synthetic_grid(tmp_path, resamplers=("none", "random", "smote"), subset=[2000, 600, 1200])
    text = "\n".join(_reading(read_grid(store)))
    assert "A check of the harness, not a result: 10 steps a run on a stratified subset (2,000 / 600 / 1,200" in text
    assert "Best cell" not in text and "Significant" not in text
    full = write_synthetic_grid(tmp_path / "full", resamplers=("none", "random", "smote"))
    assert "Best cell" in "\n".join(_reading(read_grid(full)))  # a grid on the full data is read


def test_a_cell_with_a_collapsed_run_is_never_the_best():
    task = get_task("aami5")
    rows = []
    for resampler, f1, collapsed in (("none", 0.5, False), ("random", 0.9, True), ("smote", 0.6, False)):
        row = {m: f1 for m in summary_metrics(task)}
        rows.append({**row, "model": "mlp", "resampler": resampler, "seed": 0, "collapsed": collapsed})
    summary = summarise(pd.DataFrame(rows), ["mlp"], ["none", "random", "smote"], task)
    assert summary.set_index("resampler").best_for_model.to_dict() == {"none": False, "random": False, "smote": True}
    no_column = summarise(pd.DataFrame(rows).drop(columns="collapsed"), ["mlp"], ["none", "random", "smote"], task)
    assert no_column.set_index("resampler").best_for_model.to_dict()["random"]  # without the column: by score


def test_the_reading_names_its_best_among_cells_that_did_not_collapse(tmp_path):
    store = write_synthetic_grid(tmp_path, resamplers=("none", "random", "smote"), collapse=("mlp", "none"))
    g = read_grid(store)
    text = "\n".join(_reading(g))
    assert "Best cell without a collapsed run" in text and "**mlp × none**" not in text
    assert "among the cells without a collapsed run" in text


def test_the_overview_names_each_grids_budget_and_only_few_beats_as_few(tmp_path):
    write_synthetic_grid(tmp_path, task="binary", split="intra", name="quick", n_test=400)
    write_synthetic_grid(tmp_path, task="binary", split="inter", name="quick", n_test=400)
    text = write_overview(RunStore(tmp_path)).read_text()
    assert "grid `quick`, 10 steps a run, seeds 0" in text
    assert "with few test beats moves it by itself" in text and "on the inter split:" not in text  # none is few


def test_the_overview_says_a_partial_grid_is_partial(tmp_path):
    store = write_synthetic_grid(tmp_path, split="intra", name="full", seeds=(0, 1, 2),
                                 resamplers=("none", "random"), not_run=(("mlp", "random"),))
    text = write_overview(RunStore(tmp_path)).read_text()
    assert "grid `full`, 10 steps a run, a partial grid: 3 of its 6 runs finished, of seed(s) 0, 1, 2 of 0, 1, 2" in text
    assert store.path.name == "full"
