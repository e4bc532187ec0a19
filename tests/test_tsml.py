"""Every run in tsml-eval's results-file format, read back by tsml-eval's own loader with the report's scores."""
import numpy as np
import pytest
from sklearn.metrics import f1_score

from benchmark.cli import main
from benchmark.reporting.analysis import read_grid
from benchmark.reporting.tsml import estimator_name, write_grid
from benchmark.store import RunStore
from tests.synthetic_store import write_synthetic_grid


def test_names_are_safe_for_folders_and_the_csv_header():
    assert estimator_name("mlp", "under_over[majority_count=6,minority_count=3]") == \
        "mlp__under_over(majority_count=6;minority_count=3)"


def test_tsml_eval_reads_every_run_back_with_the_reports_scores(tmp_path):
    storage = pytest.importorskip("tsml_eval.evaluation.storage")
    store = write_synthetic_grid(tmp_path / "results", models=("mlp", "cnn"), resamplers=("none", "random"),
                                 seeds=(0, 1), split="inter", n_test=300)
    grid = read_grid(store, compare=False)
    written, missing = write_grid(grid, tmp_path / "tsml")
    assert len(written) == 8 and not missing
    for _, run in grid.runs.iterrows():
        path = (tmp_path / "tsml" / f"{run.model}__{run.resampler}" / "Predictions" / "MITBIH-inter"
                / f"testResample{run.seed}.csv")
        loaded = storage.load_classifier_results(str(path))  # verifies sizes, probabilities and accuracy itself
        assert loaded.accuracy == pytest.approx(run.accuracy, abs=1e-12)
        macro = f1_score(loaded.class_labels, loaded.predictions, average="macro", labels=range(5), zero_division=0)
        assert macro == pytest.approx(run.macro_f1, abs=1e-12)
        assert loaded.resample_id == run.seed and loaded.dataset_name == "MITBIH-inter"
        assert np.array_equal(loaded.predictions, grid.predictions[run.run_id])
        assert np.allclose(loaded.probabilities, grid.store.probabilities(run.run_id), atol=1e-3)


def test_report_writes_them_on_demand_and_never_inside_the_results(tmp_path, capsys):
    write_synthetic_grid(tmp_path / "results", split="intra", name="quick")
    results = str(tmp_path / "results")
    assert main(["report", "--results-dir", results, "--tsml", str(tmp_path / "results" / "tsml")]) == 2
    assert "inside --results-dir" in capsys.readouterr().err
    assert main(["report", "--results-dir", results, "--tsml", str(tmp_path / "out")]) == 0
    files = sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.csv"))
    assert files == ["mlp__none/Predictions/MITBIH-intra/testResample0.csv",
                     "mlp__random/Predictions/MITBIH-intra/testResample0.csv"]
    first = (tmp_path / "out" / files[0]).read_text().splitlines()
    assert first[0].startswith("MITBIH-intra,mlp__none,TEST,0,MILLISECONDS,ecg-oversampling-bench grid quick run ")
    with pytest.raises(SystemExit):
        main(["data", "--tsml", str(tmp_path / "out")])
