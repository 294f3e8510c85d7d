"""Files a run writes and reads: the run directory (``RunDir``), safe names, atomic writes,
checksummed directories.

This package sits with ``errors`` and ``spec`` at the bottom of the layers and imports nothing
heavy, so every layer (pipelines included) cleans names and verifies manifests the same way.
"""

from trainspec.files._format import FORMAT_KEY, RUN_FORMAT_VERSION, check_format
from trainspec.files._manifest import (
    MANIFEST,
    fsync_dir,
    sha256_file,
    verify_manifest,
    write_manifest,
)
from trainspec.files._names import MAX_NAME_LENGTH, path_under, safe_name, safe_relpath
from trainspec.files._rundir import (
    WEIGHTS_FILE,
    RunDir,
    checkpoint_step,
    find_checkpoints,
    read_json,
    strict_json,
    write_json,
)
from trainspec.files._write import (
    atomic_write_bytes,
    atomic_write_text,
    free_space,
    fsync,
    is_storage_error,
    skip_fsync,
    storage_error,
    storage_errors,
)

__all__ = [
    "FORMAT_KEY",
    "MANIFEST",
    "MAX_NAME_LENGTH",
    "RUN_FORMAT_VERSION",
    "WEIGHTS_FILE",
    "RunDir",
    "atomic_write_bytes",
    "atomic_write_text",
    "check_format",
    "checkpoint_step",
    "find_checkpoints",
    "free_space",
    "fsync",
    "fsync_dir",
    "is_storage_error",
    "path_under",
    "read_json",
    "safe_name",
    "safe_relpath",
    "sha256_file",
    "skip_fsync",
    "storage_error",
    "storage_errors",
    "strict_json",
    "verify_manifest",
    "write_json",
    "write_manifest",
]
