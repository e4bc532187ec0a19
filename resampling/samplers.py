"""The benchmark's resamplers, all from imbalanced-learn with its default settings.

Oversamplers raise every minority class to the size of the majority class ('auto').
"""
from imblearn import FunctionSampler
from imblearn.combine import SMOTEENN
from imblearn.over_sampling import ADASYN, SMOTE, RandomOverSampler

from resampling.registry import register_resampler


@register_resampler
def none(seed):
    """The training part unchanged."""
    return FunctionSampler()


@register_resampler
def random(seed):
    """Simple random oversampling: minority beats duplicated at random."""
    return RandomOverSampler(random_state=seed)


@register_resampler
def smote(seed):
    return SMOTE(random_state=seed)


@register_resampler
def adasyn(seed):
    return ADASYN(random_state=seed)


@register_resampler
def smote_enn(seed):
    """SMOTE, then Edited Nearest Neighbours cleaning of every class; n_jobs only parallelises the
    exact neighbour search, so the result is the same as with imbalanced-learn's defaults."""
    return SMOTEENN(random_state=seed, n_jobs=-1)
