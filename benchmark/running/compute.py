"""Where and how runs compute: the Keras backend, the device, XLA compilation and determinism.

``configure`` must run before Keras (and so its backend) is imported: the determinism switches are
environment variables that JAX, TensorFlow and PyTorch read when they start. After that,
``describe_device`` says what the backend sees, and ``resolve_jit`` turns ``--jit auto`` into on or off
from what was measured (README, "Speed"):

- JAX: compiled always; uncompiled, Keras runs JAX op by op (3-32× slower on 2 CPU cores, 10-120× on
  an H200);
- TensorFlow on CPU: not compiled (XLA measured 1.7-4× slower for these models on 2 CPU cores);
  TensorFlow on a GPU: compiled (XLA's usual gain; not measured here, as the GPU machines have no
  TensorFlow GPU build);
- PyTorch: not compiled (Keras' ``jit_compile`` there means ``torch.compile``, which recompiles for
  every new batch shape).
"""
from __future__ import annotations

import os
import re
import subprocess

JIT_MODES = ("auto", "on", "off")
XLA_DETERMINISTIC = "--xla_gpu_deterministic_ops=true"


def configure(deterministic: bool = True) -> None:
    """Set the backends' determinism switches; call before importing Keras. Idempotent.

    JAX and TensorFlow's XLA: ``--xla_gpu_deterministic_ops`` (deterministic GPU kernels, no
    run-to-run autotuning choice); TensorFlow: ``TF_DETERMINISTIC_OPS``; PyTorch: cuBLAS' workspace
    setting (``use_deterministic_algorithms`` is switched on by ``describe_device`` once torch is
    imported). CPU runs are deterministic either way, but TensorFlow's deterministic ops pick other CPU
    kernels too, which can move the last bits of a result: a process that trains a run for another
    (a Ray worker) must get the same switches (:func:`determinism_env`).
    """
    # packs in several processes share one GPU: JAX takes memory as it needs it, not 75% up front
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    if not deterministic:
        return
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_gpu_deterministic_ops" not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} {XLA_DETERMINISTIC}".strip()
    os.environ.setdefault("TF_DETERMINISTIC_OPS", "1")
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")


def choose_backend() -> str | None:
    """Make JAX Keras' backend unless ``KERAS_BACKEND`` names one, before Keras starts: compiled, it is the fastest
    on a CPU (``benchmarks/output/backend_speed-*``: 1.7-5× TensorFlow's step for the mlp, cnn and LSTM, the same
    for the resnet). ``~/.keras/keras.json`` is not read as a choice: Keras writes "tensorflow" there the first
    time it is imported. A process that has already imported Keras keeps its backend. Returns the backend it set,
    else None."""
    import importlib.util
    import sys

    if "keras" in sys.modules or os.environ.get("KERAS_BACKEND") or importlib.util.find_spec("jax") is None:
        return None
    os.environ["KERAS_BACKEND"] = "jax"
    return "jax"


DETERMINISM_VARS = ("XLA_FLAGS", "TF_DETERMINISTIC_OPS", "CUBLAS_WORKSPACE_CONFIG", "XLA_PYTHON_CLIENT_PREALLOCATE")


def determinism_env() -> dict[str, str]:
    """This process's determinism switches (set by :func:`configure`), to hand to worker processes."""
    return {k: os.environ[k] for k in DETERMINISM_VARS if k in os.environ}


def backend_name() -> str:
    import keras

    return keras.backend.backend()


def _nvidia_smi() -> dict:
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total",
                              "--format=csv,noheader"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return {}
    if out.returncode != 0 or not out.stdout.strip():
        return {}
    _, driver, memory = [s.strip() for s in out.stdout.strip().splitlines()[0].split(",")]
    info = {"driver": driver, "memory": memory}
    try:  # the CUDA version the driver supports is only in nvidia-smi's banner
        banner = subprocess.run(["nvidia-smi"], capture_output=True, text=True, timeout=20).stdout
        found = re.search(r"CUDA Version:\s*([0-9.]+)", banner)
        if found:
            info["driver_cuda"] = found.group(1)
    except (OSError, subprocess.SubprocessError):
        pass
    return info


def describe_device(deterministic: bool = True) -> dict:
    """The device the backend computes on: its kind, GPU model, driver and CUDA where there is one.

    ``deterministic``: whether deterministic GPU kernels were asked for (``configure``); for JAX what is
    recorded is what its XLA_FLAGS actually hold.
    """
    backend = backend_name()
    info: dict = {"backend": backend, "kind": "cpu"}
    if backend == "jax":
        import jax

        device = jax.devices()[0]
        info["kind"] = device.platform
        if device.platform == "gpu":
            info["gpu"] = device.device_kind
            info["count"] = jax.device_count()
    elif backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            details = tf.config.experimental.get_device_details(gpus[0])
            info.update(kind="gpu", gpu=details.get("device_name", gpus[0].name), count=len(gpus),
                        cuda=tf.sysconfig.get_build_info().get("cuda_version"))
    elif backend == "torch":
        import torch

        if torch.cuda.is_available():
            info.update(kind="gpu", gpu=torch.cuda.get_device_name(0), count=torch.cuda.device_count(),
                        cuda=torch.version.cuda)
            if deterministic:
                torch.use_deterministic_algorithms(True)
    if info["kind"] == "gpu":
        info.update(_nvidia_smi())
    if backend == "jax":
        deterministic = "xla_gpu_deterministic_ops=true" in os.environ.get("XLA_FLAGS", "")
    info["deterministic"] = determinism(backend, info["kind"], deterministic)
    return info


def determinism(backend: str, kind: str, requested: bool) -> str:
    """What this run can promise about bit-for-bit repeats, in words recorded with it."""
    if kind == "cpu":
        return "deterministic on CPU for a given thread count and CPU model"
    if not requested:
        return "off (--no-deterministic): GPU kernels may differ from run to run"
    return {"jax": f"XLA_FLAGS {XLA_DETERMINISTIC}", "tensorflow": "TF_DETERMINISTIC_OPS=1 and XLA's flag",
            "torch": "torch.use_deterministic_algorithms(True)"}.get(backend, "not promised")


def resolve_jit(mode: str, backend: str, device_kind: str) -> bool:
    """``--jit`` as a yes or no for this backend and device (see the module docstring)."""
    if mode not in JIT_MODES:
        raise ValueError(f"--jit must be one of {', '.join(JIT_MODES)}, not {mode!r}")
    if mode != "auto":
        return mode == "on"
    if backend == "jax":
        return True
    if backend == "tensorflow":
        return device_kind == "gpu"
    return False
