"""Treatment registry: adding a treatment (resampler, loss weighting, ...) is one decorated factory in one file.

A factory takes the run's seed and returns a sampler with imbalanced-learn's ``fit_resample``; a
sampler that also weights the loss has ``sample_weight(y)`` (a weight per training beat). Every treatment
goes through one protocol, :func:`treat`: it returns the training part, its per-beat loss weights (or
None) and the class prior the model trains under (the weighted class frequencies), so no other layer
asks what kind a treatment is. The kind it is registered with says what it does to the class counts,
which the generic tests check:

- ``identity``: the training part unchanged;
- ``over``: no class shrinks and the minority classes grow;
- ``under``: no class grows;
- ``under_over``: the majority class shrinks, no other class shrinks and the minority classes grow;
- ``combined``: oversampling then cleaning, so a class may grow or shrink;
- ``weighting``: the training part unchanged, and the loss weighted instead (``sample_weight``).

:func:`treat` flattens (n, length, 1) beats to the 2-D input samplers need, resamples, and restores the
shape and float32 dtype. The registry is the only list of treatments: the command line's choices
(``--resamplers``) and the tests come from it.

A name may set parameters: ``under_over[majority_count=60000]`` is ``under_over`` with that parameter
changed (``set_params``), and its parameters, as every sampler's, are part of the run's identity. A
*family* resolves a prefix at run time: ``sv:ProWSyn[n_neighbors=7]`` is any sampler of an external
package by its own name (:func:`register_family`), so the package's samplers need no entry each.

A factory may declare a ``search_space`` ({parameter: dimension of ``benchmark.search_space``}): what a tune
(``run_benchmark.py tune --tune-treatment``) may try for its sampler's parameters, checked when it registers
(only the sampler's parameters, each default inside its dimension). A treatment without one cannot be tuned.
"""
from __future__ import annotations

import inspect
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from benchmark.search_space import check_space

KINDS = ("identity", "over", "under", "under_over", "combined", "weighting")


class ResamplingError(RuntimeError):
    """A resampler cannot work on this data (e.g. ADASYN finds no neighbours)."""


@dataclass(frozen=True)
class Entry:
    factory: Callable
    kind: str
    source: Callable | None = None  # the code that builds it, when not the factory itself (a family's)
    search_space: dict | None = None  # what a tune may try for its sampler's parameters; None: not declared


@dataclass(frozen=True)
class Family:
    """Samplers named ``<prefix>:<NAME>`` resolved at run time: ``build(NAME, seed, params)`` makes one,
    ``known()`` lists the NAMEs (raising ImportError with what to install when the package is absent)."""

    prefix: str
    kind: str
    build: Callable
    known: Callable[[], list[str]]
    help: str


_RESAMPLERS: dict[str, Entry] = {}
_FAMILIES: dict[str, Family] = {}
_NAME = re.compile(r"^(?P<base>[^\[\]]+?)(?:\[(?P<params>[^\[\]]*)\])?$")


def register_resampler(kind: str, search_space: dict | None = None) -> Callable[[Callable], Callable]:
    """Register the decorated factory under its function name, as a resampler of ``kind``; ``search_space``:
    what a tune may try for its sampler's parameters (module docstring)."""
    if kind not in KINDS:
        raise ValueError(f"resampler kind {kind!r} is not one of {', '.join(KINDS)}")

    def register(fn: Callable) -> Callable:
        if fn.__name__ in _RESAMPLERS:
            raise ValueError(f"resampler {fn.__name__!r} is registered twice")
        space = None if search_space is None else \
            check_space(search_space, _tunable_parameters(fn(0)), f"resampler {fn.__name__!r}")
        _RESAMPLERS[fn.__name__] = Entry(fn, kind, search_space=space)
        return fn
    return register


def _tunable_parameters(sampler) -> dict:
    """The sampler's own parameters (not nested ones, not the seed), as a tune may set them."""
    return {k: v for k, v in sampler.get_params(deep=False).items() if k != "random_state"}


def treatment_search_space(name: str) -> tuple[dict | None, dict]:
    """(what a tune may try for treatment ``name``'s parameters, or None when it declares nothing; the values
    its sampler has now, the name's own parameters applied): the space and the defaults it starts from."""
    base, _ = parse_name(name)
    entry = _RESAMPLERS.get(base)
    if entry is None:
        _entry(name)  # an unknown name or a family's member: the same error as anywhere else, or no space
        return None, {}
    return (None if entry.search_space is None else dict(entry.search_space)), \
        _tunable_parameters(make_sampler(name, 0))


def register_family(prefix: str, kind: str, build: Callable, known: Callable[[], list[str]], help: str) -> None:
    """Resolve every name ``<prefix>:<NAME>`` through ``build`` (see :class:`Family`)."""
    if kind not in KINDS:
        raise ValueError(f"resampler kind {kind!r} is not one of {', '.join(KINDS)}")
    if prefix in _FAMILIES:
        raise ValueError(f"resampler family {prefix!r} is registered twice")
    _FAMILIES[prefix] = Family(prefix, kind, build, known, help)


def list_resamplers() -> list[str]:
    """The registered names (a family's names are resolved on demand: see :func:`resampler_families`)."""
    return list(_RESAMPLERS)


def resampler_families() -> list[Family]:
    return list(_FAMILIES.values())


def _value(text: str):
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "none":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _text(value) -> str:
    return "none" if value is None else str(value).lower() if isinstance(value, bool) else str(value)


def parse_name(name: str) -> tuple[str, dict]:
    """``"base[k=v,...]"`` -> ``("base", {k: v})``; values are read as bool (true/false), none, int, float,
    else str."""
    match = _NAME.match(name.strip())
    if not match or any(c.isspace() for c in match["base"]) or "/" in name or "__" in name:
        raise ValueError(f"resampler {name!r} is not of the form NAME or NAME[key=value,...] "
                         "(no spaces, '/' or '__': the name is part of run directories)")
    params = {}
    for item in filter(None, (match["params"] or "").split(",")):
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise ValueError(f"resampler {name!r}: parameter {item!r} is not key=value")
        params[key.strip()] = _value(value.strip())
    if "random_state" in params:
        raise ValueError(f"resampler {name!r}: random_state is the run's seed, not a parameter")
    return match["base"], params


def canonical_name(name: str) -> str:
    """The one spelling of a resampler name: parameters sorted by key, values written back plainly."""
    base, params = parse_name(name)
    return base + ("[" + ",".join(f"{k}={_text(v)}" for k, v in sorted(params.items())) + "]" if params else "")


def _family(base: str) -> Family | None:
    prefix, colon, _ = base.partition(":")
    if not colon:
        return None
    if prefix not in _FAMILIES:
        raise KeyError(f"unknown resampler family {prefix!r} in {base!r}; families: "
                       f"{', '.join(f.prefix for f in resampler_families()) or 'none'}")
    return _FAMILIES[prefix]


def _entry(name: str) -> Entry:
    base, params = parse_name(name)
    family = _family(base)
    if family is not None:
        member = base.partition(":")[2]
        known = family.known()
        if member not in known:
            raise KeyError(f"unknown {family.prefix}: resampler {member!r}; known: {', '.join(known)}")
        return Entry(lambda seed: family.build(member, seed, params), family.kind, family.build)
    if base not in _RESAMPLERS:
        families = "".join(f"; or {f.help}" for f in resampler_families())
        raise KeyError(f"unknown resampler {base!r}; known resamplers: {', '.join(list_resamplers())}{families}")
    entry = _RESAMPLERS[base]
    if not params:
        return entry
    return Entry(lambda seed: entry.factory(seed).set_params(**params), entry.kind, entry.factory)


def check_resampler(name: str) -> str:
    """The canonical spelling of ``name`` when it names a sampler that can be built; else ValueError
    saying why (unknown name, with the known ones; bad parameters; a package to install)."""
    try:
        canonical = canonical_name(name)
        make_sampler(canonical, 0)
    except KeyError as exc:
        raise ValueError(exc.args[0]) from exc
    except (TypeError, ImportError) as exc:
        raise ValueError(f"resampler {name!r}: {exc}") from exc
    except ValueError as exc:
        raise ValueError(str(exc) if name in str(exc) else f"resampler {name!r}: {exc}") from exc
    return canonical


def resampler_kind(name: str) -> str:
    return _entry(name).kind


def make_sampler(name: str, seed: int):
    return _entry(name).factory(seed)


def sampler_parameters(name: str, seed: int) -> dict:
    """Every parameter of the sampler a run uses (scikit-learn's ``get_params``, nested ones included; a sampler
    that resolves more, a ``resolved()`` of them), as JSON-able values: part of a run's identity."""
    sampler = make_sampler(name, seed)
    params = sampler.resolved() if hasattr(sampler, "resolved") else sampler.get_params(deep=True)
    return {k: v if isinstance(v, (int, float, str, bool, type(None))) else repr(v) for k, v in sorted(params.items())}


def sampler_code(name: str) -> tuple[str, list[Path]]:
    """The code that resamples: the factory's own source, and the project files that define the classes
    of the sampler it makes (part of a run's code identity)."""
    entry = _entry(name)
    project = Path(__file__).resolve().parent.parent
    files = {Path(__file__).resolve()}
    for cls in type(entry.factory(0)).__mro__:
        source = inspect.getsourcefile(cls) if cls.__module__ != "builtins" else None
        if source and Path(source).resolve().is_relative_to(project):
            files.add(Path(source).resolve())
    return inspect.getsource(entry.source or entry.factory), sorted(files)


def _sample_weight(sampler, y: np.ndarray) -> np.ndarray | None:
    weigh = getattr(sampler, "sample_weight", None)
    return None if weigh is None else np.asarray(weigh(np.asarray(y)), dtype=np.float32)


def loss_weights(name: str, y: np.ndarray, seed: int = 0) -> np.ndarray | None:
    """The per-beat loss weights treatment ``name`` gives a training part labelled ``y``, or None."""
    return _sample_weight(make_sampler(name, seed), y)


@dataclass
class Treated:
    """A treated training part: beats (m, *shape) float32, labels int8, loss weights (or None)."""

    x: np.ndarray
    y: np.ndarray
    weights: np.ndarray | None


def treat(name: str, x: np.ndarray, y: np.ndarray, seed: int, features: int = 0) -> Treated:
    """Apply treatment ``name`` to a training part: the one entry point of every treatment. ``features``:
    how many of each row's last positions are appended features (``benchmark.data.inputs``), told to the
    samplers that treat the waveform apart from them (the noise copies)."""
    sampler = make_sampler(name, seed)
    if features and "features" in sampler.get_params():
        sampler.set_params(features=features)
    flat = x.reshape(len(x), -1).astype(np.float32, copy=False)
    try:
        x_res, y_res = sampler.fit_resample(flat, y)
    except (RuntimeError, ValueError) as exc:
        raise ResamplingError(f"{name}: {exc}") from exc
    y_res = np.asarray(y_res, dtype=np.int8)
    return Treated(np.asarray(x_res, dtype=np.float32).reshape(-1, *x.shape[1:]), y_res, _sample_weight(sampler, y_res))


def resample(name: str, x: np.ndarray, y: np.ndarray, seed: int, features: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The treated part's beats and labels (:func:`treat` without the weights)."""
    treated = treat(name, x, y, seed, features)
    return treated.x, treated.y


def trained_prior(y: np.ndarray, weights: np.ndarray | None, n_classes: int) -> np.ndarray:
    """The class prior a model trains under: each class's share of the (weighted) training loss."""
    w = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=float)
    mass = np.bincount(np.asarray(y, dtype=np.int64), weights=w, minlength=n_classes)
    return mass / mass.sum()
