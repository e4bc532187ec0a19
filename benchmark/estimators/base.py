"""The protocol every estimator kind follows, and the one early-stopping loop of the benchmark."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, ClassVar

import numpy as np

from benchmark.config import TrainConfig
from benchmark.logs import clock

log = logging.getLogger(__name__)

# A long run (an LSTM or a transformer on two CPU cores trains for most of an hour) says where it is at
# the first validation check at least this many seconds after its last progress line; short runs stay quiet.
PROGRESS_SECONDS = 60.0


class Estimator:
    """One run's model: trained once by :meth:`fit`, then used by :meth:`predict_proba`.

    ``fit`` returns the training report every run records (``history``, ``best_step``,
    ``best_val_macro_f1``, ``steps_trained``, ``optimizer_steps``, ``stopped_early``, ``n_params``,
    ``seconds`` with ``train`` and ``validation``). ``save`` gives the bytes of the model file (never a
    pickle); :meth:`load` reads them back.
    """

    kind: ClassVar[str]
    packable: ClassVar[bool]  # can be trained with other runs in one compiled step (benchmark.running.packed)
    uses_steps: ClassVar[bool]  # trained for TrainConfig.steps optimizer updates (else its own budget)
    suffix: ClassVar[str]  # of the saved model's file name

    def __init__(self, model_name: str, input_shape: tuple[int, ...], n_classes: int, seed: int, features: int = 0,
                 hyperparameters: dict | None = None):
        self.model_name, self.input_shape, self.n_classes, self.seed = model_name, tuple(input_shape), n_classes, seed
        self.features = features  # of the input's positions, how many are appended features (benchmark.data.inputs)
        self.hyperparameters = dict(hyperparameters or {})  # the builder's, where they differ (tuned settings)

    def fit(self, x: np.ndarray, y: np.ndarray, weights: np.ndarray | None, val_x: np.ndarray, val_y: np.ndarray,
            cfg: TrainConfig, jit_compile: bool = False, on_check: Callable[[int, float], bool] | None = None,
            control=None) -> dict:
        """Train on (x, y), choosing by validation macro F1; ``on_check(step, val_macro_f1)``, if given, sees
        every validation check and may stop the training by returning True (a tune's pruner); ``control``: a
        ``benchmark.estimators.control.RunControl`` (checkpoints, deadline, anytime predictions), where the
        kind trains in checks."""
        raise NotImplementedError

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities (n, n_classes) of beats ``x``, (n, length) or (n, length, 1)."""
        raise NotImplementedError

    def save(self) -> bytes:
        raise NotImplementedError

    @classmethod
    def load(cls, model_name: str, path: Path, n_classes: int | None = None) -> "Estimator":
        """The model saved at ``path``; ``n_classes``: the task's (a saved model may not say)."""
        raise NotImplementedError


@dataclass
class MemberRecord:
    """One run's validation record while it trains (alone, or as a member of a pack)."""

    history: list = field(default_factory=list)
    best_val_macro_f1: float = -1.0
    best_step: int = 0
    stale: int = 0
    steps_trained: int = 0
    failed: Exception | None = None

    def state(self) -> dict:
        """What a checkpoint keeps of it (a failed run is never checkpointed)."""
        return {"history": self.history, "best_val_macro_f1": self.best_val_macro_f1, "best_step": self.best_step,
                "stale": self.stale, "steps_trained": self.steps_trained}

    @classmethod
    def from_state(cls, state: dict) -> "MemberRecord":
        return cls(**state)


@dataclass
class LoopState:
    """Where the loop stands after a check: what a resumed run starts from."""

    step: int
    records: list[MemberRecord]
    active: np.ndarray
    times: "LoopTimes | None" = None  # this session's (a resumed run's since it resumed)


@dataclass
class LoopTimes:
    train: float = 0.0
    validation: float = 0.0
    chunks: list = field(default_factory=list)  # seconds of each training chunk (the first holds compilation)


def early_stopping_loop(k: int, cfg: TrainConfig, train_chunk: Callable[[int, np.ndarray], np.ndarray],
                        validate: Callable[[np.ndarray], np.ndarray],
                        keep_best: Callable[[np.ndarray], None],
                        on_check: Callable[[int, np.ndarray], bool] | None = None,
                        resume: LoopState | None = None,
                        after_check: Callable[[LoopState], None] | None = None,
                        ) -> tuple[list[MemberRecord], LoopTimes]:
    """Train ``k`` runs for ``cfg.steps`` optimizer steps, checking validation macro F1 every ``eval_every``.

    ``train_chunk(steps, active)`` trains the active runs for ``steps`` steps and returns each run's
    mean training loss over them; ``validate(active)`` returns each run's validation macro F1;
    ``keep_best(improved)`` keeps the current weights of the improved runs as their best. A run stops
    after ``patience`` checks without improvement, or fails when its loss becomes non-finite; the others
    go on. The one loop behind training alone (k = 1) and in packs.

    ``on_check(step, scores)``, if given, sees each check's validation macro F1 of every run (as ``validate``
    gave them); returning True stops them all (a tune's pruner). Without it nothing changes.

    ``resume``: the state a checkpoint kept, to go on from (None: from step 0). ``after_check(state)``, if
    given, sees the state after every check (to checkpoint it, or to stop the run by raising).
    """
    records = [MemberRecord() for _ in range(k)] if resume is None else resume.records
    active = np.ones(k, bool) if resume is None else resume.active.copy()
    times = LoopTimes()
    step = first = 0 if resume is None else resume.step
    began = last_progress = time.perf_counter()
    while step < cfg.steps and active.any():
        chunk = min(cfg.eval_every, cfg.steps - step)
        start = time.perf_counter()
        losses = np.asarray(train_chunk(chunk, active.copy()), dtype=float)
        times.chunks.append(time.perf_counter() - start)
        times.train += times.chunks[-1]
        step += chunk
        start = time.perf_counter()
        scores = validate(active.copy())
        improved = np.zeros(k, bool)
        for i in np.flatnonzero(active):
            record, loss, score = records[i], float(losses[i]), float(scores[i])
            record.history.append({"step": step, "train_loss": loss, "val_macro_f1": score})
            record.steps_trained = step
            if not np.isfinite(loss):
                record.failed = FloatingPointError(f"training loss became {loss} at step {step}")
                active[i] = False
            elif score > record.best_val_macro_f1:
                record.best_val_macro_f1, record.best_step, record.stale, improved[i] = score, step, 0, True
            else:
                record.stale += 1
                if record.stale >= cfg.patience:
                    active[i] = False
        if improved.any():
            keep_best(improved)
        if on_check is not None and on_check(step, np.asarray(scores, dtype=float)):
            active[:] = False
        times.validation += time.perf_counter() - start
        if after_check is not None:
            after_check(LoopState(step, records, active.copy(), times))
        now = time.perf_counter()
        if now - last_progress >= PROGRESS_SECONDS and step < cfg.steps and active.any():
            last_progress = now
            log.info(progress_line(step, cfg.steps, now - began, records, active, step - first))
        elif log.isEnabledFor(logging.DEBUG):
            log.debug(f"    step {step}/{cfg.steps}: {int(active.sum())}/{k} run(s) still training, val macro F1 "
                      + " ".join(f"{r.history[-1]['val_macro_f1']:.3f}" for r in records
                                 if r.history and r.history[-1]["step"] == step))
    return records, times


def progress_line(step: int, steps: int, elapsed: float, records: list[MemberRecord], active: np.ndarray,
                  stepped: int | None = None) -> str:
    """Where a long training stands: steps done, the best validation macro F1 so far, seconds per step and
    the time left if every active run trains to the last step (early stopping can only make it shorter).
    ``stepped``: the steps ``elapsed`` covers (a resumed run's since it resumed; default ``step``)."""
    best = max(r.best_val_macro_f1 for r in records)
    per_step = elapsed / (stepped or step)
    left = per_step * (steps - step)
    runs = "" if len(records) == 1 else f", {int(active.sum())}/{len(records)} run(s) still training"
    return (f"    step {step}/{steps}{runs}: best val macro F1 {best:.3f}, {per_step:.2f} s a step with its checks, "
            f"at most {clock(left)} left")


def training_report(record: MemberRecord, cfg: TrainConfig, optimizer_steps: int, n_params: int,
                    times: dict) -> dict:
    """What a run records of its training (``Estimator.fit``'s return value)."""
    return {"best_step": record.best_step, "best_val_macro_f1": record.best_val_macro_f1,
            "steps_trained": record.steps_trained, "optimizer_steps": optimizer_steps,
            "stopped_early": record.steps_trained < cfg.steps, "history": record.history, "n_params": n_params,
            "seconds": times}
