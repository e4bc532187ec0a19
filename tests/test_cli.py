"""The command line as a user runs it: help, data histograms, a tiny grid, clear errors."""
import importlib.util
import json
import socket
import sys

import numpy as np
import pytest

from benchmark.cli import build_parser, main


def test_help_lists_the_commands_and_each_command_its_own_options(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    for command in ("run", "data", "report", "evaluate", "export", "predict", "serve", "compare", "transfer", "tune"):
        assert f"\n    {command} " in text, command
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    text = capsys.readouterr().out
    for flag in ("--grid", "--models", "--resamplers", "--seeds", "--split", "--steps", "--data-dir",
                 "--results-dir", "--overwrite", "--executor", "--ray-address", "--threads", "smoke", "quick", "full"):
        assert flag in text
    assert "(default: None)" not in text and "--transfer-steps" not in text and "--port" not in text
    with pytest.raises(SystemExit):
        main(["predict", "--help"])
    text = capsys.readouterr().out
    assert "BUNDLE INPUT" in text and "--fs" in text and "--steps" not in text and "--grid" not in text


def test_help_imports_no_backend():
    """--help is quick: it builds the parser without the models' registry, and with it Keras."""
    import subprocess

    code = ("import sys; from benchmark.cli import main\ntry:\n    main(['run', '--help'])\nexcept SystemExit: pass\n"
            "print(sorted(m for m in ('keras', 'tensorflow', 'jax') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("[]"), out


def test_an_argument_error_is_one_line_naming_the_option_and_the_command(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--steps", "-1"])  # no command: run
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.count("\n") == 1
    assert err.startswith("run_benchmark.py run: error: argument --steps:") and "run_benchmark.py run --help" in err
    with pytest.raises(SystemExit):
        main(["predict", "only-a-bundle"])
    assert capsys.readouterr().err.startswith("run_benchmark.py predict: error: the following arguments are required")


@pytest.mark.parametrize("argv, says", [
    (["report", "--steps", "3"], "report: error: --steps goes with the run, evaluate, transfer and tune commands"),
    (["--model", "mlp"], "run: error: --model goes with the tune command"),  # not --models by its first letters
    (["--bogus", "1"], "run: error: unrecognized arguments: --bogus 1"),
])
def test_an_option_of_another_command_says_which_command_takes_it(argv, says, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and says in err and err.count("\n") == 1


def test_resamplers_take_parameters_and_sv_names_in_their_canonical_spelling(capsys):
    names = ["gmm[n_components=2]", "under_over[minority_count=300,majority_count=600]", "log_class_weight"]
    if importlib.util.find_spec("smote_variants"):
        names.append("sv:ProWSyn[n_neighbors=7,L=3]")
    parsed = build_parser().parse_args(["run", "--resamplers", *names]).resamplers
    assert parsed[:3] == ["gmm[n_components=2]", "under_over[majority_count=600,minority_count=300]", "log_class_weight"]
    assert parsed[3:] in ([], ["sv:ProWSyn[L=3,n_neighbors=7]"])
    for bad, says in (("nope", "known resamplers: none, random"), ("gmm[bogus=1]", "Invalid parameter 'bogus'")):
        with pytest.raises(SystemExit):
            build_parser().parse_args(["run", "--resamplers", bad])
        assert says in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    assert "sv:NAME[key=value,...]" in capsys.readouterr().out


def test_data_command_prints_histograms_and_source(tiny_db, tmp_path, capsys):
    assert main(["data", "--data-dir", str(tiny_db), "--cache-dir", str(tmp_path / "c")]) == 0
    out = capsys.readouterr().out
    assert "## intra split" in out and "## inter split" in out
    assert "3 mitdb records in" in out and "| validation |" in out


def test_tiny_grid_end_to_end_then_report_and_evaluate(tiny_db, tmp_path, capsys):
    args = ["--grid", "smoke", "--models", "mlp", "--resamplers", "none", "random", "--steps", "4",
            "--eval-every", "2", "--data-dir", str(tiny_db), "--cache-dir", str(tmp_path / "c"),
            "--results-dir", str(tmp_path / "r")]
    assert main(args) == 0
    grid_dir, = (tmp_path / "r/intra").iterdir()
    assert grid_dir.name.startswith("smoke-"), "a customised budget is its own grid, beside the preset's"
    summary = (grid_dir / "summary.md").read_text()
    assert "grid `smoke`" in summary and "| mlp " in summary
    assert (grid_dir / "runs.csv").read_text().count("\n") == 3
    before = (grid_dir / "summary.md").read_bytes()
    assert main(["report", "--results-dir", str(tmp_path / "r")]) == 0
    assert (grid_dir / "summary.md").read_bytes() == before
    overview = (tmp_path / "r/README.md").read_text()
    assert f"intra/{grid_dir.name} macro F1" in overview and f"(intra/{grid_dir.name}/REPORT.md)" in overview
    capsys.readouterr()
    assert main(["evaluate", *args]) == 0, "the saved models reproduce the runs' test predictions"
    table = (grid_dir / "evaluations/test.csv").read_text()
    assert table.count("\n") == 3 and ",True" in table and ",False" not in table
    for name in ("test", "test_prior_corrected"):  # who scored the models, which may not be who trained them
        about = json.loads((grid_dir / f"evaluations/{name}.json").read_text())
        assert about["command"].startswith("python ") and about["device"]["kind"] == "cpu"
        assert about["commit"] and about["machine"]["cores"] >= 1
    assert main(["report", "--results-dir", str(tmp_path / "r")]) == 0
    report = (grid_dir / "REPORT.md").read_text()
    assert "- Evaluation `test`: `python" in report and "- Evaluation `test_prior_corrected`: `python" in report
    assert "the saved models reproduced 2 of 2 runs' test predictions exactly\n" in report
    run_dir = next((grid_dir / "runs").iterdir())  # a stored prediction that its model does not make
    stored = np.load(run_dir / "test_predictions.npy")
    stored[:3] = (stored[:3] + 1) % 5
    np.save(run_dir / "test_predictions.npy", stored)
    assert main(["evaluate", *args]) == 1, "a saved model that does not reproduce its run fails the check"
    assert main(["report", "--results-dir", str(tmp_path / "r")]) == 0
    assert "reproduced 1 of 2 runs' test predictions exactly; the others differ in 3 of " in \
        (grid_dir / "REPORT.md").read_text()


def test_default_results_folder_is_local_so_committed_results_are_never_touched(tiny_db, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    committed = tmp_path / "results/intra/smoke/REPORT.md"
    committed.parent.mkdir(parents=True)
    committed.write_text("committed")
    assert main(["--grid", "smoke", "--models", "mlp", "--resamplers", "none", "--data-dir", str(tiny_db),
                 "--cache-dir", str(tmp_path / "c")]) == 0
    assert committed.read_text() == "committed" and sorted(p.name for p in (tmp_path / "results").iterdir()) == \
        ["intra", "local"]
    assert (tmp_path / "results/local/intra/smoke/REPORT.md").exists()


@pytest.mark.slow  # the fast suite stays under its 5-minute budget; .ci/run runs it
def test_a_registered_model_runs_through_the_cli(tiny_db, tmp_path, monkeypatch):
    import keras

    from models import registry

    def throwaway(input_shape, n_classes, units=3):
        inputs = keras.Input(shape=input_shape)
        x = keras.layers.Dense(units, activation="relu")(keras.layers.Flatten()(inputs))
        return keras.Model(inputs, keras.layers.Dense(n_classes, activation="softmax")(x), name="throwaway")

    monkeypatch.setitem(registry._MODELS, "throwaway", registry.ModelEntry(throwaway, "keras"))
    args = ["--grid", "smoke", "--models", "throwaway", "--resamplers", "none", "--steps", "4", "--eval-every", "2",
            "--data-dir", str(tiny_db), "--cache-dir", str(tmp_path / "c"), "--results-dir", str(tmp_path / "r")]
    assert main(args) == 0
    run_dir, = tmp_path.glob("r/intra/*/runs/throwaway__none__seed0__*")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["identity"]["builder"] == {"units": 3} and metrics["n_params"] == 187 * 3 + 3 + 3 * 5 + 5
    assert main(["evaluate", *args]) == 0


def test_a_registered_scikit_learn_model_runs_through_the_cli_and_evaluate_reproduces_it(tiny_db, tmp_path,
                                                                                          monkeypatch):
    from sklearn.tree import DecisionTreeClassifier

    from benchmark.store import RunStore
    from models import registry

    def stump(input_shape, n_classes, seed, max_depth=2):
        return DecisionTreeClassifier(max_depth=max_depth, random_state=seed)

    monkeypatch.setitem(registry._MODELS, "stump", registry.ModelEntry(stump, "sklearn"))
    args = ["--grid", "smoke", "--models", "stump", "--resamplers", "none", "class_weight", "--data-dir", str(tiny_db),
            "--cache-dir", str(tmp_path / "c"), "--results-dir", str(tmp_path / "r")]
    assert main(args) == 0
    store, = RunStore(tmp_path / "r").grids("intra")
    for run_id in store.manifest()["runs"]:
        metrics = store.metrics(run_id)
        assert metrics["identity"]["builder"] == {"max_depth": 2} and metrics["estimator"] == "sklearn"
        assert store.model_path(run_id).name == "model.skops" and metrics["optimizer_steps"] == 0
        assert store.probabilities(run_id).shape == (len(store.test_labels()), 5)
    assert main(["evaluate", *args]) == 0  # fails unless every saved model reproduces its run


def test_report_without_runs_fails_clearly(tmp_path, capsys):
    assert main(["report", "--results-dir", str(tmp_path)]) == 1
    assert "no grid results found" in capsys.readouterr().err


def test_offline_without_records_exits_2_with_advice(tmp_path, monkeypatch, capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("MITDB_URL", f"http://127.0.0.1:{port}/")
    assert main(["data", "--cache-dir", str(tmp_path / "c")]) == 2
    assert "MITDB_DIR" in capsys.readouterr().err


def test_a_data_dir_that_does_not_exist_is_one_clear_error(tmp_path, capsys):
    assert main(["data", "--data-dir", str(tmp_path / "none"), "--cache-dir", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'none'}: no such directory; --data-dir names a local copy" in err
    assert not (tmp_path / "none.download").exists() and not (tmp_path / "none").exists()


def test_ray_executor_without_ray_says_how_to_install_before_loading_data(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    assert main(["--executor", "ray", "--data-dir", str(tmp_path / "none"), "--cache-dir", str(tmp_path)]) == 2
    assert 'pip install -e ".[ray]"' in capsys.readouterr().err


def test_ray_options_need_the_ray_executor(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--ray-address", "auto"])
    assert exit_.value.code == 2 and "--executor ray" in capsys.readouterr().err


@pytest.mark.parametrize("flag", ["--steps", "--batch-size", "--eval-every", "--patience"])
@pytest.mark.parametrize("value", ["0", "-3", "2.5"])
def test_budget_flags_must_be_positive_and_the_error_names_the_flag(flag, value, capsys):
    with pytest.raises(SystemExit) as exit_:  # the parser alone: were the value accepted, main would run a grid
        build_parser().parse_args(["run", flag, value])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and f"argument {flag}: expected a whole number of at least 1" in err


@pytest.mark.slow  # the fast suite stays under its 5-minute budget; .ci/run runs it
def test_a_triangular_schedule_runs_through_the_cli_into_the_identity_and_the_report(tiny_db, tmp_path):
    args = ["--grid", "smoke", "--models", "mlp", "--resamplers", "none", "--steps", "4", "--eval-every", "2",
            "--lr-schedule", "triangular", "--lr-min", "1e-4", "--lr-max", "2e-3", "--lr-cycle-steps", "4",
            "--data-dir", str(tiny_db), "--cache-dir", str(tmp_path / "c"), "--results-dir", str(tmp_path / "r")]
    assert main(args) == 0
    run_dir, = tmp_path.glob("r/intra/*/runs/mlp__none__seed0__*")
    train = json.loads((run_dir / "metrics.json").read_text())["identity"]["train"]
    assert (train["lr_schedule"], train["lr_min"], train["lr_max"], train["lr_cycle_steps"]) == (
        "triangular", 1e-4, 2e-3, 4)
    report = next(tmp_path.glob("r/intra/*/REPORT.md")).read_text()
    assert ", not used: a triangular cyclical lr instead, from 0.0001 up to 0.002 and back every 4 steps" in report


@pytest.mark.parametrize("flags, words", [(["--lr-min", "1e-4"], "--lr-min set the triangular schedule"),
                                          (["--lr-schedule", "triangular", "--lr-min", "1e-2", "--lr-max", "1e-3"],
                                           "lr_min <= lr_max"),
                                          (["--lr-schedule", "triangular", "--lr-max", "fast"],
                                           "expected a positive number"),
                                          (["--lr-schedule", "cosine"], "invalid choice")])
def test_a_schedule_no_run_could_follow_is_refused_on_the_command_line(flags, words, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--grid", "smoke", *flags])
    assert exit_.value.code == 2 and words in capsys.readouterr().err


def test_a_reports_own_rebuild_line_rebuilds_it_even_for_a_grid_folder_no_preset_names(tmp_path, capsys):
    import re
    import shlex

    from tests.synthetic_store import write_synthetic_grid

    store = write_synthetic_grid(tmp_path)  # its folder, "synthetic", is no preset (as quick-rr is not)
    assert main(["report", "--results-dir", str(tmp_path)]) == 0
    report = store.path / "REPORT.md"
    line = re.search(r"Rebuild from the saved runs, without training: `python run_benchmark.py ([^`]+)`",
                     report.read_text()).group(1)
    report.unlink()
    assert main([str(tmp_path) if word == "DIR" else word for word in shlex.split(line)]) == 0
    assert report.exists() and "--grid synthetic" in line
    with pytest.raises(SystemExit) as exit_:  # a run needs a preset: the folder is what it makes
        main(["run", "--grid", "synthetic", "--results-dir", str(tmp_path)])
    assert exit_.value.code == 2
    assert "invalid choice: 'synthetic' (choose from binary_mlp_rf_noise" in capsys.readouterr().err


def test_the_start_up_line_says_the_executor_in_words_not_as_a_python_dict():
    from benchmark.cli import describe_executor

    assert describe_executor({"name": "pool", "workers": 2, "threads": 1, "pinned": True, "jit_compile": True}) == \
        "pool, workers 2, threads 1, pinned on, jit compile on"
