"""External test sets (``benchmark.external.registry``), each registered by its own module here."""
from benchmark.external.registry import (ExternalSet, external_sets, get_external, list_external, load_external,
                                         register_external)
# each module registers itself; the order of these imports is the order of the report's sections and columns
from benchmark.external import svdb  # noqa: E402,F401,I001
from benchmark.external import nstdb  # noqa: E402,F401,I001

__all__ = ["ExternalSet", "external_sets", "get_external", "list_external", "load_external", "register_external"]
