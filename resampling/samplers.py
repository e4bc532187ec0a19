"""The benchmark's resamplers, all imbalanced-learn's with its default settings, and class weighting.

Oversamplers raise every minority class to the size of the majority class ('auto').
"""
from imblearn import FunctionSampler
from imblearn.over_sampling import ADASYN, SMOTE, RandomOverSampler

from resampling import variants  # noqa: F401  (registers the sv: family)
from resampling.registry import register_resampler
from resampling.smote_enn import FastSMOTEENN
from resampling.weighting import ClassWeighting


@register_resampler(kind="identity")
def none(seed):
    """The training part unchanged."""
    return FunctionSampler()


@register_resampler(kind="over")
def random(seed):
    """Simple random oversampling: minority beats duplicated at random."""
    return RandomOverSampler(random_state=seed)


@register_resampler(kind="over")
def smote(seed):
    return SMOTE(random_state=seed)


@register_resampler(kind="over")
def adasyn(seed):
    return ADASYN(random_state=seed)


@register_resampler(kind="combined")
def smote_enn(seed):
    """SMOTE, then Edited Nearest Neighbours cleaning of every class: imbalanced-learn's SMOTEENN
    result, its exact neighbour search pruned instead of brute force (see resampling/smote_enn.py)."""
    return FastSMOTEENN(random_state=seed)


@register_resampler(kind="weighting")
def class_weight(seed):
    """No resampling: the training part unchanged, its loss weighted by inverse class frequency
    (``resampling.weighting.ClassWeighting``). Tells resampling apart from re-weighting the classes."""
    return ClassWeighting()
