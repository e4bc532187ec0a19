"""Run by ``test_packed.py`` in a fresh Python with KERAS_BACKEND=jax: each run of a pack against the
same run alone (``train_and_evaluate``, compiled), printed as JSON."""
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from benchmark.config import TrainConfig  # noqa: E402
from benchmark.running.packed import PackMember, train_pack  # noqa: E402
from benchmark.running.trainer import train_and_evaluate  # noqa: E402
from tests.conftest import clustered_beats  # noqa: E402


CONFIGS = {
    # patience 1 makes runs stop at different checks, so a stopped run must stay put while others train
    "stopping": TrainConfig(steps=60, batch_size=16, eval_every=10, patience=1, learning_rate=1e-3),
    # a short, gentle budget: float rounding of a packed convolution or recurrence (summed in another
    # order) stays small, where a long one would let it grow until early stopping decides differently
    "short": TrainConfig(steps=20, batch_size=16, eval_every=10, patience=100, learning_rate=1e-3),
    # class weighting: every member's loss weighted by inverse class frequency, as the class_weight treatment
    "weighted": TrainConfig(steps=40, batch_size=16, eval_every=10, patience=100, learning_rate=1e-3),
    # one chunk: a large network (ecgtransform) on this tiny set sits on a knife-edge where float rounding
    # of its packed convolutions, batch norms and attention flips whole classes after a second chunk
    "brief": TrainConfig(steps=10, batch_size=16, eval_every=10, patience=100, learning_rate=1e-3),
    # the triangular cyclical rate: two and a half cycles, from 1e-4 up to 5e-3 and back
    "triangular": TrainConfig(steps=40, batch_size=16, eval_every=10, patience=100, lr_schedule="triangular",
                              lr_min=1e-4, lr_max=5e-3, lr_cycle_steps=16),
    # the short budget with nine features appended to each beat (beat statistics and RR intervals), which a
    # non-flat model reads as a second branch
    "features": TrainConfig(steps=20, batch_size=16, eval_every=10, patience=100, learning_rate=1e-3),
    # tuned settings (--params): other builder hyperparameters and another learning rate, the same for every member
    "tuned": TrainConfig(steps=40, batch_size=16, eval_every=10, patience=1, learning_rate=2e-3),
}
# two members on shuffled labels stop at once, the learnable one trains on: the pack leaves them behind
CONFIGS["compacting"] = CONFIGS["stopping"]
FEATURES = 9
TUNED = {"units": 32, "dropout": 0.1}


def with_features(x: np.ndarray, y: np.ndarray, seed: int) -> np.ndarray:
    """``x`` (n, length, 1) with FEATURES class-related columns appended, as ``model_inputs`` lays them out."""
    rng = np.random.default_rng(seed)
    side = (y[:, None] / 4 + 0.3 * rng.standard_normal((len(y), FEATURES))).astype(np.float32)
    return np.concatenate([x, side[..., None]], axis=1)


def saved_predictions(model: bytes, x) -> list[int]:
    """What the run's saved ``.keras`` file predicts, loaded as a user would."""
    import tempfile
    from pathlib import Path

    from benchmark.estimators.keras_estimator import load_model

    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "model.keras").write_bytes(model)
        return np.argmax(load_model(Path(tmp) / "model.keras").predict(x, verbose=0), axis=1).tolist()


def compare(model: str, config: str) -> list[dict]:
    from resampling import loss_weights

    cfg = CONFIGS[config]
    beats = clustered_beats(n_per_class=(120, 20, 30, 15, 25), seed=1)
    test = clustered_beats(n_per_class=(60, 10, 15, 8, 12), seed=2)
    x, y = beats.x[..., None], beats.y
    vx, vy, tx, ty = x[::3], y[::3], test.x[..., None], test.y
    features = FEATURES if config == "features" else 0
    if features:
        x, tx = with_features(x, y, 0), with_features(tx, ty, 1)
        vx = x[::3]
    # training parts of different sizes (as two resamplers give), and one with shuffled labels, which
    # stops improving at once: with patience 1 the runs stop at different checks
    bigger_x, bigger_y = np.repeat(x, 3, axis=0), np.repeat(y, 3)
    shuffled_y = np.random.default_rng(0).permutation(y)
    members = [PackMember(0, x, y), PackMember(1, bigger_x, bigger_y), PackMember(2, x, shuffled_y)]
    if config == "compacting":
        members = [PackMember(0, x, y), PackMember(1, x, shuffled_y),
                   PackMember(2, x, np.random.default_rng(1).permutation(y))]
    elif config != "stopping":
        # on noise alone a convolution's float rounding grows fastest: compare the learnable runs
        members = members[:2]
    if config == "weighted":
        members = [PackMember(m.seed, m.x, m.y, loss_weights("class_weight", m.y)) for m in members]
    tuned = TUNED if config == "tuned" else None
    packed = train_pack(model, members, vx, vy, tx, ty, cfg, features=features, hyperparameters=tuned)
    alone = [train_and_evaluate(model, m.x, m.y, vx, vy, tx, ty, cfg, m.seed, jit_compile=True, sample_weight=m.weights,
                                features=features, hyperparameters=tuned) for m in members]
    out = []
    for p, a in zip(packed, alone):
        out.append({side: {"history": r["history"], "test_predictions": r["test_predictions"].tolist(),
                           "saved_model_predictions": saved_predictions(r["model"], tx),
                           "test": r["test"], "compacted": r.get("packing", {}).get("compacted"),
                           **{k: r[k] for k in ("best_step", "best_val_macro_f1", "steps_trained",
                                                "optimizer_steps", "stopped_early", "n_params")}}
                    for side, r in (("packed", p), ("alone", a))})
    return out


def perturbed(model: str) -> list[dict]:
    """A pack whose batched predictor disagrees with one model's, as a GPU's batched kernels can in a few
    beats (here in every beat): its runs' test predictions must still be their saved models'."""
    from benchmark.running import packed

    beats, test = clustered_beats(n_per_class=(60, 10, 15, 8, 12), seed=1), clustered_beats(seed=2)
    x, tx = beats.x[..., None], test.x[..., None]
    original = packed._PackFunctions.labels
    packed._PackFunctions.labels = lambda self, *a: (original(self, *a) + 1) % 5
    try:
        runs = train_pack(model, [PackMember(0, x, beats.y), PackMember(1, x, beats.y)], x[::3], beats.y[::3],
                          tx, test.y, CONFIGS["short"])
    finally:
        packed._PackFunctions.labels = original
    return [{"test_predictions": r["test_predictions"].tolist(),
             "saved_model_predictions": saved_predictions(r["model"], tx)} for r in runs]


if __name__ == "__main__":  # python tests/jax_parity.py MODEL:CONFIG ...
    print(json.dumps({arg: perturbed(arg.split(":")[0]) if arg.endswith(":perturbed") else compare(*arg.split(":"))
                      for arg in sys.argv[1:]}))
