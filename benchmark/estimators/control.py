"""What a run does beside training: a checkpoint at every validation check, a stop after a deadline, and
the test part's predictions of the best checkpoint up to fixed fractions of its budget.

A checkpoint holds everything the rest of the run depends on (weights with the dropout layers' random
state, the optimizer's state, the position in the seeded batch stream, the early-stopping record, the
best weights so far and the anytime predictions made so far), so a run killed at any moment and started
again from its last check ends as the run never interrupted would, bit for bit on the same machine.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmark.files import load_arrays, save_arrays

log = logging.getLogger(__name__)

# The fractions of a run's budget at which the best-on-validation checkpoint so far also predicts the test part,
# so a report can show a treatment's effect as training grows without training again. The whole budget's is the
# run's own result.
ANYTIME_FRACTIONS = (0.25, 0.5)
CHECKPOINT = "checkpoint.npz"


class TimeLimitReached(Exception):
    """A run stopped at a validation check after its grid's time limit, its checkpoint saved: not a failure."""


@dataclass(frozen=True)
class RunControl:
    """``checkpoint``: the folder of the run's checkpoint (None: none kept); ``deadline``: a ``time.time()`` after
    which the run stops at its next check; ``test_x``: the test part's beats, for the anytime predictions
    (None: none made); ``fractions``: of the budget, where they are made."""

    checkpoint: Path | None = None
    deadline: float | None = None
    test_x: np.ndarray | None = None
    fractions: tuple[float, ...] = ANYTIME_FRACTIONS

    def past_deadline(self) -> bool:
        return self.deadline is not None and time.time() >= self.deadline


def anytime_limits(steps: int, fractions: tuple[float, ...]) -> list[tuple[float, int]]:
    """(fraction, the last step it allows) for each fraction below the whole budget."""
    return [(f, int(f * steps)) for f in fractions if 0 < f < 1]


def due_fractions(step: int, eval_every: int, steps: int, fractions, done, finished: bool) -> list[tuple[float, int]]:
    """The fractions whose last check is the one at ``step``: the next check would pass their limit, or the run
    ends here. ``done``: the fractions already recorded."""
    return [(f, limit) for f, limit in anytime_limits(steps, fractions)
            if f not in done and step <= limit and (finished or step + eval_every > limit or step == limit)]


def save_checkpoint(folder: Path, arrays: dict[str, np.ndarray], state: dict) -> None:
    """Write the run's checkpoint atomically, arrays and state (JSON) in one checksummed file."""
    payload = {**arrays, "state": np.array(json.dumps(state, sort_keys=True))}
    save_arrays(Path(folder) / CHECKPOINT, payload, what="results directory", advice="--results-dir")


def load_checkpoint(folder: Path | None) -> tuple[dict[str, np.ndarray], dict] | None:
    """(arrays, state) of the run's last checkpoint; None when it has none. A file that fails its checksum is
    set aside (renamed, never deleted) and the run starts again."""
    if folder is None:
        return None
    path = Path(folder) / CHECKPOINT
    if not path.exists():
        return None
    arrays = load_arrays(path)
    if arrays is None:
        aside = path.with_name(f"{CHECKPOINT}.corrupt-{int(time.time())}")
        path.rename(aside)
        log.warning("  %s: unreadable or failed its checksum; set aside as %s, the run starts again", path, aside.name)
        return None
    state = json.loads(str(arrays.pop("state")))
    return arrays, state


def indexed(prefix: str, values: list) -> dict[str, np.ndarray]:
    return {f"{prefix}{i:04d}": np.asarray(v) for i, v in enumerate(values)}


def unindexed(prefix: str, arrays: dict[str, np.ndarray]) -> list[np.ndarray]:
    return [arrays[k] for k in sorted(k for k in arrays if k.startswith(prefix))]
