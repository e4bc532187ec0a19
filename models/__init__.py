"""Model builders; importing this package registers every model."""
from models import cnn, lstm, mlp, resnet  # noqa: F401  (registration side effect)
from models.registry import build_model, builder_arguments, builder_source, list_models, register_model

__all__ = ["build_model", "builder_arguments", "builder_source", "list_models", "register_model"]
