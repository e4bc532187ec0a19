"""The benchmark's treatments: imbalanced-learn's resamplers with its default settings, the published
systems' own (under+over sampling, noise copies, Gaussian-mixture draws), and two loss weightings.

Oversamplers raise every minority class to the size of the majority class ('auto'). Any name may set
its sampler's parameters, e.g. ``gmm[n_components=2]`` (see ``resampling/registry.py``); any
smote_variants oversampler is ``sv:NAME`` (``resampling/variants.py``).
"""
from imblearn import FunctionSampler
from imblearn.over_sampling import ADASYN, SMOTE, RandomOverSampler

from benchmark.search_space import FloatRange, IntRange
from resampling import variants  # noqa: F401  (registers the sv: family)
from resampling.registry import register_resampler
from resampling.smote_enn import FastSMOTEENN
from resampling.synthetic import GaussianMixtureOversampler, NoiseOversampler
from resampling.under_over import UnderOverSampler
from resampling.weighting import ClassWeighting, LogClassWeighting


@register_resampler(kind="identity")
def none(seed):
    """The training part unchanged."""
    return FunctionSampler()


@register_resampler(kind="over")
def random(seed):
    """Simple random oversampling: minority beats duplicated at random."""
    return RandomOverSampler(random_state=seed)


@register_resampler(kind="over", search_space={"k_neighbors": IntRange(3, 9)})
def smote(seed):
    return SMOTE(random_state=seed)


@register_resampler(kind="over", search_space={"n_neighbors": IntRange(3, 9)})
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


@register_resampler(kind="under_over", search_space={"majority_fraction": FloatRange(0.2, 1.0, step=0.1),
                                                    "minority_fraction": FloatRange(0.2, 1.0, step=0.1)})
def under_over(seed):
    """The majority class cut to half its beats, every minority class raised to half of what it keeps, by
    random duplicates (targets and defaults: ``resampling.under_over.UnderOverSampler``)."""
    return UnderOverSampler(random_state=seed)


@register_resampler(kind="over", search_space={"noise_scale": FloatRange(0.005, 0.08, log=True)})
def noise(seed):
    """Minority classes raised to the majority's size by copies of their beats plus Gaussian noise
    (the binary normal/abnormal project's augmentation; scale: ``resampling.synthetic.NoiseOversampler``)."""
    return NoiseOversampler(random_state=seed)


@register_resampler(kind="over", search_space={"n_components": IntRange(1, 6)})
def gmm(seed):
    """Minority classes raised to the majority's size by draws from a Gaussian mixture fitted to each (the
    CNN-LSTM project's augmentation; ``resampling.synthetic.GaussianMixtureOversampler``)."""
    return GaussianMixtureOversampler(random_state=seed)


@register_resampler(kind="weighting")
def log_class_weight(seed):
    """No resampling: the loss weighted by max(1, ln(n_max / n_c)) per beat of class c (ECGTransForm's
    bounded alternative to inverse frequency; ``resampling.weighting.LogClassWeighting``)."""
    return LogClassWeighting()
