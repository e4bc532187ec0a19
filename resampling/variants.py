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

import numpy as np

from resampling.registry import ResamplingError, register_family

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


class VariantOversampler:
    """One ``smote_variants`` oversampler, every minority class raised to the majority's size."""

    def __init__(self, oversampler: str, params: dict | None = None, strategy: str = STRATEGIES[0],
                 random_state: int | None = None):
        sv = _package()
        if strategy not in STRATEGIES:
            raise ValueError(f"sv:{oversampler}: strategy {strategy!r} is not one of {', '.join(STRATEGIES)}")
        self.oversampler, self.strategy, self.random_state = oversampler, strategy, random_state
        self.params = dict(params or {})
        if "proportion" in self.params:
            raise ValueError(f"sv:{oversampler}: proportion is set per class (every class to the majority's size)")
        cls = getattr(sv, oversampler)
        named = [k for k, p in inspect.signature(cls).parameters.items()
                 if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL) and k not in ("proportion", "random_state")]
        unknown = sorted(set(self.params) - set(named))
        if unknown:  # its constructors swallow unknown keywords (**_kwargs): a typo would pass unseen
            raise ValueError(f"sv:{oversampler}: unknown parameter(s) {', '.join(unknown)}; its parameters: "
                             f"{', '.join([*named, 'strategy'])}")
        self._resolved = cls(**self.params, random_state=random_state).get_params()
        self._multiclass = sv.MulticlassOversampling(
            oversampler=oversampler, oversampler_params={**self.params, "random_state": random_state},
            strategy=strategy)

    def get_params(self, deep: bool = True) -> dict:
        resolved = {k: _plain(v) for k, v in self._resolved.items() if k not in ("proportion", "class_name",
                                                                                   "random_state")}
        try:
            package = version("smote-variants")
        except PackageNotFoundError:
            package = "unknown"
        return {"oversampler": self.oversampler, "strategy": self.strategy, "random_state": self.random_state,
                "smote_variants": package, **{f"oversampler_{k}": v for k, v in resolved.items()}}

    def fit_resample(self, x, y):
        x, y = np.asarray(x), np.asarray(y)
        with _quiet_log() as log:
            try:
                x_res, y_res = self._multiclass.sample(x.astype(np.float64), y)
            except Exception as exc:  # the package's samplers fail in many ways; each fails only its cell
                raise ResamplingError(f"{type(exc).__name__}: {exc}") from exc
        before = np.bincount(y, minlength=int(y.max()) + 1)
        after = np.bincount(np.asarray(y_res, dtype=np.int64), minlength=len(before))
        stuck = [c for c in np.flatnonzero(before) if before[c] < before.max() and after[c] <= before[c]]
        if stuck:
            raise ResamplingError(f"no beats generated for class(es) {', '.join(map(str, stuck))} "
                                  f"(counts {before.tolist()}): {_reasons(log.messages)}")
        return np.asarray(x_res, dtype=x.dtype), np.asarray(y_res, dtype=y.dtype)


def build(name: str, seed: int, params: dict) -> VariantOversampler:
    """``sv:NAME[params]``: a ``strategy`` key picks the multiclass strategy, the rest go to NAME."""
    params = dict(params)
    strategy = params.pop("strategy", STRATEGIES[0])
    return VariantOversampler(name, params, strategy=strategy, random_state=seed)


register_family(PREFIX, kind="over", build=build, known=known_oversamplers,
                help="sv:NAME[key=value,...] for any oversampler NAME of the smote-variants package "
                     f"(optional: {INSTALL})")
