"""Pieces of one grid trained on other machines (a GPU lent ten minutes at a time) merged into one folder:
one run per cell, nothing mixed, nothing lost, each piece's provenance kept (benchmark.running.merge)."""
import json
import shutil
from dataclasses import replace

import numpy as np
import pytest

from benchmark.config import DataConfig, Grid, TrainConfig
from benchmark.data.splits import Split
from benchmark.running.evaluate import evaluate_grid
from benchmark.running.merge import merge_grid, merge_pieces
from benchmark.running.plan import grid_directory
from benchmark.running.runner import run_grid
from benchmark.store import GridStore, RunStore, StoreError
from tests.conftest import clustered_beats

GRID = Grid("test", ("mlp",), ("random",), (0,), TrainConfig(steps=12, batch_size=16, eval_every=6, patience=5),
            DataConfig(split="intra"))
OTHER = clustered_beats(n_per_class=(60, 10, 10, 6, 6), seed=5)  # stands in for another database


@pytest.fixture(scope="module")
def split():
    b = clustered_beats(n_per_class=(150, 20, 30, 12, 25), seed=1)
    return Split("intra", b, b.take(np.arange(0, len(b), 4)), clustered_beats(seed=2), "synthetic", "k1")


def piece(split, root, models, about):
    """One machine's piece: the grid's runs of ``models``, scored on the test part and on OTHER."""
    grid = replace(GRID, models=models)
    run_grid(grid, split, root / "results", root / "cache")
    store = RunStore(root / "results").grid("intra", grid_directory(grid))
    evaluate_grid(store, split.test, "test", {**about, "command": f"evaluate --on test ({about['machine']['cpu']})"})
    evaluate_grid(store, OTHER, "svdb", {**about, "command": f"evaluate --on svdb ({about['machine']['cpu']})"})
    return store


@pytest.fixture(scope="module")
def pieces(split, tmp_path_factory):
    root = tmp_path_factory.mktemp("pieces")
    a = piece(split, root / "a", ("mlp",), {"commit": "c1", "machine": {"cpu": "GPU host A"}})
    b = piece(split, root / "b", ("mlp_128_64_16",), {"commit": "c1", "machine": {"cpu": "GPU host B"}})
    return a, b


def contents(store: GridStore) -> dict:
    """Every file's content below the grid folder, npz files by their arrays (zip entries carry times)."""
    out = {}
    for f in sorted(store.path.rglob("*")):
        if f.is_file():
            if f.suffix == ".npz":
                with np.load(f) as z:
                    out[str(f.relative_to(store.path))] = {k: z[k].tobytes() for k in z.files if k != "checksum"}
            else:
                out[str(f.relative_to(store.path))] = f.read_bytes()
    return out


def test_two_pieces_make_one_grid_with_each_evaluation_joined_and_a_second_merge_changes_nothing(pieces, tmp_path):
    a, b = pieces
    into = GridStore(tmp_path / "intra" / a.name)
    merge_grid(a, into)
    outcome = merge_grid(b, into)
    assert len(outcome.added) == 1 and sorted(outcome.evaluations) == ["svdb", "test", "test_prior_corrected"]
    manifest = into.manifest()
    assert manifest["models"] == ["mlp", "mlp_128_64_16"] and len(manifest["runs"]) == 2
    assert all(into.is_done(r) for r in manifest["runs"])
    assert [p["models"] for p in manifest["pieces"]] == [["mlp"], ["mlp_128_64_16"]]
    for source in pieces:  # every piece's scores, unchanged, under its runs
        for name in ("test", "svdb"):
            *_, theirs = source.evaluation(name)
            *_, joined = into.evaluation(name)
            assert theirs and all(np.array_equal(joined[r], p) for r, p in theirs.items())
        probabilities = source.evaluation_with_probabilities("svdb")[4]
        joined_probabilities = into.evaluation_with_probabilities("svdb")[4]
        assert all(np.array_equal(joined_probabilities[r], p) for r, p in probabilities.items())
    about = into.evaluation_about("svdb")
    assert [(p["machine"]["cpu"], len(p["runs"])) for p in about["pieces"]] == [("GPU host A", 1), ("GPU host B", 1)]
    from benchmark.reporting.analysis import read_grid
    from benchmark.reporting.provenance_section import evaluation_lines
    lines = evaluation_lines(read_grid(into, compare=False, external=("svdb",)))  # the report names the machine of each piece
    assert "- Evaluation `svdb`, in 2 pieces:" in lines and any("1 run(s): `evaluate --on svdb (GPU host B)`" in x
                                                                for x in lines)

    before = contents(into)
    again = merge_grid(b, into)
    assert again.added == [] and again.completed == [] and len(again.unchanged) == 1
    assert contents(into) == before


def test_a_piece_that_would_mix_is_refused_before_anything_is_written(pieces, split, tmp_path):
    a, b = pieces
    into = GridStore(tmp_path / "intra" / a.name)
    merge_grid(a, into)
    before = contents(into)

    def edited(change):
        copy = GridStore(tmp_path / "edited" / "intra" / b.name)
        shutil.rmtree(copy.path.parent.parent, ignore_errors=True)
        shutil.copytree(b.path, copy.path)
        change(copy)
        return copy

    def manifest_change(**fields):
        def change(store):
            store.write_manifest({**store.manifest(), **fields})
        return change

    with pytest.raises(StoreError, match="its 'train' differs"):
        merge_grid(edited(manifest_change(train={**b.manifest()["train"], "steps": 13})), into)
    with pytest.raises(StoreError, match="its 'data_key' differs"):
        merge_grid(edited(manifest_change(data_key="other")), into)
    mlp_cell = next(c for c in a.manifest()["cells"] if c.startswith("mlp/random"))
    with pytest.raises(StoreError, match=f"cell {mlp_cell} .* changed between the pieces"):
        merge_grid(edited(manifest_change(cells={**b.manifest()["cells"], mlp_cell: "mlp__random__seed0__0000000000"})),
                   into)

    def other_bytes(store):  # the same run, trained elsewhere with other results
        run_id = a.manifest()["runs"][0]
        shutil.copytree(a.run_dir(run_id), store.run_dir(run_id))
        store.run_dir(run_id).joinpath("test_predictions.npy").write_bytes(b"other")
    with pytest.raises(StoreError, match="with another test_predictions.npy"):
        merge_grid(edited(other_bytes), into)

    def other_beats(store):
        labels, records, samples, predictions = store.evaluation("svdb")
        store.write_evaluation("svdb", labels, records, samples + 1, predictions, "run_id\n")
    with pytest.raises(StoreError, match="scored other beats"):
        merge_grid(edited(other_beats), into)
    assert contents(into) == before  # each refusal came before any write


def test_a_run_left_without_its_model_gets_it_and_evaluate_keeps_scores_of_models_kept_elsewhere(pieces, split,
                                                                                                tmp_path):
    a, b = pieces
    sent = tmp_path / "sent"  # a piece packed without its saved models (KEEP_MODELS=0)
    shutil.copytree(a.path, sent / "intra" / a.name)
    for model in (sent / "intra" / a.name / "runs").glob("*/model.keras"):
        model.unlink()
    merge_pieces(sent, tmp_path / "results")
    into = GridStore(tmp_path / "results" / "intra" / a.name)
    merge_grid(b, into)
    a_runs = a.manifest()["runs"]
    assert all(into.model_path(r) is None for r in a_runs)

    # scoring here reaches only b's models; a's earlier scores stay, with who made them
    evaluate_grid(into, OTHER, "svdb", {"commit": "c2", "machine": {"cpu": "this CPU"}, "command": "evaluate here"})
    *_, joined = into.evaluation("svdb")
    *_, theirs = a.evaluation("svdb")
    assert all(np.array_equal(joined[r], theirs[r]) for r in a_runs) and len(joined) == 2
    pieces_about = into.evaluation_about("svdb")["pieces"]
    assert [(p["machine"]["cpu"], len(p["runs"])) for p in pieces_about] == [("GPU host A", 1), ("this CPU", 1)]
    assert set(into.evaluation_with_probabilities("svdb")[4]) == set(joined)

    outcome = merge_grid(a, into)  # the piece again, now with its models: they are added, nothing replaced
    assert sorted(outcome.completed) == sorted(a_runs) and all(into.model_path(r) for r in a_runs)
    assert json.loads(into.run_dir(a_runs[0]).joinpath("metrics.json").read_text()) == a.metrics(a_runs[0])
