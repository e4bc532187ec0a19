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
    venue: str  # journal, volume(issue):pages
    split: str  # the harness's split it compares with
    values: dict  # metric -> value as published, in percent ("F1 S": a published F1, not one derived)
    doi: str  # where the paper is
    where: str  # where in it each number stands (abstract, table, page)
    checked: str  # what the numbers were checked against, and what was not confirmed
    note: str = ""
    n_classes: int | None = None  # the classes it was scored on, where the paper states them


INTER_PATIENT = (
    Published("de Chazal et al. 2004", "IEEE Trans. Biomed. Eng. 51(7):1196-1206", "inter",
              {"Se S": 75.9, "+P S": 38.5, "Se V": 77.7, "+P V": 81.9}, "10.1109/TBME.2004.827359", "abstract",
              "the abstract's figures; it states no overall accuracy (Garcia et al. 2017, Table 2, lists 83%)",
              "linear discriminants, morphology and RR-interval features", n_classes=5),
    Published("Llamedo & Martínez 2011", "IEEE Trans. Biomed. Eng. 58(3):616-625", "inter",
              {"accuracy": 93.0, "Se S": 77.0, "+P S": 39.0, "Se V": 81.0, "+P V": 87.0},
              "10.1109/TBME.2010.2068048", "abstract", "the abstract's figures (whole percent as published)",
              "eight features chosen for generalisation, RR among them"),
    Published("Mar et al. 2011", "IEEE Trans. Biomed. Eng. 58(8):2168-2177", "inter",
              {"accuracy": 89.0, "Se S": 83.2, "+P S": 33.5, "Se V": 86.8, "+P V": 75.9},
              "10.1109/TBME.2011.2113395", "results section",
              "not in the abstract; Garcia et al. 2017, Table 2, gives the same to the whole percent (89, 83, 33, 86, "
              "75); the decimals are not confirmed", "feature selection, multilayer perceptron"),
    Published("Zhang et al. 2014", "Computers in Biology and Medicine 46:79-89", "inter",
              {"accuracy": 86.66, "Se S": 79.06, "+P S": 35.98, "Se V": 85.48, "+P V": 92.75},
              "10.1016/j.compbiomed.2013.11.019", "abstract",
              "the abstract's figures (it also gives N 88.94 / 98.98 and F 93.81 / 13.74)",
              "disease-specific feature selection, one-versus-one SVMs", n_classes=4),
    Published("Garcia et al. 2017", "Scientific Reports 7:10543", "inter",
              {"accuracy": 92.4, "Se S": 62.0, "+P S": 53.0, "Se V": 87.3, "+P V": 59.4},
              "10.1038/s41598-017-09837-3", "Table 5", "Table 5; the abstract gives S +P 53% and V Se 87.3%",
              "temporal vectorcardiogram optimised by PSO; three classes", n_classes=3),
    Published("Niu et al. 2020", "IEEE J. Biomed. Health Inform. 24(5):1321-1332", "inter",
              {"accuracy": 96.4, "F1 S": 76.6, "F1 V": 89.7}, "10.1109/JBHI.2019.2942938", "abstract",
              "the abstract's figures (F1 of SVEB and VEB)", "symbolic representation, multi-perspective CNN"),
    Published("Xu et al. 2022", "Computational and Mathematical Methods in Medicine 2022:2323625", "inter",
              {"accuracy": 98.5, "F1 S": 82.8, "F1 V": 91.7}, "10.1155/2022/2323625", "abstract",
              "the abstract's figures; the highest credible DS1 → DS2 row found", "residual attention CNN"),
)

INTRA_PATIENT = (
    Published("Kachuee et al. 2018", "IEEE Int. Conf. on Healthcare Informatics (ICHI) 2018:443-444", "intra",
              {"accuracy": 93.4}, "10.1109/ICHI.2018.00092", "abstract (arXiv:1805.00794)",
              "the arXiv abstract's figure (average accuracy of arrhythmia classification); the proceedings' DOI is "
              "from citations, not its own page", "residual CNN on the beat set it published (the Kaggle CSVs)"),
    Published("El-Ghaish & Eldele 2024 (ECGTransForm)", "Biomedical Signal Processing and Control 89:105714",
              "intra", {"macro F1": 94.26, "macro F1 sd": 0.28, "accuracy": 99.35}, "10.1016/j.bspc.2023.105714",
              "results table", "the DOI from the authors' repository; the figures are not in the abstract and were "
              "not seen in the paper here (from ../shared/docs/DOMAIN.md)", "repeated runs; the last epoch scored"),
    Published("Elgazzar 2026", "Applied Sciences 16(11):5321", "intra",
              {"macro F1": 96.38, "accuracy": 99.18}, "10.3390/app16115321", "abstract",
              "the abstract's figures", "a four-block 1-D CNN, random oversampling to 35% of N and class weights; "
              "one run"),
)


def f1_of(se: float, ppv: float) -> float:
    """F1 from sensitivity and positive predictivity (both in percent): their harmonic mean, as a fraction."""
    return 2 * se * ppv / (se + ppv) / 100 if se + ppv else 0.0


def f1_published(p: Published, k: str) -> float | None:
    """Class ``k``'s F1 of a row as a fraction: as published, or computed from its Se and +P; None without."""
    if f"F1 {k}" in p.values:
        return p.values[f"F1 {k}"] / 100
    if f"Se {k}" in p.values and f"+P {k}" in p.values:
        return f1_of(p.values[f"Se {k}"], p.values[f"+P {k}"])
    return None


def published_s_f1() -> list[tuple[str, float]]:
    """The S-class F1 of every inter-patient row (as published, or computed from its Se and +P)."""
    return [(p.source, f) for p in INTER_PATIENT if (f := f1_published(p, "S")) is not None]


def s_f1_sentence() -> str:
    """The published inter-patient S-class F1, as a range with its sources."""
    values = published_s_f1()
    low, high = min(v for _, v in values), max(v for _, v in values)
    return (f"the S-class F1 the published DS1 → DS2 rows give or imply (from their Se and +P) is {low:.2f}–{high:.2f} "
            f"({'; '.join(f'{s} {v:.2f}' for s, v in values)}; `benchmark/literature.py`)")


def inter_patient_table() -> str:
    """The published inter-patient rows in their own form (percent), with their sources and DOIs."""
    from tabulate import tabulate

    metrics = ["Se S", "+P S", "Se V", "+P V", "accuracy"]
    cell = lambda p, m: f"{p.values[m]:g}" if m in p.values else "—"  # noqa: E731
    f1 = lambda p, k: ("—" if (v := f1_published(p, k)) is None  # noqa: E731
                       else f"{100 * v:.1f}" + ("" if f"F1 {k}" in p.values else " (from Se, +P)"))
    rows = [[f"{p.source}, {p.venue}, doi:{p.doi}", *[cell(p, m) for m in metrics], f1(p, "S"), f1(p, "V"),
             p.where, p.note or "—"] for p in INTER_PATIENT]
    return tabulate(rows, headers=["published (DS1 → DS2)", *[f"{m} %" for m in metrics], "F1 S %", "F1 V %",
                                   "where", "note"], tablefmt="github", disable_numparse=True)


def intra_patient_table() -> str:
    """The published rows on the Kaggle beat set (intra-patient), with their sources and DOIs."""
    from tabulate import tabulate

    def macro(p):
        if "macro F1" not in p.values:
            return "—"
        sd = f" ± {p.values['macro F1 sd'] / 100:.4f}" if "macro F1 sd" in p.values else ""
        return f"{p.values['macro F1'] / 100:.4f}{sd}"

    rows = [[f"{p.source}, {p.venue}, doi:{p.doi}", macro(p), f"{p.values['accuracy']:g}%", p.where, p.note]
            for p in INTRA_PATIENT]
    return tabulate(rows, headers=["published (Kaggle beat set)", "macro F1", "accuracy", "where", "note"],
                    tablefmt="github", disable_numparse=True)


@dataclass(frozen=True)
class Claim:
    """A qualitative claim of a published system, scored on its preset grid's runs: ``better`` beats each of
    ``than`` (models, or treatments) within every block of the other factor (each treatment, or each model)."""

    words: str  # as the project states it
    over: str  # "model" or "resampler": what the claim compares
    better: str
    than: tuple[str, ...]


@dataclass(frozen=True)
class PublishedSystem:
    """A published system the harness grew from (``../shared/seeds/``), its figure in its own metric, and
    the preset grid that configures it here (``benchmark.config.PRESETS``)."""

    preset: str
    source: str  # the project, and where its figure is stated
    metric: str  # in the project's own words
    value: str  # as published ("—": it states none)
    protocol: str  # what it was measured on
    ours: tuple[str, ...] = ("macro_f1",)  # the run-table columns that read the same metric from our runs
    bounds: tuple[float, float] | None = (0.0, 0.0)  # the figure as a fraction (low, high); None: no figure
    not_comparable: str = ""  # why our runs cannot test the figure (empty: they can)
    claims: tuple[Claim, ...] = ()  # its qualitative claims, scored on the preset's runs


PUBLISHED_SYSTEMS = (
    PublishedSystem("lstm_first140_oversampled", "ECG-Heartbeat-Classification (LSTM; README, ../shared/seeds/000)",
                    "F1-score on the test set", "0.925",
                    "Kaggle CSVs (beat-level split), after Bayesian search of the LSTM (33 configurations)",
                    ("macro_f1", "weighted_f1"), (0.925, 0.925),
                    "its 'F1-score' names no average (macro or weighted: both of ours are given), and its LSTM is "
                    "the best of a Bayesian search whose chosen configuration it does not publish; the preset runs "
                    "the untuned two-layer LSTM, not the tuned one"),
    PublishedSystem("resnet_smote_enn_cyclical", "ECG Heartbeat Classification (ResNet; README, ../shared/seeds/001)",
                    "accuracy on validation data", "99.743%",
                    "MIT-BIH beats, SMOTE + ENN; the project itself suspects overfitting or leakage",
                    ("accuracy",), (0.99743, 0.99743),
                    "a validation accuracy (the part that chose its weights), of an architecture it does not state, "
                    "which the project itself suspects of overfitting or leakage"),
    PublishedSystem("cnn_lstm_gmm_stats", "ECG Heartbeat Categorization (CNN-LSTM; README, ../shared/seeds/002)",
                    "test accuracy", "~84% (validation ~92%)",
                    "Kaggle CSVs, 5-fold cross-validation, a holdout set with simulated shifts",
                    ("accuracy",), (0.84, 0.84)),
    PublishedSystem("mlp_cnn_oversampling", "ECG_Timeseries_Classifications_with_Deep_Learning (MLP / deep CNN "
                    "oversampling study; README, ../shared/seeds/003)", "macro F1", "—",
                    "Kaggle CSVs (87,553 train / 21,892 test beats)", ("macro_f1",), None,
                    "its README states no number, only the two claims scored below",
                    (Claim("Deep CNN models consistently outperform the Baseline Neural Networks", "model", "cnn",
                           ("mlp",)),
                     Claim("The Simple oversampling technique often provides the best balance between precision and "
                           "recall compared to SMOTE and ADASYN", "resampler", "random", ("smote", "adasyn")))),
    PublishedSystem("binary_mlp_rf_noise", "Heart-rate-ECG-Heart-Rate-Classification (binary; README title, "
                    "../shared/seeds/004)", "accuracy and recall (normal / abnormal)", "98%",
                    "Kaggle train and test CSVs combined; N cut from 90,589 to 60,000, abnormal raised from 18,857 "
                    "to 30,000 by noise", ("accuracy", "recall_normal", "recall_abnormal"), (0.98, 0.98)),
)


def published_system(preset: str) -> PublishedSystem | None:
    return next((p for p in PUBLISHED_SYSTEMS if p.preset == preset), None)

