"""The fairness audit: who a list falls on, how sure we are, against which baseline, and why.

The face of the package: other packages import from here; modules inside it import each other
directly.  What each module does:

===========================  ============================================================
:mod:`hkc.audit.attributes`  Which attributes a selection audit covers (pooled comparisons too), their references and labels.
:mod:`hkc.audit.baselines`   Cohort composition against several baselines, none privileged; the MOPAC test's figures.
:mod:`hkc.audit.bootstrap`   Bootstrap percentile intervals, vectorised over resamples.
:mod:`hkc.audit.charts`      Chart geometry for ``audit.html``: rates and error rates with intervals, legends' colours.
:mod:`hkc.audit.columns`     Reading the audited columns: presence, numbers, 0/1 flags and group names, with row-level errors.
:mod:`hkc.audit.decided`     What is decided, audited: the periphery, decisions, referrals, additions and removals, cumulative listing.
:mod:`hkc.audit.disclosure`  The partner-facing copy of an audit result: statistical disclosure control.
:mod:`hkc.audit.drivers`     Driver decomposition: which indicators a group's risk points come from, and its gap to the reference.
:mod:`hkc.audit.exact`       Exact intervals for small counts (Clopper–Pearson, Katz log, Newcombe); never of zero width.
:mod:`hkc.audit.file`        The fairness audit: who a list falls on, how sure we are, against which baseline, and why.
:mod:`hkc.audit.findings`    Findings: plain-English sentences generated from an audit result and its flag rule.
:mod:`hkc.audit.flags`       What an audit flags, decided in one place: the list every output counts.
:mod:`hkc.audit.groups`      Group metrics: who is selected, by group, with intervals — :func:`audit_selection`.
:mod:`hkc.audit.refresh`     The fairness audit of a refresh: who the cohort falls on, against which baseline, and why.
:mod:`hkc.audit.report`      Writing an audit result out: ``audit.json``, a self-contained ``audit.html``, CSV tables, and flat metrics.
:mod:`hkc.audit.sections`    Walking the sections of what is decided: their paths, a partner copy of each, shares of the selected.
:mod:`hkc.audit.summaries`   Per-group summaries beside the rates: fairlearn's disparity measures, score quantiles, calibration.
:mod:`hkc.audit.table`       The frequency table the group metrics run on, and the bootstrap statistic over it.
:mod:`hkc.audit.wording`     The words of the audit: metric names, percentages and intervals as the findings write them.
===========================  ============================================================
"""

from hkc.audit.baselines import age_matched_population, composition_baselines
from hkc.audit.bootstrap import bootstrap_intervals, finite_or_none, interval_or_none
from hkc.audit.decided import NOT_IN_EXTRACT, decided_audits
from hkc.audit.disclosure import suppress_small_cells
from hkc.audit.drivers import driver_decomposition
from hkc.audit.file import run_file_audit
from hkc.audit.findings import findings, format_percent, is_number
from hkc.audit.flags import flag_list, flag_summary
from hkc.audit.groups import audit_selection
from hkc.audit.refresh import audit_refresh
from hkc.audit.report import audit_metrics, write_audit
from hkc.audit.sections import decided_sections, map_sections, selected_shares
from hkc.audit.table import score_bands

__all__ = [
    "age_matched_population",
    "audit_metrics",
    "audit_refresh",
    "audit_selection",
    "bootstrap_intervals",
    "composition_baselines",
    "decided_audits",
    "decided_sections",
    "driver_decomposition",
    "findings",
    "flag_list",
    "flag_summary",
    "finite_or_none",
    "format_percent",
    "interval_or_none",
    "is_number",
    "map_sections",
    "NOT_IN_EXTRACT",
    "run_file_audit",
    "score_bands",
    "selected_shares",
    "suppress_small_cells",
    "write_audit",
]
