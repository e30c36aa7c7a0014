"""The fairness audit: who a list falls on, how sure we are, against which baseline, and why.

Every refresh runs it, and ``hkc audit --input FILE`` runs it on any scored file
(:func:`run_file_audit`, defined here).  Import everything from this module; the work is split by
concern, each module readable in one sitting:

==========================  ===================================================================
:mod:`hkc.definitions.audit_spec`       ``audits/fairness.toml`` → :class:`AuditSpec`; the flag rule
:mod:`hkc.audit.columns`    reading the audited columns, with row-level error messages
:mod:`hkc.audit.table`      the frequency table fairlearn's ``MetricFrame`` runs on; the
                            bootstrap statistic over it
:mod:`hkc.audit.bootstrap`  :func:`bootstrap_intervals`, vectorised over resamples
:mod:`hkc.audit.exact`      exact intervals where a count is small (Clopper–Pearson, Katz, Newcombe)
:mod:`hkc.audit.attributes` the attributes audited, pooled comparisons, references, labels
:mod:`hkc.audit.groups`     :func:`audit_selection`: group metrics, ratios to a reference group,
                            intervals, undefined rates, small groups, what cannot be assessed at
                            this size, flags, calibration
:mod:`hkc.audit.summaries`  fairlearn's disparity measures, score quantiles and calibration by
                            band, per group
:mod:`hkc.audit.baselines`  :func:`composition_baselines`, :func:`age_matched_population`
:mod:`hkc.audit.drivers`    :func:`driver_decomposition`: which indicators drive a gap
:mod:`hkc.audit.findings`   :func:`findings`: sentences, each with its interval and baseline
:mod:`hkc.audit.wording`    the words the sentences use: metrics, percentages, intervals
:mod:`hkc.audit.disclosure` :func:`suppress_small_cells`: the partner-facing copy
:mod:`hkc.audit.report`     :func:`write_audit` (JSON, HTML, CSV) and :func:`audit_metrics` (MLflow)
:mod:`hkc.audit.charts`     the page's chart geometry
==========================  ===================================================================

A refresh assembles one result dictionary::

    result = audit_selection(scored, selected="in_cohort", by=["ethnicity", "sex"], score="risk_score",
                             spec=spec, selection_label="in the cohort")
    result["baselines"] = composition_baselines(scored["in_cohort"], scored[["ethnicity", "sex"]],
                                                baselines={"population": pop, "convicted": mask}, spec=spec)
    result["drivers"] = {"ethnicity": driver_decomposition(contributions, people, attribute="ethnicity",
                                                           reference="White", indicator_flags=flags)}
    write_audit(result, out / "audit", title="...")
    write_audit(suppress_small_cells(result, threshold=spec.disclosure.small_cell), out / "partner", title="...")
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pandas as pd

from hkc.audit.baselines import BAD_BASELINE as BAD_BASELINE
from hkc.audit.baselines import BASELINE_LABELS as BASELINE_LABELS
from hkc.audit.columns import EMPTY_VALUE as EMPTY_VALUE
from hkc.audit.columns import MISSING_GROUP as MISSING_GROUP
from hkc.audit.columns import NO_COLUMN as NO_COLUMN
from hkc.audit.columns import NOT_BINARY as NOT_BINARY
from hkc.audit.columns import NOT_NUMERIC as NOT_NUMERIC
from hkc.audit.columns import UNKNOWN_REFERENCE as UNKNOWN_REFERENCE
from hkc.audit.columns import numeric_column, require_column
from hkc.audit.drivers import UNFLAGGED_INDICATOR as UNFLAGGED_INDICATOR
from hkc.audit.flags import flag_list
from hkc.audit.groups import DENOMINATORS as DENOMINATORS
from hkc.audit.groups import NO_ROWS as NO_ROWS
from hkc.audit.groups import QUANTILES as QUANTILES
from hkc.audit.groups import RATE_COUNTS as RATE_COUNTS
from hkc.audit.groups import audit_selection
from hkc.audit.report import write_audit
from hkc.definitions import DEFAULT_LABELS as DEFAULT_LABELS
from hkc.definitions import OUTCOME_METRICS as OUTCOME_METRICS
from hkc.definitions import AttributeSettings as AttributeSettings
from hkc.definitions import AuditSpec
from hkc.definitions import BootstrapSettings as BootstrapSettings
from hkc.definitions import CalibrationSettings as CalibrationSettings
from hkc.definitions import DisclosureSettings as DisclosureSettings
from hkc.definitions import FlagSettings as FlagSettings
from hkc.errors import ExtractError, HkcError
from hkc.outputs import sha256_file

__all__ = ['run_file_audit']


UNSUPPORTED_INPUT = "{path}: unsupported file type '{ext}'; use {expected}"

SELECTION_CHOICE = "give either a threshold (selected means score >= threshold) or a selected column, not {what}"


def _read_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, low_memory=False)


READERS: dict[str, Callable[[Path], pd.DataFrame]] = {".csv": _read_csv, ".csv.gz": _read_csv, ".parquet": pd.read_parquet}


def _kind(path: Path) -> str:
    """The reader key of ``path``: its suffix, or ``.csv.gz`` for a gzipped CSV."""
    name = path.name.lower()
    return ".csv.gz" if name.endswith(".csv.gz") else path.suffix.lower()


def run_file_audit(input: Path, *, score: str, threshold: float | None, selected: str | None, outcome: str | None,
                   by: Sequence[str], out: Path, spec: AuditSpec, reference: Mapping[str, str] | None = None,
                   title: str | None = None) -> dict:
    """``hkc audit --input FILE``: audit any scored CSV or Parquet file and write the report.

    Selected means ``score >= threshold`` (or the 0/1 ``selected`` column).  Writes
    ``out/audit.json``, ``out/audit.html`` and CSV tables; returns the result dictionary.
    """
    input = Path(input)
    if (threshold is None) == (selected is None):
        raise HkcError(SELECTION_CHOICE.format(what="both" if threshold is not None else "neither"))
    reader = READERS.get(_kind(input))
    if reader is None:
        raise ExtractError(UNSUPPORTED_INPUT.format(path=input, ext=input.suffix, expected=", ".join(READERS)),
                           file=str(input))
    if not input.is_file():
        raise ExtractError(f"{input}: file not found", file=str(input))
    frame = reader(input).reset_index(drop=True)
    offset = 2 if _kind(input) != ".parquet" else 1  # CSV: line numbers (the header is line 1)

    def row_of(position: int) -> str:
        return f"{'line' if offset == 2 else 'row'} {position + offset}"

    where = input.name
    for column, role in ([(score, "--score column")] + [(c, "--by column") for c in by]
                         + ([(outcome, "--outcome column")] if outcome is not None else [])
                         + ([(selected, "--selected column")] if selected is not None else [])):
        require_column(frame, column, role, where)
    values = numeric_column(frame, score, "--score column", where, row_of)
    if threshold is not None:
        selected_col = "selected (score >= threshold)"
        while selected_col in frame.columns:
            selected_col += "_"
        frame = frame.assign(**{selected_col: values >= threshold})
        label = f"rated {score} >= {threshold:g}"
    else:
        selected_col, label = selected, f"selected ({selected})"
    result = audit_selection(frame, selected=selected_col, by=by, score=score, outcome=outcome, spec=spec,
                             reference=reference, selection_label=label, population_label=f"{where}",
                             where=where, row_of=row_of)
    result["selection"] |= {"column": selected, "threshold": threshold}
    result["provenance"]["input"] = {"file": str(input), "sha256": sha256_file(input)}
    result["flags"] = flag_list(result)  # the one list the page and the terminal count
    write_audit(result, Path(out), title=title or f"Fairness audit of {input.name}")
    return result
