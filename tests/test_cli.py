"""The command line as a user runs it: help, data histograms, a tiny grid, clear errors."""
import socket
import sys

import pytest

from benchmark.cli import main


def test_help_documents_the_grids_and_flags(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    for flag in ("--grid", "--models", "--resamplers", "--seeds", "--split", "--steps", "--data-dir",
                 "--results-dir", "--overwrite", "--executor", "--ray-address", "--threads", "smoke", "quick", "full"):
        assert flag in text


def test_data_command_prints_histograms_and_source(tiny_db, tmp_path, capsys):
    assert main(["data", "--data-dir", str(tiny_db), "--cache-dir", str(tmp_path / "c")]) == 0
    out = capsys.readouterr().out
    assert "## intra split" in out and "## inter split" in out
    assert "3 mitdb records in" in out and "| validation |" in out


def test_tiny_grid_end_to_end_then_report(tiny_db, tmp_path):
    args = ["--grid", "smoke", "--models", "mlp", "--resamplers", "none", "random", "--steps", "4",
            "--eval-every", "2", "--data-dir", str(tiny_db), "--cache-dir", str(tmp_path / "c"),
            "--results-dir", str(tmp_path / "r")]
    assert main(args) == 0
    summary = (tmp_path / "r/intra/summary.md").read_text()
    assert "grid `smoke`" in summary and "| mlp " in summary
    assert (tmp_path / "r/intra/runs.csv").read_text().count("\n") == 3
    before = (tmp_path / "r/intra/summary.md").read_bytes()
    assert main(["report", "--results-dir", str(tmp_path / "r")]) == 0
    assert (tmp_path / "r/intra/summary.md").read_bytes() == before
    overview = (tmp_path / "r/README.md").read_text()
    assert "| model   | resampler   | intra macro F1   |" in overview and "[`intra`](intra/REPORT.md)" in overview


def test_report_without_runs_fails_clearly(tmp_path, capsys):
    assert main(["report", "--results-dir", str(tmp_path)]) == 1
    assert "no grid results found" in capsys.readouterr().err


def test_offline_without_records_exits_2_with_advice(tmp_path, monkeypatch, capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("MITDB_URL", f"http://127.0.0.1:{port}/")
    assert main(["data", "--data-dir", str(tmp_path / "none"), "--cache-dir", str(tmp_path / "c")]) == 2
    assert "MITDB_DIR" in capsys.readouterr().err


def test_ray_executor_without_ray_says_how_to_install_before_loading_data(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    assert main(["--executor", "ray", "--data-dir", str(tmp_path / "none"), "--cache-dir", str(tmp_path)]) == 2
    assert 'pip install -e ".[ray]"' in capsys.readouterr().err


def test_ray_options_need_the_ray_executor(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--ray-address", "auto"])
    assert exit_.value.code == 2 and "--executor ray" in capsys.readouterr().err
