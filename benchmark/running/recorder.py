"""The driver's side of a grid: progress (log lines with an ETA, and a bar), and every outcome written
to the run store. Executors call it; it never trains."""
from __future__ import annotations

import logging
import time
from datetime import datetime, timezone

from benchmark.config import Grid
from benchmark.estimators.control import RunControl
from benchmark.logs import clock, progress
from benchmark.running.plan import GridData, RunSpec
from benchmark.store import GridStore

log = logging.getLogger(__name__)


class GridOutcome:
    def __init__(self):
        self.done: list[str] = []
        self.skipped: list[str] = []
        self.failed: dict[str, str] = {}
        self.interrupted: list[str] = []  # stopped at a check by the time limit; their checkpoints resume them
        self.not_started: list[str] = []  # left for a rerun by the time limit

    @property
    def stopped_by_time_limit(self) -> bool:
        return bool(self.interrupted or self.not_started)

    def add(self, other: "GridOutcome") -> None:
        self.done += other.done
        self.skipped += other.skipped
        self.failed.update(other.failed)
        self.interrupted += other.interrupted
        self.not_started += other.not_started


class RunRecorder:
    def __init__(self, grid: Grid, data: GridData, store: GridStore, identities: dict[str, dict], total: int,
                 provenance: dict, deadline: float | None = None):
        self.grid, self.data, self.store, self.identities = grid, data, store, identities
        self.total, self.provenance, self.deadline = total, provenance, deadline
        self.outcome = GridOutcome()
        self.start, self.reported = time.perf_counter(), 0
        self.bar = progress(total=total, desc=f"grid {grid.name} ({grid.data.split})", unit="run")

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def control(self, spec: RunSpec) -> RunControl:
        """How the run is kept and stopped: its checkpoint in its folder, and the grid's deadline."""
        return RunControl(checkpoint=self.store.checkpoint_dir(spec.run_id), deadline=self.deadline)

    def past_deadline(self) -> bool:
        return RunControl(deadline=self.deadline).past_deadline()

    def interrupted(self, spec: RunSpec, exc: BaseException) -> None:
        """A run the time limit stopped at a check: kept for a rerun to resume, neither done nor failed."""
        self.outcome.interrupted.append(spec.run_id)
        log.info("  %s: %s", spec.run_id, exc)

    def not_started(self, specs: list[RunSpec]) -> None:
        self.outcome.not_started += [s.run_id for s in specs]

    def starting(self, spec: RunSpec) -> None:
        """Log the run about to start (in process, one at a time), with the time left at this pace."""
        self.reported += 1
        elapsed, trained = self.elapsed(), len(self.outcome.done)
        eta = f", ETA {clock(elapsed / trained * (self.total - self.reported + 1))}" if trained else ""
        log.info("[run %d/%d] %s × %s, seed %d (elapsed %s%s)", self.reported, self.total, spec.model,
                 spec.resampler, spec.seed, clock(elapsed), eta)

    def arrived(self, spec: RunSpec) -> None:
        """Log a run whose result just came back (on Ray or in packs, several at a time, in any order)."""
        self.reported += 1
        elapsed, left = self.elapsed(), self.total - self.reported
        eta = f", ETA {clock(elapsed / self.reported * left)}" if left else ""
        log.info("[run %d/%d] %s × %s, seed %d finished (elapsed %s%s)", self.reported, self.total, spec.model,
                 spec.resampler, spec.seed, clock(elapsed), eta)

    def succeeded(self, spec: RunSpec, resampling: dict, result: dict) -> None:
        predictions = result.pop("test_predictions")
        probabilities = result.pop("test_probabilities", None)
        model = result.pop("model", None)
        model_suffix = result.pop("model_suffix", ".keras")
        anytime = result.pop("anytime_probabilities", None)
        self.store.write_run(spec.run_id, {
            "split": spec.split, "model": spec.model, "resampler": spec.resampler, "seed": spec.seed,
            "config": spec.config, "run_id": spec.run_id, "grid": self.grid.name, "grid_directory": self.store.name,
            "identity": self.identities[spec.run_id], "train_config": self.grid.train_for(spec.model).as_dict(),
            "data_config": self.grid.data.as_dict(), "data_key": self.data.key, "resampling": resampling,
            **result, "provenance": self.provenance,
            "task": self.data.task.name,
            "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }, predictions, model, probabilities, model_suffix, anytime)
        self.outcome.done.append(spec.run_id)
        self.bar.update()
        t = result["test"]
        log.info("  test macro F1 %.4f, recall %s; %d steps in %.0f s", t["macro_f1"],
                 " ".join(f"{c} {t['recall'][c]:.2f}" for c in self.data.task.classes), result["steps_trained"],
                 result["seconds"]["train"])

    def failed(self, spec: RunSpec, exc: BaseException, trace: str) -> None:
        reason = f"{type(exc).__name__}: {exc}"
        self.outcome.failed[spec.run_id] = reason
        self.bar.update()
        log.warning("  FAILED %s: %s", spec.run_id, reason)
        self.store.write_failure(spec.run_id, {"model": spec.model, "resampler": spec.resampler, "seed": spec.seed,
                                               "run_id": spec.run_id, "error": reason, "traceback": trace})

    def close(self) -> None:
        self.bar.close()
