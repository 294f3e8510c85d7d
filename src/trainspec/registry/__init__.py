"""Names to components, import paths resolved under an allow-list, and the one
``instantiate`` that builds every component from a spec (with its torch-free describe half)."""

from trainspec.registry._describe import (
    TABLE_FILE,
    Described,
    builtin_table,
    check_component_params,
    describe,
    described_by,
    names,
)
from trainspec.registry._imports import (
    ALLOW_ENV,
    DEFAULT_ALLOWED,
    DENIED,
    allowed_prefixes,
    check_import_path,
    resolve_import,
)
from trainspec.registry._instantiate import (
    Entry,
    describe_entry,
    import_object,
    instantiate,
    lookup,
    resolve,
    unknown_name,
)
from trainspec.registry._registry import KINDS, PLUGIN_GROUP, Registry, register, registry
from trainspec.registry._runcode import CODE_DIR, CODE_MANIFEST, save_run_code, use_run_code
from trainspec.registry._signature import (
    ENGINE_PARAMS,
    ParamSignature,
    positional_arity,
    signature_of,
)
from trainspec.registry._static import component_problems
from trainspec.registry._trust import SKOPS_TRUSTED, untrusted_types
from trainspec.registry._types import describe_encoded, encode_type, value_fits

__all__ = [
    "ALLOW_ENV",
    "CODE_DIR",
    "CODE_MANIFEST",
    "DEFAULT_ALLOWED",
    "DENIED",
    "ENGINE_PARAMS",
    "KINDS",
    "PLUGIN_GROUP",
    "SKOPS_TRUSTED",
    "TABLE_FILE",
    "Described",
    "Entry",
    "ParamSignature",
    "Registry",
    "allowed_prefixes",
    "builtin_table",
    "check_component_params",
    "check_import_path",
    "component_problems",
    "describe",
    "describe_encoded",
    "describe_entry",
    "described_by",
    "encode_type",
    "import_object",
    "instantiate",
    "lookup",
    "names",
    "positional_arity",
    "register",
    "registry",
    "resolve",
    "resolve_import",
    "save_run_code",
    "signature_of",
    "unknown_name",
    "untrusted_types",
    "use_run_code",
    "value_fits",
]
