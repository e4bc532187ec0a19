"""Compile modes and determinism switches: resolved per backend and device, recorded with every run."""
import os

import pytest

from benchmark.cli import main
from benchmark.cores import available_cores
from benchmark.running.compute import XLA_DETERMINISTIC, configure, determinism, resolve_jit


@pytest.mark.parametrize("mode, backend, kind, expected", [
    ("auto", "jax", "cpu", True), ("auto", "jax", "gpu", True),
    ("auto", "tensorflow", "cpu", False), ("auto", "tensorflow", "gpu", True),
    ("auto", "torch", "gpu", False), ("on", "tensorflow", "cpu", True), ("off", "jax", "gpu", False),
])
def test_jit_auto_follows_the_measurements(mode, backend, kind, expected):
    assert resolve_jit(mode, backend, kind) is expected


def test_unknown_jit_mode_is_an_error():
    with pytest.raises(ValueError, match="--jit"):
        resolve_jit("sometimes", "jax", "cpu")


def test_configure_sets_the_switches_once_and_keeps_other_flags(monkeypatch):
    monkeypatch.setenv("XLA_FLAGS", "--xla_dump_to=/tmp/x")
    monkeypatch.delenv("TF_DETERMINISTIC_OPS", raising=False)
    configure(True)
    configure(True)
    assert os.environ["XLA_FLAGS"] == f"--xla_dump_to=/tmp/x {XLA_DETERMINISTIC}"
    assert os.environ["TF_DETERMINISTIC_OPS"] == "1"


def test_configure_off_leaves_the_environment_alone(monkeypatch):
    monkeypatch.delenv("XLA_FLAGS", raising=False)
    configure(False)
    assert "XLA_FLAGS" not in os.environ


def test_determinism_is_said_in_words():
    assert "CPU" in determinism("jax", "cpu", True)
    assert XLA_DETERMINISTIC in determinism("jax", "gpu", True)
    assert determinism("jax", "gpu", False).startswith("off")


def test_packed_executor_needs_jax(tmp_path, capsys):
    # this process runs Keras on TensorFlow: a clear error, before any data is loaded
    assert main(["--executor", "packed", "--data-dir", str(tmp_path / "none"), "--cache-dir", str(tmp_path)]) == 2
    assert "needs the JAX backend" in capsys.readouterr().err


def test_a_named_commit_overrides_a_stale_checkout(monkeypatch):
    from benchmark.provenance import git_commit

    monkeypatch.setenv("ECG_BENCH_COMMIT", "abc1234")
    assert git_commit() == "abc1234 (from ECG_BENCH_COMMIT)"


def test_the_device_is_described_on_this_backend():
    from benchmark.running.compute import describe_device

    device = describe_device()
    assert device["backend"] == "tensorflow" and device["kind"] in ("cpu", "gpu")
    if device["kind"] == "cpu":
        assert "CPU" in device["deterministic"]
    else:
        assert "gpu" in device and "TF_DETERMINISTIC_OPS" in device["deterministic"]


def test_the_gpu_driver_and_its_cuda_are_read_from_nvidia_smi(monkeypatch):
    import subprocess

    from benchmark.running import compute

    banner = "| NVIDIA-SMI 580.159.04   Driver Version: 580.159.04     CUDA Version: 13.0     |"

    def fake_run(cmd, **kwargs):
        out = "NVIDIA H200, 580.159.04, 143771 MiB\n" if len(cmd) > 1 else banner
        return subprocess.CompletedProcess(cmd, 0, stdout=out, stderr="")

    monkeypatch.setattr(compute.subprocess, "run", fake_run)
    assert compute._nvidia_smi() == {"driver": "580.159.04", "memory": "143771 MiB", "driver_cuda": "13.0"}


def test_without_cpu_affinity_as_on_macos_the_cores_are_counted_and_the_cli_starts(tmp_path, monkeypatch, capsys):
    import numpy as np

    from benchmark.provenance import machine
    from resampling.neighbours import kneighbors

    assert available_cores() == len(os.sched_getaffinity(0))
    monkeypatch.delattr(os, "sched_getaffinity")
    monkeypatch.setattr(os, "cpu_count", lambda: 3)
    assert available_cores() == 3 and machine()["cores"] == 3
    monkeypatch.setattr(os, "cpu_count", lambda: None)  # "undeterminable", says the os module
    assert available_cores() == 1
    x = np.random.default_rng(0).normal(size=(40, 8))
    assert (kneighbors(x, 3)[:, 0] == np.arange(40)).all()
    assert main(["report", "--results-dir", str(tmp_path)]) == 1, "start-up got as far as looking for results"
    assert "no grid results found" in capsys.readouterr().err
