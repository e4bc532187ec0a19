"""Treatments (resamplers and loss weightings); importing this package registers every one."""
from resampling import samplers  # noqa: F401  (registration side effect)
from resampling.registry import (KINDS, ResamplingError, Treated, list_resamplers, loss_weights, make_sampler,
                                 register_resampler, resample, resampler_kind, sampler_code, sampler_parameters,
                                 trained_prior, treat)

__all__ = ["KINDS", "ResamplingError", "Treated", "list_resamplers", "loss_weights", "make_sampler",
           "register_resampler", "resample", "resampler_kind", "sampler_code", "sampler_parameters", "trained_prior",
           "treat"]
