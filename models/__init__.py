"""Model builders; importing this package imports every module in it, which registers every model.

Adding a model is one ``@register_model`` function in a new file here: nothing else names it.
"""
import importlib
import pkgutil

from models.registry import (ESTIMATORS, build_model, builder_arguments, builder_source, generic_test_params,
                             list_models, model_estimator, model_search_space, register_model)

for _module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    importlib.import_module(f"{__name__}.{_module}")

__all__ = ["ESTIMATORS", "build_model", "builder_arguments", "builder_source", "list_models", "model_estimator",
           "model_search_space", "register_model", "generic_test_params"]
