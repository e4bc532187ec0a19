"""The Ray Tune path of ``tune``: trials on a local 2-CPU Ray instance land in the same SQLite study as trials
run in process, with the same records (settings, steps, validation checks at optimizer steps), and a trial that
fails on a worker is recorded with its reason while the study goes on. Skipped without Ray Tune and Optuna."""
import pytest

optuna = pytest.importorskip("optuna")
pytest.importorskip("ray.tune")
pytestmark = pytest.mark.slow  # a Ray instance and Ray Tune's start-up: ~1-2 min

import ray  # noqa: E402

from benchmark.config import GRIDS, DataConfig, Grid, TrainConfig, customise  # noqa: E402
from benchmark.data.splits import Split, load_split  # noqa: E402
from benchmark.tuning.ray_tune import RayOptions  # noqa: E402
from benchmark.tuning.study import TuneRequest, tune  # noqa: E402
from tests.conftest import clustered_beats, write_database  # noqa: E402

GRID = customise(GRIDS["smoke"], steps=4, eval_every=2)


@pytest.fixture(scope="module")
def ray_instance():
    ray.init(num_cpus=2, include_dashboard=False)
    yield
    ray.shutdown()


def load(folder):
    return optuna.load_study(study_name=folder.name, storage=f"sqlite:///{folder / 'study.sqlite3'}")


def test_ray_tune_trials_join_the_study_begun_in_process(ray_instance, tmp_path):
    split = load_split("intra", write_database(tmp_path / "mitdb"), cache_dir=tmp_path / "cache")
    request = TuneRequest("mlp", GRID, trials=2, pruner="none")
    tune(request, split, tmp_path / "r", tmp_path / "cache")
    outcome = tune(TuneRequest("mlp", GRID, trials=5, pruner="none"), split, tmp_path / "r", tmp_path / "cache",
                   ray=RayOptions(threads=1, storage=str(tmp_path / "ray")))
    folder, = (tmp_path / "r/intra/tuning").iterdir()
    assert outcome.store.path == folder, "the same study: local and Ray trials share its name and file"
    study = load(folder)
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 5
    assert [t.user_attrs["executor"] for t in study.trials] == ["local", "local", "ray", "ray", "ray"]
    for trial in study.trials:
        assert list(trial.intermediate_values) == [2, 4], "the validation checks, at optimizer steps"
        assert trial.value == max(trial.intermediate_values.values()), "the best check is the trial's score"
        assert trial.user_attrs["steps_trained"] == 4 and trial.user_attrs["settings"]["resampler"] == "none"
    assert len({tuple(sorted(t.params.items())) for t in study.trials}) == 5, "Optuna's sampler suggests on Ray too"
    assert "ray" in (folder / "trials.csv").read_text() and (folder / "best_params.json").exists()


def test_a_trial_that_fails_on_a_worker_is_recorded_with_its_reason_and_the_study_goes_on(ray_instance, tmp_path):
    beats = clustered_beats(n_per_class=(150, 3, 30, 12, 25), seed=1)  # 3 S beats: SMOTE needs k + 1 of them
    split = Split("intra", beats, beats, beats, "synthetic", "k2")
    grid = Grid("test", ("mlp",), ("smote",), (0,), TrainConfig(steps=4, batch_size=16, eval_every=2),
                DataConfig(split="intra"))
    request = TuneRequest("mlp", grid, resampler="smote", trials=2, tune_treatment=True)
    outcome = tune(request, split, tmp_path / "r", tmp_path / "cache", ray=RayOptions(threads=1,
                                                                                       storage=str(tmp_path / "ray")))
    study = load(outcome.store.path)
    assert outcome.finished == 2 and [t.state.name for t in study.trials] == ["FAIL", "FAIL"]
    assert all(t.user_attrs["error"].startswith("ResamplingError: smote") for t in study.trials)
    assert "## Failed and interrupted trials" in outcome.store.file("TUNING.md").read_text()
