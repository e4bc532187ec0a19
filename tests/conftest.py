"""Shared fixtures: tiny WFDB records written by the tests themselves, and synthetic beat sets."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REAL_MITDB = Path(os.environ.get("MITDB_DIR", Path(__file__).resolve().parents[2] / "shared" / "data" / "mitdb"))
FS = 360
RR = 270  # samples between beats (0.75 s)
# one non-N beat every 5 beats, cycling through S, V, F, Q symbols
SYMBOL_CYCLE = ["N", "N", "N", "N", "A", "N", "N", "N", "N", "V", "N", "N", "N", "N", "F", "N", "N", "N", "N", "/"]


def synthetic_ecg(n_samples: int, peaks: np.ndarray, rng: np.random.Generator, fs: int = FS) -> np.ndarray:
    t = np.arange(n_samples)
    sig = 0.05 * np.sin(2 * np.pi * t / (fs * 4)) + 0.01 * rng.standard_normal(n_samples)
    for p in peaks:
        sig += 1.2 * np.exp(-0.5 * ((t - p) / (4.0 * fs / FS)) ** 2) \
            + 0.3 * np.exp(-0.5 * ((t - p - 110 * fs / FS) / (18.0 * fs / FS)) ** 2)
    return sig


def write_record(directory: Path, name: str, n_beats: int = 80, seed: int = 0, extra_ann=True, fs: int = FS,
                 s_symbol: str = "A", noise_snr: float | None = None) -> dict:
    """Write ``name``.hea/.dat/.atr; returns the expected AAMI class counts.

    ``fs``: sampling rate (svdb records are 128 Hz); ``s_symbol``: the annotation of supraventricular
    beats (``A`` in mitdb, ``S`` in svdb); ``noise_snr``: add white noise at this SNR (dB) in nstdb's noisy
    segments (after the first 5 minutes, 2 minutes on, 2 off).
    """
    import wfdb

    rng = np.random.default_rng(seed)
    rr = int(round(RR * fs / FS))
    peaks = 100 + rr * np.arange(n_beats)
    n_samples = int(peaks[-1] + 2 * rr)
    lead = synthetic_ecg(n_samples, peaks, rng, fs)
    if noise_snr is not None:
        from benchmark.data.external import in_noise

        noisy = in_noise(np.arange(n_samples), fs)
        noise = rng.standard_normal(n_samples)
        noise *= np.sqrt(np.mean(lead ** 2) / np.mean(noise ** 2) / 10 ** (noise_snr / 10))
        lead = lead + noise * noisy
    signal = np.stack([lead, 0.5 * lead], axis=1)
    wfdb.wrsamp(name, fs=fs, units=["mV", "mV"], sig_name=["MLII", "V1"], p_signal=signal,
                fmt=["212", "212"], adc_gain=[200.0, 200.0], baseline=[1024, 1024], write_dir=str(directory))
    symbols = [SYMBOL_CYCLE[i % len(SYMBOL_CYCLE)] for i in range(n_beats)]
    symbols = [s_symbol if s == "A" else s for s in symbols]
    samples = list(peaks)
    if extra_ann:  # non-beat annotations must be ignored
        samples, symbols = samples + [int(peaks[3]) + 5], symbols + ["+"]
        order = np.argsort(samples, kind="stable")
        samples, symbols = [samples[i] for i in order], [symbols[i] for i in order]
    wfdb.wrann(name, "atr", sample=np.array(samples), symbol=symbols, write_dir=str(directory))
    beats = [s for s in symbols if s != "+"]
    return {"N": beats.count("N"), "S": beats.count(s_symbol), "V": beats.count("V"), "F": beats.count("F"),
            "Q": beats.count("/")}


def write_database(directory: Path, records=("100", "101", "102"), manifest: str | None = "SHA256SUMS.txt",
                   **record_options):
    directory.mkdir(parents=True, exist_ok=True)
    for i, r in enumerate(records):
        write_record(directory, r, seed=i, **record_options)
    (directory / "RECORDS").write_text("".join(r + "\n" for r in records))
    if manifest:
        lines = [f"{hashlib.sha256((directory / f).read_bytes()).hexdigest()}  {f}"
                 for f in sorted(os.listdir(directory)) if f != manifest]
        (directory / manifest).write_text("\n".join(lines) + "\n")
    return directory


@pytest.fixture
def tiny_db(tmp_path) -> Path:
    """Three tiny records: 100 (DS2), 101 (DS1), 102 (paced, excluded from the inter split)."""
    return write_database(tmp_path / "mitdb")


@pytest.fixture
def cache_dir(tmp_path) -> Path:
    return tmp_path / "cache"


def clustered_beats(n_per_class=(300, 40, 60, 20, 40), length=187, seed=0, spread=0.05):
    """Synthetic beats: one noisy prototype per class, so the classes are learnable."""
    from benchmark.data.beats import BeatSet

    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, length)
    xs, ys = [], []
    for c, n in enumerate(n_per_class):
        proto = 0.5 + 0.4 * np.sin(2 * np.pi * (c + 1) * t)
        xs.append((proto + spread * rng.standard_normal((n, length))).astype(np.float32))
        ys.append(np.full(n, c, dtype=np.int8))
    x, y = np.concatenate(xs), np.concatenate(ys)
    n = len(y)
    return BeatSet(x, y, np.array([f"r{i % 7}" for i in range(n)]), np.arange(n, dtype=np.int64))


@pytest.fixture
def messages(caplog):
    """The log lines of the benchmark (INFO and up) written during the test."""
    import logging

    caplog.set_level(logging.INFO)

    class Lines:
        def __iter__(self):
            return iter(r.getMessage() for r in caplog.records)

        def clear(self):
            caplog.clear()
    return Lines()
