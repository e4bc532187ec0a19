"""Published figures the reports quote, each with its source: the one table of literature numbers.

Nothing else in the code or the README states a published number; the reports render these rows, and a
sentence that summarises them (a range, say) is computed from them. Inter-patient rows are DS1 → DS2
under the AAMI classes (de Chazal et al. 2004's protocol), in percent as published; the intra-patient
row is on the Kaggle beat set (Kachuee et al. 2018's split).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Published:
    source: str  # authors and year
    venue: str
    split: str  # the harness's split it compares with
    values: dict  # metric -> value as published
    note: str = ""
    n_classes: int = 5  # the AAMI classes it was scored on (5: N, S, V, F, Q)


INTER_PATIENT = (
    Published("de Chazal et al. 2004", "IEEE Trans. Biomed. Eng. 51(7)", "inter",
              {"accuracy": 83.0, "Se S": 76.0, "+P S": 38.0, "Se V": 77.0, "+P V": 82.0},
              "linear discriminants, morphology and RR-interval features"),
    Published("Mar et al. 2011", "IEEE Trans. Biomed. Eng. 58(8)", "inter",
              {"accuracy": 89.0, "Se S": 83.2, "+P S": 33.5, "Se V": 86.8, "+P V": 75.9}),
    Published("Zhang et al. 2014", "Computers in Biology and Medicine", "inter",
              {"accuracy": 88.3, "Se S": 79.1, "+P S": 36.0, "Se V": 85.5, "+P V": 92.7}),
    Published("Garcia et al. 2017", "Scientific Reports", "inter",
              {"accuracy": 92.4, "Se S": 62.0, "+P S": 53.0, "Se V": 87.3, "+P V": 59.4}, "three classes",
              n_classes=3),
)

INTRA_PATIENT = (
    Published("El-Ghaish & Eldele 2024 (ECGTransForm)", "Biomed. Signal Process. Control 89:105714", "intra",
              {"macro F1": 94.26, "macro F1 sd": 0.28, "accuracy": 99.35}, "repeated runs; the last epoch scored"),
)


@dataclass(frozen=True)
class PublishedSystem:
    """A published system the harness grew from (``../shared/seeds/``), its figure in its own metric, and
    the preset grid that configures it here (``benchmark.config.PRESETS``)."""

    preset: str
    source: str  # the project, and where its figure is stated
    metric: str  # in the project's own words
    value: str  # as published
    protocol: str  # what it was measured on
    ours: tuple[str, ...] = ("macro_f1",)  # the run-table columns that read the same metric from our runs
    bounds: tuple[float, float] = (0.0, 0.0)  # the published figure as a fraction (low, high: a range's ends)


PUBLISHED_SYSTEMS = (
    PublishedSystem("lstm_first140_oversampled", "ECG-Heartbeat-Classification (LSTM; README, ../shared/seeds/000)",
                    "F1-score on the test set (macro)", "0.925",
                    "Kaggle CSVs (beat-level split), after Bayesian search of the LSTM (33 configurations)",
                    ("macro_f1",), (0.925, 0.925)),
    PublishedSystem("resnet_smote_enn_cyclical", "ECG Heartbeat Classification (ResNet; README, ../shared/seeds/001)",
                    "accuracy on validation data", "99.743%",
                    "MIT-BIH beats, SMOTE + ENN; the project itself suspects overfitting or leakage",
                    ("accuracy",), (0.99743, 0.99743)),
    PublishedSystem("cnn_lstm_gmm_stats", "ECG Heartbeat Categorization (CNN-LSTM; README, ../shared/seeds/002)",
                    "test accuracy", "~84% (validation ~92%)",
                    "Kaggle CSVs, 5-fold cross-validation, a holdout set with simulated shifts",
                    ("accuracy",), (0.84, 0.84)),
    PublishedSystem("mlp_cnn_oversampling", "ECG_Timeseries_Classifications_with_Deep_Learning (MLP / deep CNN "
                    "oversampling study; its README gives no figure: as issue #23 quotes its results)",
                    "macro F1", "0.63-0.81", "Kaggle CSVs (87,553 train / 21,892 test beats)",
                    ("macro_f1",), (0.63, 0.81)),
    PublishedSystem("binary_mlp_rf_noise", "Heart-rate-ECG-Heart-Rate-Classification (binary; README title, "
                    "../shared/seeds/004)", "accuracy and recall (normal / abnormal)", "98%",
                    "Kaggle train and test CSVs combined; N cut from 90,589 to 60,000, abnormal raised from 18,857 "
                    "to 30,000 by noise", ("accuracy", "recall_normal", "recall_abnormal"), (0.98, 0.98)),
)


def published_system(preset: str) -> PublishedSystem | None:
    return next((p for p in PUBLISHED_SYSTEMS if p.preset == preset), None)


def f1_of(se: float, ppv: float) -> float:
    """F1 from sensitivity and positive predictivity (both in percent): their harmonic mean, as a fraction."""
    return 2 * se * ppv / (se + ppv) / 100 if se + ppv else 0.0


def published_s_f1() -> list[tuple[str, float]]:
    """The S-class F1 each five-class inter-patient row implies (computed from its published Se and +P)."""
    return [(p.source, f1_of(p.values["Se S"], p.values["+P S"])) for p in INTER_PATIENT if p.n_classes == 5]


def s_f1_sentence() -> str:
    """The published inter-patient S-class F1, as a range with its sources."""
    values = published_s_f1()
    low, high = min(v for _, v in values), max(v for _, v in values)
    return (f"the S-class F1 that the published five-class S Se and +P imply is {low:.2f}–{high:.2f} "
            f"({'; '.join(s for s, _ in values)})")


def inter_patient_table() -> str:
    """The published inter-patient rows in their own form (percent), with their sources."""
    from tabulate import tabulate

    metrics = ["Se S", "+P S", "Se V", "+P V", "accuracy"]
    rows = [[f"{p.source}, {p.venue}", *[f"{p.values[m]:.1f}" for m in metrics], p.note or "—"]
            for p in INTER_PATIENT]
    return tabulate(rows, headers=["published (DS1 → DS2)", *[f"{m} %" for m in metrics], "note"],
                    tablefmt="github", disable_numparse=True)
