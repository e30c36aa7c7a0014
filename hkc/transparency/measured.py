"""What the audit and the accuracy checks measured, in sentences the records share.

The fairness audit's summary (who was compared, the flags), the list against chance, the
retrospective audit, the backtest's figures, the error rates they imply, and the known limits of
what is measured.  Each is written from :class:`~hkc.transparency.facts.Facts`; a check that was
not run or not given is said so, never guessed.
"""

from __future__ import annotations

from collections.abc import Mapping

from hkc.audit import flag_summary
from hkc.transparency.document import Block, grid
from hkc.transparency.facts import Facts
from hkc.transparency.markdown import ratio_text

__all__ = ["audit_summary", "performance", "error_rates", "limitations", "flag_text", "NO_AUDIT"]

NO_AUDIT = ("No fairness audit was given, so this record shows no audit figures. Every refresh writes one "
            "(audit/audit.json in the run folder); regenerate the record from the latest run before publishing.")



def _n(value: object) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


def flag_text(flag: Mapping, confidence: float = 0.95) -> str:
    """A flag's sentence; a flag stored before flags carried one is worded from its fields."""
    if flag.get("text"):
        return str(flag["text"])
    return (f"{flag.get('attribute')} {flag.get('group')} against {flag.get('reference')}: "
            f"{str(flag.get('metric', 'a measure')).replace('_', ' ')} ratio "
            f"{ratio_text(flag.get('ratio'), flag.get('ci'), confidence)}")


def audit_summary(f: Facts, *, chance: bool = True) -> list[Block]:
    """The run's fairness audit in a few sentences: who was compared, the flags, and (``chance``) the list
    against chance."""
    a = f.audit
    if not a:
        return [NO_AUDIT]
    flags = a.get("flags") or []
    population = a.get("population") if isinstance(a.get("population"), Mapping) else {}
    summary = flag_summary(flags)
    lines = [f"The fairness audit of the run as of {a.get('as_of', f.run('as_of'))} compared {_n(a.get('n'))} "
             f"people ({population.get('description', 'the scored population')}) by "
             f"{' and '.join(a.get('by') or f.audit_spec.attributes.columns)} and raised {summary}. A flag is a "
             f"prompt to look, not proof of unfairness; no flag at small sizes is not evidence of fairness."]
    if population.get("ethnicity"):
        lines.append(f"Ethnicity used: {population['ethnicity']}.")
    line = f.run("chance") or a.get("chance") or {}
    if chance and isinstance(line, Mapping) and line.get("sentence"):
        lines.append(f"The list against chance: {line['sentence']}")
    return lines


def _ci(entry: Mapping, metric: str) -> str:
    value, ci = entry.get(metric), (entry.get("ci") or {}).get(metric)
    if value is None:
        return "not measured"
    return f"{value:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if isinstance(ci, list) and len(ci) == 2 else "")


def performance(f: Facts) -> list[Block]:
    """How well the list picks out who goes on to be involved: the chance line, the retrospective audit, the backtest."""
    out: list[Block] = []
    chance = f.run("chance") or (f.audit or {}).get("chance")
    if isinstance(chance, Mapping) and chance.get("sentence"):
        out.append(f"Every refresh measures the list against chance on the extract's own history: "
                   f"{chance['sentence']}")
    retro = (f.audit or {}).get("retrospective")
    if isinstance(retro, Mapping):
        out.append(f"Retrospective audit: the list the same rules would have produced as of {retro.get('as_of')}, "
                   f"compared by group against {retro.get('outcome', 'what happened next')} (in the fairness audit)."
                   if retro.get("available") else f"Retrospective audit: not available ({retro.get('reason')}).")
    b = f.backtest
    if b:
        k = b.get("k")
        out.append(f"Backtest (hkc backtest, test snapshot {b.get('test_snapshot')}): {_n(b.get('n'))} people "
                   f"({b.get('population', 'the scored population')}), {_n(b.get('positives'))} of them "
                   f"{(b.get('label') or {}).get('description', 'with the outcome')}; k = {k}. In brackets, "
                   f"{round(100 * b.get('confidence', 0.95))}% intervals; the model rows are candidates, used only "
                   f"if they beat the matrix.")
        names = b.get("descriptions") or {}
        out.append(grid(["Ranker", "What it is", "ROC AUC", f"Precision in the top {k}", f"Recall in the top {k}"],
                        [(name, names.get(name, name), _ci(r, "roc_auc"), _ci(r, "precision_at_k"),
                          _ci(r, "recall_at_k")) for name, r in b["rankers"].items()]))
    else:
        out.append("No backtest was given with this record: run hkc backtest DATA_DIR --as-of D --out DIR and "
                   "regenerate the record with --backtest DIR to add the matrix's ROC AUC, precision and recall "
                   "against simple baselines.")
    return out


def error_rates(f: Facts) -> list[str]:
    """How often past listings were followed by the outcome (and were not), and what the backtest's top k missed."""
    out = []
    chance = f.run("chance") or (f.audit or {}).get("chance") or {}
    pooled = chance.get("pooled") if isinstance(chance, Mapping) else None
    if isinstance(pooled, Mapping) and isinstance(pooled.get("listed"), int) and pooled["listed"] > 0:
        listed, hits = pooled["listed"], int(pooled.get("hits") or 0)
        ci = pooled.get("ci") or []
        interval = f", 95% CI {ci[0]:.0%}–{ci[1]:.0%}" if len(ci) == 2 and None not in ci else ""
        out.append(f"Of {listed:,} listings the same rules would have made at past quarter ends whose outcome is "
                   f"known, {hits:,} ({hits / listed:.0%}{interval}) were followed by the outcome "
                   f"({chance.get('outcome', 'the outcome')}) and {listed - hits:,} ({1 - hits / listed:.0%}) were "
                   f"not: against this outcome, those are the list's false positives.")
    bt = f.backtest or {}
    b = bt.get("rankers", {}).get("matrix")
    if isinstance(b, Mapping) and b.get("recall_at_k") is not None and b.get("precision_at_k") is not None:
        k, size = bt.get("k"), bt.get("pool_size")
        listed = f"the top {k} of the {bt.get('pool', 'scored')}" + (
            f", {min(k, size):,} people" if isinstance(k, int) and isinstance(size, int) else "")
        out.append(f"In the backtest at {bt.get('test_snapshot')}, the list the matrix would have made ({listed}) "
                   f"held {b['recall_at_k']:.0%} of the {_n(bt.get('positives'))} people who went on to the "
                   f"outcome; the other {1 - b['recall_at_k']:.0%} were not listed (false negatives against this "
                   f"outcome), and {1 - b['precision_at_k']:.0%} of those listed did not go on to it (false "
                   f"positives).")
    return out


def limitations(f: Facts) -> list[str]:
    inds = f.definitions.catalogue.indicators.values()
    proactive = ", ".join(i.label for i in inds if i.proactive) or "none in this catalogue"
    intel = ", ".join(i.label for i in inds if i.intelligence) or "none in this catalogue"
    n = f.audit_spec.disclosure.small_cell
    return [
        f"Recorded data reflects policing patterns as well as behaviour. Proactive indicators ({proactive}) are "
        f"generated by police activity, and intelligence indicators ({intel}) by reports, so groups or places "
        f"policed more heavily accrue more points for the same behaviour. The audit's driver decomposition "
        f"shows, per group, the share of points from each.",
        "Harms that are not reported or recorded are invisible, and partner records (education, social care, "
        "health) appear only when they are shared.",
        f"Small groups give wide intervals: counts under {n} are withheld from published figures, small groups "
        f"raise no flag, and the absence of a flag is not evidence of the absence of a disparity.",
        "Gravity weights are ordinal judgements, not estimated from data; they must be reviewed against current "
        "sentencing guidelines and the review recorded.",
        "No model is used unless a backtest shows it ranks better; whether the list picks out who goes on to be "
        "involved is measured by the list against chance and the retrospective audit, when the extract holds "
        "enough history.",
    ]
