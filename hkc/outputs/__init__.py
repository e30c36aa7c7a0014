"""Writing outputs safely: files, atomic folders and their lock, and the one HTML environment.

The face of the package: other packages import from here; modules inside it import each other
directly.  What each module does:

=========================  ============================================================
:mod:`hkc.outputs.files`   Writing outputs safely: atomic folders, and cells that cannot run as formulas.
:mod:`hkc.outputs.folder`  One refresh at a time per output folder: an advisory lock held for the whole run.
=========================  ============================================================
"""

from hkc.outputs.files import (
    file_hashes,
    json_text,
    jsonable,
    neutralise,
    neutralise_frame,
    permissions,
    private_files,
    replace_atomically,
    sha256_file,
    write_csv,
    write_json,
    write_text_atomic,
)
from hkc.outputs.folder import (
    FILE_EXISTS,
    FILE_IS_DATABASE,
    MARKER,
    OUT_REFUSED,
    RefreshLocked,
    SwapError,
    atomic_folder,
    check_output_file,
    check_output_folder,
    mark_output_folder,
    output_lock,
    prepare_output_folder,
)
from hkc.outputs.html import environment, render

__all__ = [
    "FILE_EXISTS",
    "FILE_IS_DATABASE",
    "OUT_REFUSED",
    "check_output_file",
    "SwapError",
    "permissions",
    "private_files",
    "MARKER",
    "check_output_folder",
    "mark_output_folder",
    "prepare_output_folder",
    "environment",
    "render",
    "json_text",
    "jsonable",
    "RefreshLocked",
    "atomic_folder",
    "file_hashes",
    "neutralise",
    "neutralise_frame",
    "output_lock",
    "replace_atomically",
    "sha256_file",
    "write_csv",
    "write_json",
    "write_text_atomic",
]
