"""The report from a run store written by hand (no training): failed against missing cells, a binary
task's classes and metrics, and every registered external test set's section."""
import numpy as np

from benchmark.reporting import figures
from benchmark.reporting.report import write_report
from benchmark.reporting.analysis import read_grid
from benchmark.reporting.tables import macro_table
from tests.synthetic_store import write_synthetic_grid


def test_heatmap_tells_a_failed_cell_from_one_never_run(tmp_path):
    store = write_synthetic_grid(tmp_path, models=("mlp", "cnn"), resamplers=("none", "smote"),
                                 failed=[("mlp", "smote")], not_run=[("cnn", "smote")])
    g = read_grid(store, compare=False)
    grid, status = figures.heatmap_cells(g.summary, g.failed, g.models, g.resamplers)
    assert status == [["", figures.FAILED], ["", figures.NOT_RUN]]
    assert np.isfinite(grid[:, 0]).all() and np.isnan(grid[:, 1]).all()
    assert list(g.failed) == ["mlp__smote__seed0__0123456789"]
    rows = macro_table(g).splitlines()
    assert rows[2].split("|")[3].strip() == "failed" and rows[3].split("|")[3].strip() == "—"
    path = figures.heatmap(g.summary, g.failed, g.models, g.resamplers, tmp_path / "h.png", "title")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    paths = write_report(store)
    assert any(p.name == "macro_f1_heatmap.png" for p in paths)
