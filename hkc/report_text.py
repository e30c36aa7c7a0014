"""Plain-text renderings for the terminal (the command line prints these; tests read them)."""

from __future__ import annotations

from collections.abc import Sequence

from hkc.extract import Extract
from hkc.history import StoredRun

__all__ = ["validation_summary", "purge_due", "refresh_summary", "history_table", "movement_report", "explanation",
           "backtest_summary", "purge_summary", "consultation_table"]

FIRST_PROBLEMS = 10


def _table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[str(h) for h in headers]] + [["" if v is None else str(v) for v in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def validation_summary(extract: Extract) -> str:
    rows = [(extract.files[name].name, f"{c['read']:,}", f"{c['used']:,}", f"{c['rejected']:,}",
             "yes" if c["read"] == c["used"] + c["rejected"] else "NO")
            for name, c in extract.counts.items()]
    out = [_table(["file", "read", "used", "rejected", "reconciles"], rows)]
    for file, cols in extract.extra_columns.items():
        out.append(f"{file}: ignored extra columns: {', '.join(cols)}")
    rejects = extract.rejects
    if len(rejects):
        by_rule = rejects.groupby(["file", "rule"]).size().reset_index(name="problems")
        out.append("\nproblems by rule:\n" + _table(["file", "rule", "problems"], by_rule.values.tolist()))
        out.append(f"\nfirst {min(FIRST_PROBLEMS, len(rejects))} of {len(rejects):,} problems:")
        for r in rejects.head(FIRST_PROBLEMS).itertuples(index=False):
            where = f"{r.file} row {r.row}" + (f", column '{r.column}'" if r.column else "")
            out.append(f"  {where}: {r.message}")
    else:
        out.append("no problems: every row is usable")
    return "\n".join(out)


def refresh_summary(result, *, preview: int) -> str:
    m = result.manifest
    lines = [
        f"refresh as of {m['as_of']}: {m['scored']:,} people scored, {m['eligible']:,} eligible, "
        f"{m['cohort_size']:,} listed, {m['removed']:,} removed since "
        f"{m['previous_as_of'] or 'the start of this history (first run)'}",
        "rows: " + "; ".join(f"{n} read {c['read']:,} = used {c['used']:,} + quarantined {c['rejected']:,}"
                             for n, c in m["counts"].items()),
        f"stored as run {result.run_id}" + (" (replaced the earlier run for this date)" if result.replaced else ""),
        f"fairness audit: {m['audit']['summary'] or 'no flags'} (audit/audit.html; a flag is a prompt to look, "
        f"not proof of unfairness, and no flag is not proof of fairness)",
    ]
    if preview and len(result.members):
        top = result.members.head(preview)
        lines.append("")
        lines.append(_table(["rank", "person_id", "risk", "rag", "vuln", "movement"],
                            top[["rank", "person_id", "risk_score", "rag", "vulnerability_score", "movement"]]
                            .values.tolist()))
    lines.append(f"\noutputs in {result.out}: open cohort.html first (the meeting pack); cohort.csv, "
                 f"cohort.xlsx, scores.parquet, contributions.csv, evidence.parquet, removed.csv, rejects.csv, run.json")
    return "\n".join(lines)


def history_table(runs: Sequence[StoredRun]) -> str:
    if not runs:
        return "no runs stored yet"
    return _table(["run", "as_of", "stored at", "scored", "eligible", "listed", "config", "inputs"],
                  [(r.run_id, r.as_of, r.started_at[:19], f"{r.scored:,}", f"{r.eligible:,}", r.cohort_size,
                    r.config_sha256[:12], r.inputs_sha256[:12]) for r in runs])


def purge_due(result: dict, due: bool) -> str:
    """``hkc purge --check``'s one line: whether anything is older than the retention period."""
    period = f"the retention period ({result['older_than_days']:,} days: before {result['cutoff']})"
    if not due:
        return f"no purge due: nothing in the history is older than {period}"
    rows = sum(v for k, v in result["rows"].items() if k != "runs")
    runs = (f"{result['runs']} run(s) ({result['first_as_of']} to {result['last_as_of']}) and "
            if result["runs"] else "")
    return (f"purge overdue: {runs}{rows:,} person-level row(s) are older than {period}; run hkc purge --by NAME "
            "(hkc purge --dry-run shows what it would erase)")


def purge_summary(result: dict) -> str:
    """What a purge erased (or, dry run, would erase): runs and rows by table; never an id."""
    verb = "would purge" if result["dry_run"] else "purged"
    return (f"{verb} {result['runs']} run(s) older than {result['cutoff']}; rows: "
            + ", ".join(f"{k} {v:,}" for k, v in result["rows"].items()))


def movement_report(change: dict) -> str:
    """Entries, exits and RAG changes, with the headline split by cause (:func:`hkc.history.compare_runs`).

    Decay, the cut-off and re-keying are said in words not to be evidence that anything worked; the
    old single share stays only as a labelled line beside the split.
    """
    share, split, n = change["share_reduced_or_removed"], change["causes"], change["before_size"]
    lines = [
        f"cohort {change['from']} ({n}) -> {change['to']} ({change['after_size']})",
        f"entries: {len(change['entries'])}; exits: {change['removed']}; RAG reduced: {change['rag_reduced']}, "
        f"raised: {change['rag_raised']}, unchanged: {change['rag_same']}",
    ]
    if not n:
        lines.append("why people moved down or off the list: n/a (the earlier cohort was empty)")
    else:
        rows = [(split["words"][c], split["counts"][c], f"{split['shares'][c]:.0%}",
                 "not evidence that anything worked" if c in split["not_evidence"] else "")
                for c in split["order"] if split["counts"][c]]
        lines += ["", f"why {split['total']} of the {n} people listed on {change['from']} had their RAG reduced or "
                      f"left the list (one cause each; share of the {n}):"]
        if rows:
            lines.append(_table(["cause", "people", "share", ""], rows))
        lines.append(f"{split['not_evidence_count']} of the {split['total']} moved through time alone (scores decay), "
                     "being overtaken at the cut-off, or an identity change: those would happen if nothing had been "
                     "done, so they are not evidence that anything worked.")
        rules = split["no_longer_eligible_by_rule"]
        if rules["age"]:
            lines.append(f"of the {split['counts']['no_longer_eligible']} no longer eligible, {rules['age']} passed the "
                         "age limit: that too would happen if nothing had been done.")
        lines.append("the old single figure, which counts decay and overtaking as success (share of the earlier "
                     f"cohort whose RAG reduced or who were removed): {share:.0%} ({split['total']} of {n})")
    if change.get("catalogue", {}).get("text"):
        lines.append(change["catalogue"]["text"])
    if change["entries"]:
        lines += ["", "entries:", _table(["person_id", "rank", "rag", "risk"],
                                         [(e["person_id"], e["rank"], e["rag"], e["risk_score"]) for e in change["entries"]])]
    if change["exits"]:
        lines += ["", "exits:", _table(["person_id", "was rank", "was rag", "cause", "why"],
                                       [(e["person_id"], e["rank"], e["rag"], e["cause"], e["cause_text"])
                                        for e in change["exits"]])]
    if change.get("open_cases"):
        lines += ["", "not listed now but still open cases (adopted, not closed; not counted as exits):",
                  _table(["person_id", "was rank", "was rag"],
                         [(c["person_id"], c["rank"], c["rag"]) for c in change["open_cases"]])]
    if change.get("followed"):
        lines += ["", "followed across an id change (the same person under a new id; not an exit and an entry):",
                  _table(["person_id", "earlier id"], [(f["person_id"], f["earlier_id"]) for f in change["followed"]])]
    if change.get("probable_rekeys"):
        lines += ["", "probable re-keys (not in the later extract, while a new id holds their events; not counted as "
                      "exits — check each and record it with hkc ids link OLD NEW --reason TEXT --by NAME):",
                  _table(["person_id", "probably now", "evidence"],
                         [(r["person_id"], r["new_id"], r["evidence"]) for r in change["probable_rekeys"]])]
    moved = [c for c in change["rag_changes"] if c["change"] != "same"]
    if moved:
        lines += ["", "RAG changes:", _table(["person_id", "before", "after", "change", "cause", "why"],
                                             [(c["person_id"], c["rag_before"], c["rag_after"], c["change"],
                                               c.get("cause") or "", c.get("cause_text") or "") for c in moved])]
    return "\n".join(lines)


def explanation(info: dict) -> str:
    """One person's scores, status and evidence (:func:`hkc.history.explain_person`'s ``info``).

    The status line is ``info["status"]``: listed with rank and band, or the rule failed and by
    how much — for an eligible person who is not listed, the cohort cut-off and its amount.
    """
    s = info["score"]
    lines = [f"{info['person_id']} as of {info['as_of']}: risk {s['risk_score']:g}, vulnerability "
             f"{s['vulnerability_score']:g} ({info['status']})"]
    for axis in ("risk", "vulnerability"):
        contrib = [c for c in info["contributions"] if c["axis"] == axis]
        if not contrib:
            continue
        total = round(sum(c["points"] for c in contrib), 1)
        lines += ["", f"{axis} indicators (sum {total:g}):",
                  _table(["indicator", "events", "latest", "points"],
                         [(c["indicator"], c["count"], c["latest"], f"{c['points']:g}") for c in contrib])]
        events = [e for e in info["evidence"] if e["axis"] == axis]
        lines += ["", f"{axis} events:",
                  _table(["date", "event_id", "indicator", "role", "outcome/grade", "points"],
                         [(e["date"], e["event_id"], e["indicator"], e["role"], e["outcome"] or e["grade"] or "",
                           f"{e['points']:.2f}") for e in events])]
    return "\n".join(lines)


def backtest_summary(result: dict) -> str:
    """The rankers side by side on the test snapshot, with intervals."""
    def fmt(value, ci=None):
        if value is None:
            return "-"
        text = f"{value:.3f}"
        return text + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")

    rows = []
    for name, r in result["rankers"].items():
        ci = r.get("ci", {})
        rows.append((name, fmt(r.get("roc_auc"), ci.get("roc_auc")), fmt(r.get("precision_at_k"), ci.get("precision_at_k")),
                     fmt(r.get("recall_at_k"), ci.get("recall_at_k")), fmt(r.get("brier")), fmt(r.get("ece"))))
    head = (f"test snapshot {result['test_snapshot']} (outcome within {result['horizon_days']} days): "
            f"{result['n']:,} people scored, {result['positives']:,} with the outcome; k = {result['k']}")
    return head + "\n" + _table(["ranker", "ROC AUC", f"precision@{result['k']}", f"recall@{result['k']}", "Brier",
                                  "ECE"], rows)


def consultation_table(frame) -> str:
    """The consultation log as a table (``hkc log``)."""
    if not len(frame):
        return "no consultations logged"
    rows = frame[["consulted_at", "consulted_by", "person_id", "action", "purpose", "run_as_of"]].fillna("").values
    return _table(["when", "by", "person", "action", "purpose", "run"], rows.tolist())
