"""Critical-difference diagrams (Demšar 2006) of a grid's treatments and of its models, across its splits,
models (or treatments) and seeds, drawn by aeon's ``plot_critical_difference``, with the tests named.

A block is one (split, model, seed) for the treatments' diagram, one (split, treatment, seed) for the models'.
Within a block every member is ranked by its split's primary test score (``benchmark.reporting.analysis.
primary_score``: macro F1, over N, S, V and F on an inter-patient split; 1 best, ties averaged). Friedman's test asks
whether any average rank differs; the bars join members that one-sided Wilcoxon signed-rank tests over the
blocks, Holm-corrected, do not tell apart (aeon's default clique rule: the Nemenyi critical difference depends
on which other members are in the pool; Benavoli et al. 2016). The blocks share test patients and training
data, so they are not the independent data sets those tests assume: the diagram describes, and each grid's
record-level paired tests decide. Collapsed runs are scored as they are (a collapse is its treatment's loss).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from benchmark.data.splits import SPLITS

ALPHA = 0.05
MIN_BLOCKS = 5  # fewer blocks than this: no diagram, and the overview says why
MEMBERS = {"resampler": ("treatments", "model"), "model": ("models", "resampler")}


@dataclass(frozen=True)
class Diagram:
    grid: str
    over: str  # "resampler" or "model"
    scores: pd.DataFrame  # one row a block (split, other, seed), one column a member: its primary test score
    average_ranks: pd.Series  # member -> average rank, best first
    friedman_statistic: float
    friedman_p: float

    @property
    def label(self) -> str:
        return MEMBERS[self.over][0]


SCORE_WORDS = "each split's primary score: macro F1, over N, S, V and F on an inter-patient split"


def block_scores(runs: dict[str, pd.DataFrame], over: str) -> pd.DataFrame:
    """{split: runs table, with its primary score in column ``score``} → that score with one row a complete block and one column a member that every
    split's grid holds; a block missing a member's run (not run yet, failed) is left out whole."""
    other = MEMBERS[over][1]
    frames = [r.assign(split=split)[["split", other, "seed", over, "score"]] for split, r in runs.items() if len(r)]
    if not frames:
        return pd.DataFrame()
    members = sorted(set.intersection(*(set(f[over]) for f in frames)), key=list(frames[0][over]).index)
    table = pd.concat(frames).pivot_table(index=["split", other, "seed"], columns=over, values="score",
                                          aggfunc="first")
    return table.reindex(columns=members).dropna(axis=0, how="any")


def diagram(grid: str, runs: dict[str, pd.DataFrame], over: str) -> Diagram | None:
    from scipy.stats import friedmanchisquare

    scores = block_scores(runs, over)
    if scores.shape[1] < 3 or len(scores) < MIN_BLOCKS:  # Friedman's test needs three members
        return None
    ranks = scores.rank(axis=1, ascending=False).mean().sort_values(kind="stable")
    statistic, p = friedmanchisquare(*(scores[c].to_numpy() for c in scores.columns))
    return Diagram(grid, over, scores, ranks, float(statistic), float(p))


def draw(d: Diagram, path: Path) -> Path:
    from aeon.visualisation import plot_critical_difference

    from benchmark.reporting.figures import _pyplot, _save

    _pyplot()  # the figures' backend and fonts
    fig, ax = plot_critical_difference(d.scores.to_numpy(), [str(c) for c in d.scores.columns], test="wilcoxon",
                                       correction="holm", alpha=ALPHA)
    ax.set_title(f"{d.grid}: {d.label} by test score, {len(d.scores)} blocks")
    fig.set_layout_engine("none")  # aeon places its own axes; the figures' constrained layout would only warn
    return _save(fig, path)


def section(d: Diagram, figure: str) -> list[str]:
    """The overview's words for one diagram, every figure in them computed from ``d``."""
    other = "treatment" if d.over == "model" else "model"
    present = set(d.scores.index.get_level_values("split"))
    splits = ", ".join(sorted(present, key=lambda s: (SPLITS.index(s) if s in SPLITS else len(SPLITS), s)))
    seeds = sorted(set(d.scores.index.get_level_values("seed")))
    ranks = ", ".join(f"{m} {r:.2f}" for m, r in d.average_ranks.items())
    verdict = "some average ranks differ" if d.friedman_p < ALPHA else "no evidence that any average rank differs"
    return [f"![{d.grid}: {d.label}]({figure})", "",
            f"The {d.label} of `{d.grid}` ranked by test score ({SCORE_WORDS}) within each of {len(d.scores)} blocks (split × "
            f"{other} × seed: {splits}; seed(s) {', '.join(map(str, seeds))}), rank 1 the best; average ranks: {ranks}. "
            f"Friedman's test over the blocks: χ² = {d.friedman_statistic:.2f}, p = {d.friedman_p:.3g} ({verdict} at "
            f"α = {ALPHA}). A bar joins {d.label} that one-sided Wilcoxon signed-rank tests over the blocks, "
            f"Holm-corrected at α = {ALPHA}, do not tell apart (aeon's `plot_critical_difference`; Demšar 2006). The "
            "blocks share test patients and training data, so the tests describe; each grid's record-level paired "
            "tests decide.", ""]


def critical_difference_sections(grids: dict, figure_path) -> list[str]:
    """The overview's critical-difference section: for every grid name, across the splits it was run on, one
    diagram of its treatments and one of its models. ``grids``: {"split/name": SavedGrid}; ``figure_path``: a
    figure's name → its path (the store's)."""
    by_name: dict[str, dict[str, pd.DataFrame]] = {}
    for key, g in grids.items():
        split, name = key.split("/", 1)
        by_name.setdefault(name, {})[split] = g.runs
    lines, skipped = [], []
    for name, runs in by_name.items():
        for over in MEMBERS:
            d = diagram(name, runs, over)
            if d is None:
                skipped.append(f"`{name}` {MEMBERS[over][0]}")
                continue
            path = draw(d, figure_path(f"cd-{name}-{MEMBERS[over][0]}"))
            lines += section(d, f"{path.parent.name}/{path.name}")
    if not lines:
        return []
    head = ["## Critical-difference diagrams", ""]
    if skipped:
        head += [f"No diagram for {', '.join(skipped)}: fewer than three members or {MIN_BLOCKS} complete blocks.", ""]
    return head + lines
