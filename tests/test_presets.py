"""The five published systems as preset grids: each names registered parts as it was configured, has its
published figure with a source, and runs end to end through the command line."""
import pandas as pd
import pytest

from benchmark.config import GRIDS, PRESETS, TrainConfig
from benchmark.literature import published_system
from models import list_models
from resampling import check_resampler
from tests.conftest import write_database


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_a_preset_is_a_grid_of_registered_parts_with_its_published_figure(name):
    grid = PRESETS[name]
    assert GRIDS[name] is grid and grid.name == name and grid.description
    assert set(grid.models) <= set(list_models())
    assert all(check_resampler(r) == r for r in grid.resamplers), "written as the run names write them"
    assert grid.train.steps == TrainConfig().steps, "no published budget in steps: the benchmark's full one"
    published = published_system(name)
    assert published is not None and published.source and published.value and published.metric


def test_the_presets_are_configured_as_their_projects_were():
    assert PRESETS["lstm_first140_oversampled"].data.inputs.samples == 140
    assert PRESETS["resnet_smote_enn_cyclical"].train.lr_schedule == "triangular"
    assert PRESETS["cnn_lstm_gmm_stats"].data.inputs.beat_stats and PRESETS["cnn_lstm_gmm_stats"].resamplers == ("gmm",)
    assert PRESETS["binary_mlp_rf_noise"].data.task == "binary"
    assert set(PRESETS["mlp_cnn_oversampling"].resamplers) == {"none", "random", "smote", "adasyn"}


def test_a_preset_keeps_its_own_input_and_task_in_its_folder_name():
    from benchmark.config import customise
    from benchmark.data.inputs import InputConfig
    from benchmark.running.plan import grid_directory

    lstm = PRESETS["lstm_first140_oversampled"]
    assert grid_directory(lstm) == "lstm_first140_oversampled"
    assert grid_directory(customise(lstm, inputs=InputConfig(samples=140, rr=True))) == \
        "lstm_first140_oversampled-first140-rr"
    assert grid_directory(PRESETS["binary_mlp_rf_noise"]) == "binary_mlp_rf_noise"
    assert grid_directory(customise(PRESETS["binary_mlp_rf_noise"], task="aami5")) == "binary_mlp_rf_noise-aami5"


@pytest.mark.slow  # five grids on tiny records, ~1 min: .ci/run runs it
@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_runs_through_the_cli(name, tmp_path):
    from benchmark.cli import main
    from benchmark.store import RunStore

    db = write_database(tmp_path / "mitdb", n_beats=400)  # enough S, V, F, Q beats for a 3-component mixture
    assert main(["--grid", name, "--steps", "4", "--eval-every", "2", "--data-dir", str(db),
                 "--cache-dir", str(tmp_path / "c"), "--results-dir", str(tmp_path / "r")]) == 0
    store, = RunStore(tmp_path / "r").grids("intra")
    assert store.name.startswith(f"{name}-"), "a shortened budget is its own grid, beside the preset's"
    manifest = store.manifest()
    assert manifest["data"]["task"] == PRESETS[name].data.task
    finished = [r for r in manifest["runs"] if store.metrics(r) is not None]
    assert len(finished) == len(PRESETS[name].cells()), f"every cell finished: {store.path}"
    # the results folder's overview sets each run beside the published figure, in its metric
    overview = (tmp_path / "r" / "README.md").read_text()
    assert "## The published systems, reproduced" in overview and f"`{name}`" in overview
    table = pd.read_csv(tmp_path / "r" / "reproductions.csv")
    system = published_system(name)
    assert len(table) == len(finished) * len(system.ours) and set(table.ours_metric) == set(system.ours)
    stepped, forest = table[table.model != "random_forest"], table[table.model == "random_forest"]
    assert stepped.shortened.all() and stepped.budget.str.startswith("4 of 10,000 steps (0.04%)").all()
    assert not forest.shortened.any() and forest.budget.str.startswith("its own hyperparameters").all()
    assert (table.ci_low <= table.ours).all() and (table.ours <= table.ci_high).all()
