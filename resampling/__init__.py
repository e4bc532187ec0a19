"""Resamplers; importing this package registers every resampler."""
from resampling import samplers  # noqa: F401  (registration side effect)
from resampling.registry import ResamplingError, list_resamplers, make_sampler, register_resampler, resample

__all__ = ["ResamplingError", "list_resamplers", "make_sampler", "register_resampler", "resample"]
