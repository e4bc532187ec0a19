"""Any oversampler of the ``smote_variants`` package by its own name: ``sv:NAME`` or ``sv:NAME[key=value,...]``.

The package (an optional extra: ``pip install smote-variants``) is imported only when such a name is
used. Its binary oversamplers run one minority class at a time through its ``MulticlassOversampling``
(strategy ``eq_1_vs_many_successive``, the package's default, or ``equalize_1_vs_many``: a ``strategy``
key in the brackets); the other keys go to the oversampler itself, and every parameter it resolves is
part of the run's identity. Its INFO logging is captured, not printed: when a sampler gives up (the
package then returns the data unchanged, or raises), the cell fails with the sampler's own reason.
"""
from __future__ import annotations

import inspect
import json
import logging
import warnings
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version

from numbers import Integral

import numpy as np
from imblearn.over_sampling.base import BaseOverSampler
from sklearn.utils._param_validation import Interval, StrOptions

from resampling.registry import ResamplingError, register_family
from resampling.synthetic import DenseBeats

PREFIX = "sv"
STRATEGIES = ("eq_1_vs_many_successive", "equalize_1_vs_many")
INSTALL = "pip install smote-variants (or: pip install -e '.[variants]')"


def _package():
    try:
        import smote_variants
    except ImportError as exc:
        raise ImportError(f"sv: resamplers need the smote-variants package, which is not installed: {INSTALL}") \
            from exc
    logging.getLogger("smote_variants").setLevel(logging.WARNING)  # its import leaves it at DEBUG
    return smote_variants


def known_oversamplers() -> list[str]:
    """The names of the package's oversamplers (``smote_variants.get_all_oversamplers()``)."""
    return [cls.__name__ for cls in _package().get_all_oversamplers()]


def _plain(value):
    if isinstance(value, (int, float, str, bool, type(None))):
        return value
    return json.dumps(value, sort_keys=True, default=repr)


class _Captured(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@contextmanager
def _quiet_log():
    """The package's log (it has its own handler, at DEBUG) captured instead of printed, and its
    "returning copies" warnings with it."""
    logger = logging.getLogger("smote_variants")
    handlers, level, propagate = logger.handlers[:], logger.level, logger.propagate
    captured = _Captured()
    logger.handlers, logger.propagate = [captured], False
    logger.setLevel(logging.INFO)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield captured
        captured.messages += [str(w.message) for w in caught]
    finally:
        logger.handlers, logger.propagate = handlers, propagate
        logger.setLevel(level)


def _reasons(messages: list[str]) -> str:
    telling = [m for m in messages if any(w in m.lower() for w in ("copies", "too few", "not enough", "error",
                                                                     "fail", "warning", "cannot"))]
    return "; ".join(dict.fromkeys(telling)) or "it generated no samples"


class VariantOversampler(DenseBeats, BaseOverSampler):
    """One ``smote_variants`` oversampler (``oversampler``, its ``params``), every minority class raised to the
    majority's size by the package's multiclass ``strategy``. The package sets each class's target itself, so
    ``sampling_strategy`` can only be "auto"; the package is imported when it is first used, not when built."""

    _parameter_constraints = {**BaseOverSampler._parameter_constraints, "oversampler": [str],
                              "params": [dict, None], "strategy": [StrOptions(set(STRATEGIES))],
                              "random_state": [Interval(Integral, 0, None, closed="left"), None]}

    def __init__(self, sampling_strategy="auto", oversampler: str = "SMOTE", params: dict | None = None,
                 strategy: str = STRATEGIES[0], random_state: int | None = None):
        super().__init__(sampling_strategy=sampling_strategy)
        self.oversampler, self.params, self.strategy, self.random_state = oversampler, params, strategy, random_state

    def resolved(self) -> dict:
        """Every parameter the package's oversampler resolves, with the package's version: what a run's identity
        records of it (``resampling.sampler_parameters``). Checks the name, the strategy and the parameters."""
        sv = _package()
        name, params = self.oversampler, dict(self.params or {})
        if self.strategy not in STRATEGIES:
            raise ValueError(f"sv:{name}: strategy {self.strategy!r} is not one of {', '.join(STRATEGIES)}")
        if "proportion" in params:
            raise ValueError(f"sv:{name}: proportion is set per class (every class to the majority's size)")
        cls = getattr(sv, name)
        named = [k for k, p in inspect.signature(cls).parameters.items()
                 if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL) and k not in ("proportion", "random_state")]
        unknown = sorted(set(params) - set(named))
        if unknown:  # its constructors swallow unknown keywords (**_kwargs): a typo would pass unseen
            raise ValueError(f"sv:{name}: unknown parameter(s) {', '.join(unknown)}; its parameters: "
                             f"{', '.join([*named, 'strategy'])}")
        resolved = cls(**params, random_state=self.random_state).get_params()
        try:
            package = version("smote-variants")
        except PackageNotFoundError:
            package = "unknown"
        return {"oversampler": name, "strategy": self.strategy, "random_state": self.random_state,
                "smote_variants": package,
                **{f"oversampler_{k}": _plain(v) for k, v in resolved.items()
                   if k not in ("proportion", "class_name", "random_state")}}

    def _fit_resample(self, x, y):
        if not (isinstance(self.sampling_strategy, str) and self.sampling_strategy == "auto"):
            raise ValueError(f"sv:{self.oversampler}: the package raises every minority class to the majority's "
                             f"size itself; sampling_strategy must be 'auto', not {self.sampling_strategy!r}")
        self.resolved()
        if not any(self.sampling_strategy_.values()):  # every class at the majority's size: nothing to make (the
            return x, y                                  # package would divide by zero)
        multiclass = _package().MulticlassOversampling(
            oversampler=self.oversampler, oversampler_params={**(self.params or {}), "random_state": self.random_state},
            strategy=self.strategy)
        with _quiet_log() as log:
            try:
                x_res, y_res = multiclass.sample(x.astype(np.float64), y)
            except Exception as exc:  # the package's samplers fail in many ways; each fails only its cell
                raise ResamplingError(f"{type(exc).__name__}: {exc}") from exc
        classes, before = np.unique(y, return_counts=True)
        after = np.array([np.sum(np.asarray(y_res) == c) for c in classes])
        stuck = [c for c, b, a in zip(classes, before, after) if b < before.max() and a <= b]
        if stuck:
            raise ResamplingError(f"no beats generated for class(es) {', '.join(map(str, stuck))} "
                                  f"(counts {before.tolist()}): {_reasons(log.messages)}")
        return np.asarray(x_res, dtype=x.dtype), np.asarray(y_res, dtype=y.dtype)


def build(name: str, seed: int, params: dict) -> VariantOversampler:
    """``sv:NAME[params]``: a ``strategy`` key picks the multiclass strategy, the rest go to NAME; checked here,
    so a bad name or parameter is refused before any run."""
    params = dict(params)
    strategy = params.pop("strategy", STRATEGIES[0])
    sampler = VariantOversampler(oversampler=name, params=params, strategy=strategy, random_state=seed)
    sampler.resolved()
    return sampler


register_family(PREFIX, kind="over", build=build, known=known_oversamplers,
                help="sv:NAME[key=value,...] for any oversampler NAME of the smote-variants package "
                     f"(optional: {INSTALL})")
