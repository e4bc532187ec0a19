"""Treatments (resamplers and loss weightings); importing this package registers every one."""
from resampling import samplers  # noqa: F401  (registration side effect)
from resampling.registry import (KINDS, ResamplingError, Treated, canonical_name, check_resampler, list_resamplers,
                                 loss_weights, make_sampler, register_family, register_resampler, resample,
                                 resampler_families, resampler_kind, sampler_code, sampler_parameters,
                                 trained_prior, treat, treatment_search_space)

__all__ = ["KINDS", "ResamplingError", "Treated", "canonical_name", "check_resampler", "list_resamplers",
           "loss_weights", "make_sampler", "register_family", "register_resampler", "resample", "resampler_families",
           "resampler_kind", "sampler_code", "sampler_parameters", "trained_prior", "treat",
           "treatment_search_space"]
