"""Critical-difference diagrams across a grid's splits: blocks, ranks, Friedman's test, the figure and words."""
import numpy as np
import pandas as pd
import pytest
from scipy.stats import friedmanchisquare

from benchmark.reporting.analysis import read_grid
from benchmark.reporting.critical_difference import block_scores, critical_difference_sections, diagram
from benchmark.store import RunStore
from tests.synthetic_store import write_synthetic_grid

MODELS, TREATMENTS = ("mlp", "cnn"), ("none", "random", "smote")


def runs_table(scores: dict) -> pd.DataFrame:
    """{(model, resampler, seed): macro F1} → a runs table as read_grid gives it."""
    return pd.DataFrame([{"model": m, "resampler": r, "seed": s, "score": f} for (m, r, s), f in scores.items()])


def test_blocks_are_complete_rows_and_members_every_split_holds():
    intra = runs_table({("mlp", "none", 0): 0.8, ("mlp", "random", 0): 0.7, ("mlp", "smote", 0): 0.6,
                        ("cnn", "none", 0): 0.9, ("cnn", "random", 0): 0.85})  # cnn x smote not run yet
    inter = runs_table({("mlp", "none", 0): 0.3, ("mlp", "random", 0): 0.35, ("mlp", "smote", 0): 0.2,
                        ("mlp", "adasyn", 0): 0.1})  # adasyn only here: not a member
    scores = block_scores({"intra": intra, "inter": inter}, "resampler")
    assert list(scores.columns) == ["none", "random", "smote"]
    assert sorted(scores.index) == [("inter", "mlp", 0), ("intra", "mlp", 0)]  # the cnn's block is incomplete
    assert scores.loc[("inter", "mlp", 0)].tolist() == [0.3, 0.35, 0.2]


def test_ranks_and_friedman_are_computed_from_the_blocks():
    rng = np.random.default_rng(0)
    scores = {(m, r, s): base + rng.normal(0, 0.01) for m in MODELS for s in range(3)
              for r, base in zip(TREATMENTS, (0.8, 0.7, 0.6))}
    d = diagram("g", {"intra": runs_table(scores)}, "resampler")
    assert len(d.scores) == 6 and list(d.average_ranks.index) == ["none", "random", "smote"]
    assert d.average_ranks.tolist() == [1.0, 2.0, 3.0]
    expected = friedmanchisquare(*(d.scores[c] for c in d.scores.columns))
    assert d.friedman_statistic == pytest.approx(expected.statistic) and d.friedman_p == pytest.approx(expected.pvalue)
    flipped = {k: (1 - v if k[1] == "none" else v) for k, v in scores.items()}  # none now the worst
    assert diagram("g", {"intra": runs_table(flipped)}, "resampler").average_ranks.index[-1] == "none"


def test_too_few_blocks_or_members_give_no_diagram():
    two = runs_table({(m, r, 0): 0.5 for m in MODELS for r in ("none", "random")})
    assert diagram("g", {"intra": two}, "resampler") is None  # two members: Friedman needs three
    few = runs_table({("mlp", r, 0): f for r, f in zip(TREATMENTS, (0.8, 0.7, 0.6))})
    assert diagram("g", {"intra": few}, "resampler") is None  # one block


def test_the_overview_section_draws_both_diagrams_across_splits(tmp_path):
    root = tmp_path / "results"
    for i, split in enumerate(("intra", "inter")):
        write_synthetic_grid(root, models=MODELS + ("lstm",), resamplers=TREATMENTS, seeds=(0, 1, 2), split=split,
                             rng_seed=i, name="quick")
    grids = {f"{s.split}/{s.name}": read_grid(s, compare=False) for s in RunStore(root).grids()}
    lines = critical_difference_sections(grids, RunStore(root).overview_figure)
    text = "\n".join(lines)
    assert "## Critical-difference diagrams" in text
    assert "within each of 18 blocks (split × model × seed: intra, inter; seed(s) 0, 1, 2)" in text
    assert "within each of 18 blocks (split × treatment × seed" in text
    assert "Friedman's test over the blocks: χ² = " in text and "Holm-corrected at α = 0.05" in text
    for name in ("cd-quick-treatments", "cd-quick-models"):
        png = RunStore(root).overview_figure(name)
        assert png.read_bytes()[:4] == b"\x89PNG" and f"](figures/{name}.png)" in text
