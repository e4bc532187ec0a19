"""Resamplers; importing this package registers every resampler."""
from resampling import samplers  # noqa: F401  (registration side effect)
from resampling.registry import (KINDS, ResamplingError, list_resamplers, loss_weights, make_sampler, register_resampler,
                                 resample, resampler_kind, sampler_code, sampler_parameters)

__all__ = ["KINDS", "ResamplingError", "list_resamplers", "loss_weights", "make_sampler", "register_resampler",
           "resample", "resampler_kind", "sampler_code", "sampler_parameters"]
