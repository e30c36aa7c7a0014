"""The declarative definitions: run settings and the indicator catalogue.

Analysts edit TOML (``config/hkc.toml``, ``features/indicators.toml``); auditors diff it.  This
module finds the files, loads them into frozen dataclasses, and rejects anything it does not
understand with a message naming the file, the key and the closest valid key.  Every key is
documented in the dataclass field metadata (``doc``), and a test checks none is missing.

Where definitions come from, in order:

1. ``--config FILE``: the deployment folder is the folder holding ``config/`` (``FILE``'s
   grandparent when ``FILE`` is ``…/config/hkc.toml``, else ``FILE``'s parent);
2. the current folder, when it holds ``config/hkc.toml`` (a folder made by ``hkc init``);
3. the defaults shipped with the package.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from hkc.definitions.catalogue import OUTCOMES, ROLES, _not_in, _table
from hkc.definitions.fields import (
    AGE_MAX,
    BAD_VALUE,
    DAYS_MAX,
    _Shown,
    build_section,
    doc,
    one_line,
    read_toml,
    unknown_key,
)
from hkc.errors import ConfigError
from hkc.messages import did_you_mean

__all__ = ['Settings', 'AgencySettings', 'load_settings', 'GRADE_PROBLEMS', 'LINK_TYPES']

GRADE_PROBLEMS = {  # why an [eligibility] grade setting is refused (BAD_VALUE's `problem`)
    "format": "must be an intelligence grade: a letter A-E then a digit 1-5, e.g. C3",
    "never": "source E and assessments 4-5 never corroborate: the weakest allowed is D3",
    "order": "is weaker than usable_grade {usable}: a credible report must also be usable",
}


@dataclass(frozen=True)
class DataSettings:
    extract: str = field(
        default="extract",
        metadata=doc("default extract folder, relative to the deployment folder"),
    )
    coverage_tolerance_days: int = field(
        default=31, metadata=doc("an extract may start this many days after the as-of date minus the longest "
                                  "indicator lookback before the refresh refuses it as too short", min=0, max=DAYS_MAX))
    coverage_min_events: int = field(
        default=1000, metadata=doc("the short-history and stale checks are judged only on extracts with at least "
                                    "this many events (a handful says nothing about what an extract covers)", min=0))
    max_days_after_latest_event: int = field(
        default=31, metadata=doc("the as-of date may be at most this many days after the extract's latest event",
                                  min=0, max=DAYS_MAX))
    max_shrink: float = field(
        default=0.2, metadata=doc("people or events may fall by at most this share against the previous stored "
                                   "run before the refresh refuses the extract", min=0.0, max=1.0))


@dataclass(frozen=True)
class DatabaseSettings:
    url: str = field(
        default="sqlite:///hkc-history.db",
        metadata=doc("history store: SQLAlchemy URL; relative SQLite paths are under the deployment folder"),
    )


@dataclass(frozen=True)
class EligibilitySettings:
    min_age: int = field(default=10, metadata=doc("youngest age listed, at the as-of date", min=0, max=AGE_MAX))
    max_age: int = field(default=17, metadata=doc(
        "oldest age listed, at the as-of date: 17 for a children's programme; raise it (to 24, say) only for a "
        "programme that also works with young adults", min=0, max=AGE_MAX))
    review_window_days: int = field(
        default=365, metadata=doc("a weapon-related risk event must fall in this window", min=1, max=DAYS_MAX)
    )
    min_intelligence_reports: int = field(
        default=2, metadata=doc("intelligence is corroborated only by this many reports graded `usable_grade` or "
                                "better, from different sources or with one graded `credible_grade` or better",
                                min=2)
    )
    intelligence_distinct_dates: bool = field(
        default=True, metadata=doc("a source's intelligence reports on the same date count as one report")
    )
    usable_grade: str = field(
        default="D3", metadata=doc("the weakest grade that can corroborate: source A to this letter and assessment "
                                   "1 to this digit; ungraded reports, source E and assessments 4-5 never can")
    )
    credible_grade: str = field(
        default="C3", metadata=doc("a report graded at least this well (source A to this letter, assessment 1 to "
                                   "this digit) corroborates with one more usable report, even from the same source")
    )
    non_qualifying_outcomes: tuple[str, ...] = field(
        default=("nfa",),
        metadata=doc("weapon events with these outcomes do not make anyone eligible"),
    )
    allow_police_generated_only: bool = field(
        default=False, metadata=doc(
            "let police-generated weapon evidence alone (the catalogue's `proactive` types: stop-search finds, "
            "intelligence) make a person eligible; false: at least one reported weapon event must qualify")
    )
    min_risk_score: float = field(
        default=25.0, metadata=doc("the risk score must reach this to be listed: more than any single weak event "
                                   "earns (see config/hkc.toml)", min=0)
    )


@dataclass(frozen=True)
class CohortSettings:
    method: Literal["threshold_capped", "top_n", "threshold"] = field(
        default="threshold_capped",
        metadata=doc("`threshold_capped` lists every eligible person at or above `min_score`, at most the `size` "
                     "highest; `top_n` the `size` highest; `threshold` all at or above `min_score`",
                     choices=("threshold_capped", "top_n", "threshold")),
    )
    size: int = field(default=50, metadata=doc(
        "the most listed (methods threshold_capped and top_n): the programme's capacity", min=1))
    min_score: float = field(
        default=25.0, metadata=doc("lowest risk score listed (methods threshold_capped and threshold)", min=0)
    )

    def describe(self) -> str:
        """Who is listed among the eligible, in words (the packs and the transparency record say this)."""
        if self.method == "top_n":
            return f"the {self.size} highest-ranked eligible people"
        if self.method == "threshold":
            return f"every eligible person with a risk score of at least {self.min_score:g}"
        return f"every eligible person with a risk score of at least {self.min_score:g}, at most {self.size} of them"


@dataclass(frozen=True)
class RagSettings:
    method: Literal["fixed", "quantile"] = field(
        default="quantile",
        metadata=doc("`quantile` (the default): red = the top `red_share` of the cohort in rank order, amber the "
                     "next `amber_share`, so the bands always tell the listed people apart; `fixed`: score "
                     "thresholds `red` and `amber` (on another force or quarter one band can hold everyone)",
                     choices=("fixed", "quantile")),
    )
    red: float = field(default=80.0, metadata=doc("risk score at or above which RAG is red", min=0))
    amber: float = field(default=45.0, metadata=doc("risk score at or above which RAG is amber", min=0))
    red_share: float = field(
        default=0.2, metadata=doc("quantile method: share of the cohort rated red", min=0, max=1)
    )
    amber_share: float = field(
        default=0.3, metadata=doc("quantile method: share of the cohort rated amber", min=0, max=1)
    )


@dataclass(frozen=True)
class VulnerabilitySettings:
    high: float = field(default=40.0,
        metadata=doc("vulnerability score at or above which the band is high", min=0))
    medium: float = field(default=15.0,
        metadata=doc("vulnerability score at or above which the band is medium", min=0))


@dataclass(frozen=True)
class OutputSettings:
    preview_rows: int = field(default=10, metadata=doc("cohort rows shown in the terminal summary", min=0))
    group_readable: bool = field(default=False, metadata=doc(
        "let the owner's group read outputs and the history database (folders 0750, files 0640); by default "
        "only the owner can (0700, 0600), whatever the umask"))
    protective_marking: str = field(default="OFFICIAL-SENSITIVE", metadata=doc(
        "the protective marking printed at the top and bottom of every page of the police and partner packs "
        "(the Government Security Classifications marking agreed for the pack)"))
    print_drivers: int = field(default=3, metadata=doc(
        "in print, each person's rationale is cut to this many top drivers; the screen and the workbooks keep "
        "the full text", min=1))
    print_periphery: int = field(default=12, metadata=doc(
        "in print, each periphery section lists at most this many people; the screen and the workbooks list "
        "them all", min=0))


@dataclass(frozen=True)
class OutcomeSettings:
    types: tuple[str, ...] = field(
        default=("knife_possession", "knife_violence"),
        metadata=doc("event types that count as the outcome (retrospective audit, backtests)"))
    roles: tuple[str, ...] = field(
        default=("offender", "suspect"), metadata=doc("roles that count as the outcome"))
    horizon_days: int = field(default=365, metadata=doc("days after a snapshot in which the outcome is looked for",
                                                          min=1, max=DAYS_MAX))


@dataclass(frozen=True)
class TrackingSettings:
    enabled: bool = field(default=True,
        metadata=doc("log aggregate run metrics to MLflow (never person-level data)"))
    uri: str = field(
        default="sqlite:///mlflow.db",
        metadata=doc("MLflow tracking URI; relative SQLite paths are under the deployment folder; "
                      "the MLFLOW_TRACKING_URI environment variable takes precedence"))
    experiment: str = field(default="hkc-refresh", metadata=doc("MLflow experiment for refreshes"))


@dataclass(frozen=True)
class PeerSettings:
    lookback_days: int = field(default=730,
        metadata=doc("co-involvement counts within this many days", min=1, max=DAYS_MAX))
    half_life_days: float = field(default=365.0,
        metadata=doc("recency half-life of an edge's weight", min=1, max=DAYS_MAX))
    min_edge_weight: float = field(default=0.0, metadata=doc("edges lighter than this are dropped", min=0))
    community_seed: int = field(default=1, metadata=doc("seed of the community detection (same seed, same groups)",
                                                          min=0))
    max_periphery: int = field(default=100, metadata=doc("at most this many periphery people are listed", min=0))
    child_max_age: int = field(default=17,
        metadata=doc("a child is at most this age at the as-of date", min=0, max=AGE_MAX))


@dataclass(frozen=True)
class PlaceSettings:
    lookback_days: int = field(default=365,
        metadata=doc("knife-related events within this many days count", min=1, max=DAYS_MAX))
    half_life_days: float = field(default=180.0,
        metadata=doc("recency half-life of a place's activity", min=1, max=DAYS_MAX))
    top_n: int = field(default=20, metadata=doc("places listed in the pack", min=0))


@dataclass(frozen=True)
class AgencySettings:
    """One agency's pack (``[partner.agencies.<name>]``): its own allow-list and, optionally, only its people."""

    name: str = field(default="", metadata=doc("the table's name: the pack's folder partner/<name>/ (not a key)"))
    label: str = field(default="", metadata=doc("the agency's name as its pack shows it (default: the table name)"))
    fields: tuple[str, ...] = field(default=(), metadata=doc(
        "this agency's allow-list, from the partner fields (default: [partner] fields)"))
    areas: tuple[str, ...] = field(default=(), metadata=doc(
        "only the people it works with: cohort members and removed people whose area is one of these, and the "
        "periphery linked to those cohort members; empty: everyone in the partnership's pack"))

    @property
    def title(self) -> str:
        return self.label or self.name


LINK_TYPES = ("co_offending", "at_risk", "other")
AGENCY_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")


@dataclass(frozen=True)
class PartnerSettings:
    fields: tuple[str, ...] = field(
        default=("pseudonym", "age", "sex", "area", "rag", "vulnerability_band", "rationale", "movement",
                 "peer_group", "decision"),
        metadata=doc("the only columns partner outputs may carry (an allow-list)"))
    key_variable: str = field(default="HKC_PSEUDONYM_KEY",
                              metadata=doc("environment variable holding the pseudonymisation secret"))
    show_unproven: bool = field(default=False, metadata=doc(
        "show allegations that are not proven (outcome nfa, pending or none recorded) in partner rationales; "
        "false: they are left out and the rationale says how many were not shown"))
    link_types: tuple[str, ...] = field(default=("co_offending", "at_risk"), metadata=doc(
        "which periphery links partners see: `co_offending` (co-offender or co-suspect with a cohort member), "
        "`at_risk` (linked only as a victim or witness: the safeguarding section), `other` (co-involved in other "
        "roles)"))
    meeting_pack: bool = field(default=True, metadata=doc(
        "write the whole partnership's pack (partner/cohort.*); false: only the agencies' own packs"))
    agencies: tuple[AgencySettings, ...] = field(default=(), metadata=doc(
        "one pack per agency, each a separate disclosure (partner/<name>/cohort.*): a "
        "[partner.agencies.<name>] table per agency with `label`, `fields` and `areas`"))


@dataclass(frozen=True)
class InterventionSettings:
    types: tuple[str, ...] = field(
        default=("one_to_one", "detached_outreach", "peer_group", "family_support", "education", "disruption"),
        metadata=doc("the intervention types an interventions file or decision may name (lower case codes)"))
    engagement: tuple[str, ...] = field(
        default=("engaged", "partial", "declined", "not_reached"),
        metadata=doc("how a person engaged with an intervention (lower case codes)"))


@dataclass(frozen=True)
class ConsultationSettings:
    purposes: tuple[str, ...] = field(
        default=("case review", "meeting preparation", "subject access request", "challenge or correction",
                 "data quality check", "audit"),
        metadata=doc("why a person's record may be consulted: `hkc explain` and `hkc sar` require one of these as "
                      "--purpose, and the consultation log keeps it"))


@dataclass(frozen=True)
class RetentionSettings:
    days: int = field(default=730, metadata=doc("runs and person-level history older than this are purged by "
                                                 "`hkc purge`", min=1, max=DAYS_MAX))


@dataclass(frozen=True)
class ModelSettings:
    enabled: bool = field(default=False,
        metadata=doc("add the registered champion model's probability to refreshes"))
    registered_name: str = field(default="hkc-knife-involvement",
                                 metadata=doc("MLflow registered model name; the alias `champion` is used"))
    spec: str = field(default="logistic",
        metadata=doc("model specification in models/<spec>.toml used by `hkc train`"))


@dataclass(frozen=True)
class Settings:
    """The effective run settings (``config/hkc.toml``)."""

    data: DataSettings = field(default_factory=DataSettings, metadata=doc("where extracts are"))
    database: DatabaseSettings = field(default_factory=DatabaseSettings, metadata=doc("history store"))
    eligibility: EligibilitySettings = field(
        default_factory=EligibilitySettings, metadata=doc("who can be listed")
    )
    cohort: CohortSettings = field(default_factory=CohortSettings, metadata=doc("how many are listed"))
    rag: RagSettings = field(default_factory=RagSettings, metadata=doc("red/amber/green bands"))
    vulnerability: VulnerabilitySettings = field(
        default_factory=VulnerabilitySettings, metadata=doc("vulnerability bands")
    )
    outputs: OutputSettings = field(default_factory=OutputSettings, metadata=doc("output options"))
    outcome: OutcomeSettings = field(default_factory=OutcomeSettings,
                                     metadata=doc("what 'went on to be involved' means"))
    tracking: TrackingSettings = field(default_factory=TrackingSettings, metadata=doc("experiment tracking"))
    peers: PeerSettings = field(default_factory=PeerSettings, metadata=doc("peer mapping and the periphery"))
    places: PlaceSettings = field(default_factory=PlaceSettings, metadata=doc("places for contextual safeguarding"))
    partner: PartnerSettings = field(default_factory=PartnerSettings, metadata=doc("the partner pack"))
    retention: RetentionSettings = field(default_factory=RetentionSettings, metadata=doc("how long history is kept"))
    interventions: InterventionSettings = field(default_factory=InterventionSettings,
                                                metadata=doc("what the partnership records it did"))
    consultation: ConsultationSettings = field(default_factory=ConsultationSettings,
                                               metadata=doc("why a person's record may be consulted"))
    model: ModelSettings = field(default_factory=ModelSettings, metadata=doc("the optional calibrated model"))
    path: Path | None = field(default=None, compare=False, metadata=doc("file loaded (not a key)"))
    sha256: str = field(default="", compare=False, metadata=doc("hash of the file (not a key)"))


def load_settings(path: Path) -> Settings:
    """Load ``config/hkc.toml`` into :class:`Settings`, rejecting unknown keys and bad values."""
    data, digest = read_toml(path)
    sections = {f.name: f for f in dataclasses.fields(Settings) if f.name not in ("path", "sha256")}
    built: dict[str, Any] = {}
    for name, table in data.items():
        if name not in sections:
            raise unknown_key(name, sorted(sections), path, "top level")
        table = _table(table, path, name)
        fixed = {}
        if name == "partner":
            table, fixed["agencies"] = _agencies(table, path)
        built[name] = build_section(sections[name].default_factory, table, path, name, **fixed)
    settings = Settings(**built, path=path, sha256=digest)
    e = settings.eligibility
    if e.min_age > e.max_age:
        raise ConfigError(f"{path} [eligibility]: min_age {e.min_age} is above max_age {e.max_age}",
                          file=str(path), key="min_age")
    _check_grades(e, path)
    bad = [o for o in e.non_qualifying_outcomes if o not in OUTCOMES]
    if bad:
        problem = _not_in(bad[0], OUTCOMES, "outcome")
        raise ConfigError(one_line(f"{path} [eligibility] non_qualifying_outcomes: {problem}"),
                          file=str(path), key="non_qualifying_outcomes")
    if settings.rag.amber > settings.rag.red:
        raise ConfigError(f"{path} [rag]: amber {settings.rag.amber} is above red {settings.rag.red}",
                          file=str(path), key="amber")
    if settings.rag.red_share + settings.rag.amber_share > 1:
        raise ConfigError(f"{path} [rag]: red_share + amber_share must not exceed 1", file=str(path),
                          key="amber_share")
    bad_roles = [r for r in settings.outcome.roles if r not in ROLES]
    if bad_roles:
        raise ConfigError(one_line(f"{path} [outcome] roles: {_not_in(bad_roles[0], ROLES, 'role')}"),
                          file=str(path), key="roles")
    bad_links = [t for t in settings.partner.link_types if t not in LINK_TYPES]
    if bad_links:
        raise ConfigError(one_line(f"{path} [partner] link_types: unknown link type '{bad_links[0]}'"
                                   f"{did_you_mean(bad_links[0], LINK_TYPES)}; known: {', '.join(LINK_TYPES)}"),
                          file=str(path), key="link_types")
    if settings.vulnerability.medium > settings.vulnerability.high:
        raise ConfigError(f"{path} [vulnerability]: medium is above high", file=str(path), key="medium")
    return settings


def _agencies(table: dict[str, Any], path: Path) -> tuple[dict[str, Any], tuple[AgencySettings, ...]]:
    """``[partner]`` without its ``agencies`` table, and one :class:`AgencySettings` per ``[partner.agencies.<name>]``."""
    table = dict(table)
    agencies = _table(table.pop("agencies", {}), path, "partner.agencies")
    out = []
    for name, spec in agencies.items():
        if not AGENCY_NAME.fullmatch(name) or name == "audit":
            raise ConfigError(one_line(f"{path} [partner.agencies.{name}]: an agency's name is its pack's folder: "
                                       f"lower-case letters, digits, '_' or '-', at most 40, not 'audit'"),
                              file=str(path), key=name)
        section = f"partner.agencies.{name}"
        out.append(build_section(AgencySettings, _table(spec, path, section), path, section, name=name))
    return table, tuple(out)


def _check_grades(e: EligibilitySettings, path: Path) -> None:
    """``usable_grade`` and ``credible_grade`` are grades, no weaker than D3, credible no weaker than usable."""
    def bad(key: str, problem: str) -> ConfigError:
        value = getattr(e, key)
        return ConfigError(one_line(BAD_VALUE.format(file=path, section="eligibility", key=key, value=_Shown(value),
                                                     problem=problem)), file=str(path), key=key)

    for key in ("usable_grade", "credible_grade"):
        value = getattr(e, key)
        if len(value) != 2 or value[0] not in "ABCDE" or value[1] not in "12345":
            raise bad(key, GRADE_PROBLEMS["format"])
        if value[0] == "E" or value[1] in "45":
            raise bad(key, GRADE_PROBLEMS["never"])
    if e.credible_grade[0] > e.usable_grade[0] or e.credible_grade[1] > e.usable_grade[1]:
        raise bad("credible_grade", GRADE_PROBLEMS["order"].format(usable=e.usable_grade))
