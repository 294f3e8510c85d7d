"""Names to components, and import paths resolved under an allow-list."""

from trainspec.registry._imports import (
    ALLOW_ENV,
    DEFAULT_ALLOWED,
    DENIED,
    allowed_prefixes,
    resolve_import,
)
from trainspec.registry._registry import KINDS, PLUGIN_GROUP, Registry, register, registry
from trainspec.registry._runcode import CODE_DIR, CODE_MANIFEST, save_run_code, use_run_code

__all__ = [
    "ALLOW_ENV",
    "CODE_DIR",
    "CODE_MANIFEST",
    "DEFAULT_ALLOWED",
    "DENIED",
    "KINDS",
    "PLUGIN_GROUP",
    "Registry",
    "allowed_prefixes",
    "register",
    "registry",
    "resolve_import",
    "save_run_code",
    "use_run_code",
]
