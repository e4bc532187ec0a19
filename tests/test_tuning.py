"""Tuning (``tune``, ``--params``): search spaces resolve to the grid's settings, tuned settings reach the build,
the identity and the folder, and an Optuna study in SQLite resumes, repeats, prunes, records failures and
survives Ctrl-C and kill -9, on the tiny records with tiny budgets. Most studies tune the random forest (a
trial takes a fraction of a second); pruning needs a model trained for steps (the mlp)."""
import json
import logging

import pytest

optuna = pytest.importorskip("optuna")

from benchmark.config import GRIDS, TrainConfig, TunedSettings, customise  # noqa: E402
from benchmark.errors import DataError  # noqa: E402
from benchmark.estimators.base import early_stopping_loop  # noqa: E402
from benchmark.search_space import Choice, FloatRange, IntRange, check_space  # noqa: E402
from benchmark.tuning import study as study_module  # noqa: E402
from benchmark.tuning.params import load_params, params_payload, with_params, write_params  # noqa: E402
from benchmark.tuning.space import SpaceError, StudySpace, parse_fixed  # noqa: E402
from benchmark.tuning.study import StudyLock, TuneRequest, tune  # noqa: E402
from models import builder_arguments, list_models, registry  # noqa: E402
from tests.conftest import clustered_beats, write_database  # noqa: E402

GRID = customise(GRIDS["smoke"], steps=4, eval_every=2)
# a forest small enough that a trial takes a fraction of a second; the study tunes depth, leaves and weighting
FOREST = {"model.n_estimators": 10}


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    from benchmark.data.splits import load_split

    root = tmp_path_factory.mktemp("tuning")
    return load_split("intra", write_database(root / "mitdb"), cache_dir=root / "cache")


@pytest.fixture
def no_report(monkeypatch):
    """Studies whose report a test does not read skip it (its figures cost more than a forest's trials)."""
    monkeypatch.setattr("benchmark.tuning.report.write_study_report", lambda *args, **kwargs: [])


def request_for(model="random_forest", **options):
    return TuneRequest(model, GRID, **{"fixed": FOREST if model == "random_forest" else {}, **options})


def stored(results, name_part="random_forest"):
    """The study of the one folder under ``results`` (loaded from its SQLite file, as another process would)."""
    folder, = (results / "intra/tuning").glob(f"{name_part}*")
    return folder, optuna.load_study(study_name=folder.name, storage=f"sqlite:///{folder / 'study.sqlite3'}")


def states(study):
    return [t.state.name for t in study.trials]


# ---------------------------------------------------------------------- dimensions and spaces

@pytest.mark.parametrize("dimension, inside, outside", [
    (Choice((False, True)), [False, True], [0, "false", None]),
    (IntRange(32, 128, step=32), [32, 96, 128], [48, 160, 64.0, True]),
    (FloatRange(0.0, 0.5, step=0.05), [0.0, 0.35, 0.35000000000000003, 0.5], [0.33, 0.55, -0.1]),
    (FloatRange(1e-4, 1e-2, log=True), [1e-4, 3e-3, 1e-2], [0.0, 0.02]),
])
def test_dimensions_hold_their_values_and_their_grid_holds_the_default(dimension, inside, outside):
    assert all(dimension.contains(v) for v in inside) and not any(dimension.contains(v) for v in outside)
    default = inside[1]
    grid = dimension.grid(default)
    assert default in grid and all(dimension.contains(v) for v in grid) and len(grid) <= 4


def test_a_space_naming_another_parameter_or_leaving_out_its_default_is_refused_by_name():
    with pytest.raises(TypeError, match=r"model 'x': its search space names 'width'.*\(units\)"):
        check_space({"width": IntRange(1, 2)}, {"units": 8}, "model 'x'")
    with pytest.raises(ValueError, match=r"the default units=8 is outside its search space \(whole numbers 16\.\.32"):
        check_space({"units": IntRange(16, 32)}, {"units": 8}, "model 'x'")


@pytest.mark.parametrize("model", list_models())
def test_the_untuned_point_of_every_model_is_the_grids_own_run(model):
    """A study's first trial (TPE) is the untuned setting: the builder's defaults and the grid's training."""
    space = StudySpace.build(model, "none", GRID.train)
    settings = space.settings(space.default_point())
    assert builder_arguments(model, **settings.hyperparameters) == builder_arguments(model)
    assert settings.train == GRID.train and settings.resampler == "none"
    assert set(space.distributions()) == set(space.dimensions) and space.grid_size() >= 2


def test_a_point_resolves_to_what_a_trial_trains_with():
    space = StudySpace.build("lstm", "smote", GRID.train, parse_fixed(["train.batch_size=128"]), tune_treatment=True)
    assert "train.batch_size" not in space.dimensions and "treatment.k_neighbors" in space.dimensions
    settings = space.settings({"model.units": 96, "model.bidirectional": True, "train.learning_rate": 0.0023456789,
                               "train.lr_schedule": "triangular", "treatment.k_neighbors": 7})
    assert settings.hyperparameters == {"units": 96, "bidirectional": True}
    assert settings.train.batch_size == 128 and settings.train.steps == GRID.train.steps, "the budget is the grid's"
    assert (settings.train.lr_max, settings.train.lr_min) == (0.00234568, 0.000234568), "a tenth of the rate, up to it"
    assert settings.resampler == "smote[k_neighbors=7]"
    untuned = space.settings(space.default_point())
    assert untuned.resampler == "smote", "the treatment's own value leaves its name as the grid names it"


def test_unknown_pinned_names_and_models_without_a_space_say_what_to_do(monkeypatch):
    with pytest.raises(SpaceError, match=r"--fix model\.unitz: not a parameter of this study.*known: .*model\.units"):
        StudySpace.build("lstm", "none", GRID.train, {"model.unitz": 3})
    with pytest.raises(SpaceError, match="is not PREFIX.NAME=VALUE"):
        parse_fixed(["units=3"])
    with pytest.raises(SpaceError, match="treatment 'none' declares no search space"):
        StudySpace.build("lstm", "none", GRID.train, tune_treatment=True)
    entry = registry._MODELS["lstm"]
    monkeypatch.setitem(registry._MODELS, "lstm", registry.ModelEntry(entry.builder, entry.estimator))
    with pytest.raises(SpaceError, match="model 'lstm' declares no search space.*search_space="):
        StudySpace.build("lstm", "none", GRID.train)


# ---------------------------------------------------------------------- the trainer's hook

def test_the_early_stopping_loop_shows_every_check_and_may_be_stopped():
    seen = []
    cfg = TrainConfig(steps=10, eval_every=2, patience=100)

    def run(on_check):
        return early_stopping_loop(2, cfg, lambda steps, active: [0.5, 0.5], lambda active: [0.1, 0.2],
                                   lambda improved: None, on_check)

    (plain, _), _ = run(None)
    assert plain.steps_trained == 10
    [first, second], _ = run(lambda step, scores: seen.append((step, list(scores))) or step >= 4)
    assert seen == [(2, [0.1, 0.2]), (4, [0.1, 0.2])] and first.steps_trained == second.steps_trained == 4
    assert first.history == plain.history[:2], "the hook changes when a run stops, not what it computes"


# ---------------------------------------------------------------------- tuned settings for a grid

def test_tuned_settings_reach_the_build_the_saved_model_and_the_report():
    from benchmark.estimators.keras_estimator import model_from_bytes
    from benchmark.running.trainer import train_and_evaluate
    from models import build_model

    beats = clustered_beats(n_per_class=(40, 10, 12, 8, 10), seed=1)
    x, y = beats.x[..., None], beats.y
    cfg = TrainConfig(steps=2, batch_size=16, eval_every=2)
    result = train_and_evaluate("mlp", x, y, x, y, x, y, cfg, seed=0, hyperparameters={"units": 16})
    assert result["n_params"] == build_model("mlp", units=16).count_params() < build_model("mlp").count_params()
    assert model_from_bytes(result["model"]).count_params() == result["n_params"], "the file holds the tuned model"


def test_a_params_file_names_its_own_folder_and_enters_every_identity_of_its_models(tmp_path):
    from benchmark.running.plan import GridData, grid_directory, run_identity

    path = write_params(tmp_path / "best.json", params_payload(
        "mlp", {"units": 64}, {"learning_rate": 0.002}, {"smote": {"k_neighbors": 3}}, {"budget": {"steps": 4}}))
    grid = customise(GRIDS["smoke"], models=["mlp", "cnn"], resamplers=["none", "smote"])
    tuned = with_params(grid, *load_params([path]))
    assert tuned.resamplers == ("none", "smote[k_neighbors=3]")
    assert grid_directory(tuned).startswith("smoke-tuned-") and grid_directory(grid) == "smoke"
    beats = clustered_beats(n_per_class=(10, 2, 2, 2, 2))
    data = GridData(beats, beats, beats, key="k", source="synthetic")
    mlp = run_identity(tuned, data, "mlp", "none", 0)
    assert mlp["tuned"] == {"hyperparameters": {"units": 64}, "train": {"learning_rate": 0.002}}
    assert mlp["builder"]["units"] == 64 and mlp["train"]["learning_rate"] == 0.002
    assert run_identity(tuned, data, "cnn", "none", 0) == run_identity(grid, data, "cnn", "none", 0), \
        "a model the file does not tune keeps its identity"
    other = with_params(grid, TunedSettings.of({"mlp": {"hyperparameters": {"units": 32}}}))
    assert grid_directory(other) != grid_directory(tuned), "other tuned settings, another folder"


@pytest.mark.parametrize("payload, says", [
    ({"models": {"lstm": {"hyperparameters": {"unitz": 3}}}},
     r"model 'lstm' has no hyperparameter 'unitz'; its hyperparameters: units, bidirectional, layers, readout, dropout"),
    ({"models": {"lstm": {"train": {"steps": 9}}}}, r"steps cannot be tuned \(the budget is the grid's\)"),
    ({"models": {"nope": {}}}, r"unknown model 'nope'; known models: "),
    ({"models": {"lstm": {"train": {"batch_size": 0}}}}, r"TrainConfig\.batch_size must be a whole number"),
    ({"treatments": {"smote": {"k_neighbours": 3}}}, r"treatment 'smote'.*Invalid parameter 'k_neighbours'"),
    ({"modelz": {}}, r"unknown keys modelz"),
])
def test_a_bad_params_file_names_the_file_and_what_is_wrong(tmp_path, payload, says):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"format": "ecg-oversampling-bench tuned settings 1", **payload}))
    with pytest.raises(DataError, match=rf"{path}: .*{says}"):
        load_params([path])


def test_tuned_treatment_parameters_and_the_grids_own_may_not_disagree(tmp_path):
    settings = TunedSettings.of({}, {"smote": {"k_neighbors": 3}})
    with pytest.raises(DataError, match=r"--params sets smote's k_neighbors and --resamplers 'smote\[k_neighbors=7\]'"):
        with_params(customise(GRIDS["smoke"], resamplers=["smote[k_neighbors=7]"]), settings)


# ---------------------------------------------------------------------- studies

@pytest.mark.slow  # an end-to-end run through the CLI: .ci/run runs it
def test_a_study_resumes_in_its_sqlite_file_and_a_seed_repeats_it(split, tmp_path, monkeypatch):
    first = tune(request_for(trials=2), split, tmp_path / "a", tmp_path / "cache")
    folder, study = stored(tmp_path / "a")
    assert first.finished == 2 and states(study) == ["COMPLETE", "COMPLETE"]
    assert study.trials[0].params == StudySpace.build("random_forest", "none", GRID.train, FOREST).default_point(), \
        "the first trial is the untuned point"
    again = tune(request_for(trials=4), split, tmp_path / "a", tmp_path / "cache")
    assert again.finished == 4 and len(stored(tmp_path / "a")[1].trials) == 4, "2 more, in the same study"
    assert {p.name for p in folder.iterdir()} >= {"study.sqlite3", "TUNING.md", "trials.csv", "best_params.json",
                                                  "figures"}
    table = (folder / "trials.csv").read_text().splitlines()
    assert table[0].startswith("number,state,value,pruned_at_step") and len(table) == 5
    monkeypatch.setattr("benchmark.tuning.report.write_study_report", lambda *args, **kwargs: [])
    tune(request_for(trials=2), split, tmp_path / "b", tmp_path / "cache")
    _, repeat = stored(tmp_path / "b")
    assert [(t.params, t.value) for t in repeat.trials] == [(t.params, t.value) for t in study.trials[:2]]
    tune(request_for(trials=2, sampler_seed=1), split, tmp_path / "c", tmp_path / "cache")
    _, other = stored(tmp_path / "c")
    assert other.trials[1].params != study.trials[1].params, "another sampler seed, another study"
    best = json.loads((folder / "best_params.json").read_text())
    grid = with_params(customise(GRIDS["smoke"], models=["random_forest"]), *load_params([folder / "best_params.json"]))
    assert grid.hyperparameters_for("random_forest")["n_estimators"] == 10
    assert best["source"]["val_macro_f1"] == max(t.value for t in stored(tmp_path / "a")[1].trials)


def test_a_failed_trial_is_recorded_with_its_reason_and_the_study_goes_on(split, tmp_path, monkeypatch, messages):
    real = study_module.fit_trial
    calls = []

    def nan_on_the_second(data, settings, part, on_check=None):
        calls.append(1)
        if len(calls) == 2:
            raise FloatingPointError("training loss became nan at step 2")
        return real(data, settings, part, on_check)

    monkeypatch.setattr(study_module, "fit_trial", nan_on_the_second)
    outcome = tune(request_for(trials=3), split, tmp_path, tmp_path / "cache")
    folder, study = stored(tmp_path)
    assert outcome.finished == 3 and states(study) == ["COMPLETE", "FAIL", "COMPLETE"]
    assert study.trials[1].user_attrs["error"] == "FloatingPointError: training loss became nan at step 2"
    assert any("trial 1 FAILED: FloatingPointError: training loss became nan" in m and "the study goes on" in m
               for m in messages)
    assert "- trial 1: FloatingPointError: training loss became nan at step 2" in (folder / "TUNING.md").read_text()


@pytest.mark.slow  # the fast suite stays under its 5-minute budget; .ci/run runs it
def test_ctrl_c_keeps_the_finished_trials_and_the_next_session_tries_the_stopped_one_first(split, tmp_path,
                                                                                          monkeypatch):
    real = study_module.fit_trial
    calls = []

    def interrupted_third(data, settings, part, on_check=None):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(data, settings, part, on_check)

    monkeypatch.setattr(study_module, "fit_trial", interrupted_third)
    with pytest.raises(KeyboardInterrupt):
        tune(request_for(trials=4), split, tmp_path, tmp_path / "cache")
    folder, study = stored(tmp_path)
    assert states(study) == ["COMPLETE", "COMPLETE", "FAIL"] and study.trials[2].user_attrs["interrupted"]
    assert "| trials | 2 finished of the 4 asked: 2 completed, 0 pruned, 0 failed; 1 interrupted" in \
        (folder / "TUNING.md").read_text(), "the report is written on Ctrl-C too"
    monkeypatch.setattr(study_module, "fit_trial", real)
    tune(request_for(trials=4), split, tmp_path, tmp_path / "cache")
    _, study = stored(tmp_path)
    assert states(study) == ["COMPLETE", "COMPLETE", "FAIL", "COMPLETE", "COMPLETE"]
    assert study.trials[3].user_attrs["retry_of"] == 2 and study.trials[3].params == study.trials[2].params


@pytest.mark.slow  # the fast suite stays under its 5-minute budget; .ci/run runs it
def test_a_trial_left_running_by_a_killed_process_is_tried_again_and_a_running_study_is_not_shared(split, tmp_path,
                                                                                                   no_report):
    tune(request_for(trials=1), split, tmp_path, tmp_path / "cache")
    folder, study = stored(tmp_path)
    orphan = study.ask(StudySpace.build("random_forest", "none", GRID.train, FOREST).distributions())  # then kill -9
    from benchmark.store import StudyStore

    with StudyLock(StudyStore(folder)):
        with pytest.raises(DataError, match=r"this study is being run by process \d+ on .*run the same command"):
            tune(request_for(trials=3), split, tmp_path, tmp_path / "cache")
    tune(request_for(trials=3), split, tmp_path, tmp_path / "cache")
    _, study = stored(tmp_path)
    assert states(study) == ["COMPLETE", "FAIL", "COMPLETE", "COMPLETE"]
    assert "stopped" in study.trials[1].user_attrs["interrupted"]
    assert study.trials[2].user_attrs["retry_of"] == orphan.number and study.trials[2].params == orphan.params


@pytest.mark.slow  # the fast suite stays under its 5-minute budget; .ci/run runs it
def test_a_pruner_that_must_prune_stops_the_training_at_the_first_check(split, tmp_path, monkeypatch):
    monkeypatch.setattr(study_module, "make_pruner", lambda kind, eval_every: optuna.pruners.ThresholdPruner(lower=2))
    tune(request_for("mlp", trials=1), split, tmp_path, tmp_path / "cache")
    folder, study = stored(tmp_path, "mlp")
    trial, = study.trials
    assert trial.state.name == "PRUNED" and trial.user_attrs["pruned_at"] == 2
    assert trial.user_attrs["steps_trained"] == 2 < GRID.train.steps, "pruning stopped the training itself"
    assert list(trial.intermediate_values) == [2]
    assert "0 completed, 1 pruned" in (folder / "TUNING.md").read_text()
    assert not (folder / "best_params.json").exists(), "no completed trial, no tuned settings"


def test_grid_search_tries_every_point_once_with_the_untuned_one_among_them(split, tmp_path, no_report):
    fixed = {**FOREST, "model.max_depth": 0, "model.class_weight": "none"}
    outcome = tune(request_for(trials=50, sampler="grid", fixed=fixed), split, tmp_path, tmp_path / "cache")
    _, study = stored(tmp_path)
    points = sorted(t.params["model.min_samples_leaf"] for t in study.trials)
    assert outcome.target == 3 and points == [1, 5, 8], "both ends, the middle; the default (1) is one of them"


@pytest.mark.slow  # the fast suite stays under its 5-minute budget
def test_the_shortcut_tunes_on_the_cheap_treatment_and_confirms_the_best_on_the_full_one(split, tmp_path):
    tune(request_for(trials=4, resampler="random", cheap_resampler="under_over", confirm_top=2), split, tmp_path,
         tmp_path / "cache")
    folder, = (tmp_path / "intra/tuning").iterdir()
    assert "__via__under_over" in folder.name
    storage = f"sqlite:///{folder / 'study.sqlite3'}"
    assert sorted(optuna.get_all_study_names(storage)) == [folder.name, f"{folder.name}--confirm"], "one file"
    search = optuna.load_study(study_name=folder.name, storage=storage)
    confirm = optuna.load_study(study_name=f"{folder.name}--confirm", storage=storage)
    best_two = sorted(search.trials, key=lambda t: (-t.value, t.number))[:2]
    confirmed = {t.user_attrs["search_trial"] for t in confirm.trials}
    assert {t.number for t in best_two} | {0} == confirmed, "the best two and the untuned point"
    assert all(t.state.name == "COMPLETE" for t in confirm.trials)
    text = (folder / "TUNING.md").read_text()
    assert "tuned on `under_over`, confirmed on `random`" in text and "Rank agreement" in text
    assert json.loads((folder / "best_params.json").read_text())["source"]["treatment"] == "random"
    assert (folder / "confirmations.csv").read_text().count("\n") == len(confirmed) + 1


# ---------------------------------------------------------------------- the command line

@pytest.mark.slow  # an end-to-end run through the CLI: .ci/run runs it
def test_tune_then_a_grid_with_its_params_through_the_command_line(tmp_path):
    from benchmark.cli import main

    args = ["--grid", "smoke", "--steps", "4", "--eval-every", "2", "--cache-dir", str(tmp_path / "c"),
            "--results-dir", str(tmp_path / "r"), "--data-dir", str(write_database(tmp_path / "mitdb"))]
    assert main(["tune", "--model", "random_forest", "--trials", "2", "--fix", "model.n_estimators=10", *args]) == 0
    folder, study = stored(tmp_path / "r")
    assert len(study.trials) == 2
    params = str(folder / "best_params.json")
    run = ["--models", "random_forest", "--resamplers", "none", "--params", params, *args]
    assert main(run) == 0
    grid_dir, = (tmp_path / "r/intra").glob("smoke-tuned-*")
    metrics = json.loads(next(grid_dir.glob("runs/*/metrics.json")).read_text())
    assert metrics["identity"]["tuned"]["hyperparameters"]["n_estimators"] == 10
    assert main(["evaluate", *run]) == 0, "evaluate finds the tuned grid and its models reproduce their runs"
    assert "No grid of this results folder has run" in (folder / "TUNING.md").read_text()
    assert main(["tune", "--model", "random_forest", "--trials", "2", "--fix", "model.n_estimators=10", *args]) == 0
    report = (folder / "TUNING.md").read_text()
    assert len(stored(tmp_path / "r")[1].trials) == 2, "the study had its trials: the report is rewritten"
    assert "## The tuned settings, run by a grid" in report and f"`{grid_dir.name}/runs/" in report
    assert "(the same)" in report and "tuned − untuned = " in report, "the run is its trial again, seeded"


@pytest.mark.parametrize("argv, says", [
    (["--model", "mlp"], "--model goes with the tune command"),
    (["tune"], "tune needs --model"),
    (["tune", "--model", "mlp", "--executor", "packed"], "--executor packed is for grids"),
    (["tune", "--model", "mlp", "--seeds", "0", "1"], "give --seeds one value"),
])
def test_tune_options_are_checked_before_anything_runs(argv, says, capsys):
    from benchmark.cli import main

    with pytest.raises(SystemExit):
        main(argv)
    assert says in capsys.readouterr().err


def test_tune_without_optuna_says_how_to_install_it(monkeypatch, caplog):
    import sys

    from benchmark.cli import main

    monkeypatch.setitem(sys.modules, "optuna", None)
    caplog.set_level(logging.ERROR)
    assert main(["tune", "--model", "mlp"]) == 2
    assert 'pip install -e ".[tune]"' in caplog.text


def test_a_study_knows_the_results_folder_whose_grids_may_take_its_settings(tmp_path):
    from benchmark.store import RunStore

    study = RunStore(tmp_path).study("intra", "lstm__random__tpe-0")
    assert study.path == tmp_path / "intra" / "tuning" / "lstm__random__tpe-0"
    assert study.results_root == tmp_path
