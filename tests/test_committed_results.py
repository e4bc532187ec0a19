"""The committed reports are what the committed runs give: `report` rebuilds them byte for byte."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REPORT_COMMIT_LINE = "written by the report code at"  # names the commit that wrote the tables


def comparable(path: Path) -> bytes:
    if path.suffix != ".md":
        return path.read_bytes()
    return "\n".join(line.split(REPORT_COMMIT_LINE)[0] for line in path.read_text().splitlines()).encode()


@pytest.mark.slow  # ~30 s: .ci/run runs it deliberately
def test_report_rebuilds_the_committed_reports_byte_identically(tmp_path):
    committed = ROOT / "results"
    if not list(committed.glob("*/*/grid.json")):
        pytest.skip("no committed grids")
    copy = tmp_path / "results"
    shutil.copytree(committed, copy, ignore=shutil.ignore_patterns("local"))
    # the committed results and every results folder inside it (a comparison's grids, say)
    roots = [copy, *sorted(p for p in copy.iterdir() if p.is_dir() and list(p.glob("*/*/grid.json")))]
    commands = [["report", "--results-dir", str(root)] for root in roots]
    for comparison in copy.rglob("COMPARISON-*-vs-*.md"):  # `compare` rebuilds the comparisons; it names
        base, other = comparison.stem.removeprefix("COMPARISON-").split("-vs-")  # the folders as given
        commands.append(["compare", base, other, "--split", comparison.parent.name,
                         "--results-dir", comparison.parent.parent.relative_to(tmp_path).as_posix()])
    for command in commands:
        proc = subprocess.run([sys.executable, str(ROOT / "run_benchmark.py"), *command], cwd=tmp_path,
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, f"{command}: {proc.stderr[-3000:]}"
    from benchmark.store import GridStore
    from benchmark.transfer.report import write_transfer_report

    for transfer in copy.rglob("TRANSFER.md"):  # a transfer's report, from its runs' saved predictions
        assert write_transfer_report(GridStore(transfer.parent))
    files = [p.relative_to(copy) for p in copy.rglob("*") if p.is_file()]
    assert {p for p in files} == {p.relative_to(committed) for p in committed.rglob("*")
                                  if p.is_file() and "local" not in p.relative_to(committed).parts}
    differing = [str(p) for p in files if comparable(copy / p) != comparable(committed / p)]
    assert not differing, f"rebuilt files differ from the committed ones: {differing}"


@pytest.mark.slow  # ~1 min: .ci/run runs it deliberately
@pytest.mark.parametrize("split", ["inter"])
def test_the_committed_verdicts_do_not_depend_on_the_bootstraps_draw(split):
    """Five other bootstrap seeds give every comparison of the committed grid the same verdict."""
    from benchmark.reporting.analysis import read_grid
    from benchmark.store import RunStore

    store = RunStore(ROOT / "results").grid(split, "quick")
    if not store.exists():
        pytest.skip(f"no committed {split} quick grid")
    columns = ["family", "model_a", "resampler_a", "model_b", "resampler_b", "verdict"]
    verdicts = [read_grid(store, boot_seed=seed).comparisons[columns] for seed in range(6)]
    assert len(verdicts[0]) > 0
    for seed, table in enumerate(verdicts[1:], 1):
        assert table.equals(verdicts[0]), f"bootstrap seed {seed} changes a verdict"
