"""The extract: reading files as text, checking rows against the contract, loading what passes.

The face of the package: other packages import from here; modules inside it import each other
directly.  What each module does:

===========================  ============================================================
:mod:`hkc.extract.capacity`  Will a refresh fit in this machine's memory?  Checked before any work is done.
:mod:`hkc.extract.checks`    Check single rows: the per-column rules of :data:`hkc.extract.contract.CONTRACT`, and the rejects they make.
:mod:`hkc.extract.contract`  The input data contract (PRODUCT.md section 6): files, columns, codes and quarantine rules.
:mod:`hkc.extract.coverage`  Can this extract support a score as of this date?  Short history, stale, shrunk: refused or accepted.
:mod:`hkc.extract.csv`       Reading a CSV file as text: header checks, encoding errors, malformed lines with their line numbers.
:mod:`hkc.extract.load`      Validate an extract: every row is used or quarantined with a reason.
:mod:`hkc.extract.parquet`   Reading a Parquet file as text columns, with the same row numbering as the CSV reader.
:mod:`hkc.extract.raw`       The raw-file vocabulary shared by the readers: limits, escaping, file errors and the ``RawFile``.
:mod:`hkc.extract.readers`   Read an extract's files as text: every column a string, every row with its source line.
:mod:`hkc.extract.records`   The file's own count of its records: one pass over a CSV's bytes, independent of the CSV parser.
===========================  ============================================================
"""

from hkc.extract.capacity import CapacityError, check_capacity, extract_rows, memory_needed
from hkc.extract.contract import (
    CONTRACT,
    ETHNICITY_CODES,
    OFFICER_ETHNICITY_CODES,
    OUTCOME_CODES,
    REQUIRED_FILES,
    ROLE_CODES,
    SEX_CODES,
    SOURCE_CODES,
)
from hkc.extract.coverage import CoverageProblem, coverage_problems, refuse_or_accept, shrink_problems
from hkc.extract.csv import read_csv
from hkc.extract.load import Extract, load_extract, probe_extract
from hkc.extract.raw import ReadLimits
from hkc.extract.readers import find_files

__all__ = [
    "CONTRACT",
    "CapacityError",
    "CoverageProblem",
    "ETHNICITY_CODES",
    "Extract",
    "OFFICER_ETHNICITY_CODES",
    "OUTCOME_CODES",
    "REQUIRED_FILES",
    "ROLE_CODES",
    "ReadLimits",
    "SEX_CODES",
    "SOURCE_CODES",
    "check_capacity",
    "coverage_problems",
    "extract_rows",
    "find_files",
    "load_extract",
    "memory_needed",
    "probe_extract",
    "read_csv",
    "refuse_or_accept",
    "shrink_problems",
]
