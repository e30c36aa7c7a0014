"""A small factory for hand-made extracts: name people and events, get a folder back."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]

PEOPLE_COLUMNS = ["person_id", "date_of_birth", "sex", "ethnicity", "officer_ethnicity", "area", "in_care",
                  "open_to_social_care"]
EVENT_COLUMNS = ["event_id", "person_id", "date", "type", "role", "source", "outcome", "grade", "occurrence_id",
                 "location_id"]
DEFAULT_ROLE = {"knife_intel": "subject", "search_weapon_found": "subject", "knife_victim": "victim",
                "missing_episode": "subject", "exclusion": "subject", "exploitation_concern": "subject",
                "ae_assault": "victim"}
DEFAULT_SOURCE = {"exclusion": "education", "ae_assault": "health", "exploitation_concern": "social_care"}


@dataclass
class ExtractBuilder:
    """``b.person("P1", age=16); b.event("P1", "knife_possession", days_ago=30, outcome="convicted")``."""

    as_of: dt.date
    people: list[dict] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def person(self, person_id: str, *, age: int = 16, sex: str = "M", ethnicity: str = "White",
               area: str = "North", **extra) -> ExtractBuilder:
        dob = dt.date(self.as_of.year - age, 1, 1)
        if dob.replace(year=dob.year + age) > self.as_of:
            dob = dob.replace(year=dob.year - 1)
        self.people.append({"person_id": person_id, "date_of_birth": dob.isoformat(), "sex": sex,
                            "ethnicity": ethnicity, "area": area, **extra})
        return self

    def event(self, person_id: str, type_: str, *, days_ago: int = 30, role: str | None = None,
              outcome: str = "", grade: str = "", occurrence_id: str = "", location_id: str = "",
              event_id: str | None = None, source: str | None = None) -> ExtractBuilder:
        self.events.append({
            "event_id": event_id or f"E{next(self._ids)}", "person_id": person_id,
            "date": (self.as_of - dt.timedelta(days=days_ago)).isoformat(), "type": type_,
            "role": role or DEFAULT_ROLE.get(type_, "offender"),
            "source": source or DEFAULT_SOURCE.get(type_, "police"), "outcome": outcome, "grade": grade,
            "occurrence_id": occurrence_id, "location_id": location_id,
        })
        return self

    def frames(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        people = pd.DataFrame(self.people).reindex(columns=PEOPLE_COLUMNS).astype(object).fillna("")
        events = pd.DataFrame(self.events).reindex(columns=EVENT_COLUMNS).astype(object).fillna("")
        return people, events

    def write(self, folder: Path, *, fmt: str = "csv") -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        people, events = self.frames()
        if fmt == "csv":
            people.to_csv(folder / "people.csv", index=False)
            events.to_csv(folder / "events.csv", index=False)
        else:
            people.to_parquet(folder / "people.parquet", index=False)
            events.to_parquet(folder / "events.parquet", index=False)
        return folder


def offline_definitions(**cwd):
    """The repository's definitions with MLflow tracking switched off (fast, nothing written)."""
    from hkc.definitions.deployment import load_definitions

    defs = load_definitions(cwd=Path(__file__).resolve().parents[1], **cwd)
    settings = dataclasses.replace(defs.settings,
                                   tracking=dataclasses.replace(defs.settings.tracking, enabled=False))
    return dataclasses.replace(defs, settings=settings)


def quick_deployment(root: Path, *, people: int, seed: int, until: dt.date) -> tuple[Path, Path]:
    """A deployment folder (MLflow off, 200 bootstrap resamples) and a synthetic extract beside it,
    for tests that run `hkc refresh` in other processes: returns (settings file, extract folder)."""
    from hkc.definitions.deployment import init_deployment, load_definitions
    from hkc.synth import generate_force, write_force

    init_deployment(root / "force")
    config = root / "force" / "config" / "hkc.toml"
    config.write_text(config.read_text().replace("enabled = true", "enabled = false"))
    spec = root / "force" / "audits" / "fairness.toml"
    spec.write_text(spec.read_text().replace("resamples = 1000", "resamples = 200"))
    force = generate_force(people=people, seed=seed, until=until, catalogue=load_definitions(config=config).catalogue)
    write_force(force, root / "data")
    return config, root / "data"


def quick_model_spec(definitions, name: str = "logistic"):
    """A packaged model spec with 200 bootstrap resamples (the backtest and registry tests)."""
    from hkc.definitions.model_spec import load_model_spec

    spec = load_model_spec(name, definitions=definitions)
    return dataclasses.replace(spec, evaluation=dataclasses.replace(spec.evaluation, resamples=200))


def synthetic_extract(folder: Path, definitions, *, people: int, seed: int, until: dt.date):
    """A synthetic force written as Parquet to ``folder`` and loaded back as an Extract."""
    from hkc.extract.load import load_extract
    from hkc.synth import generate_force, write_force

    write_force(generate_force(people=people, seed=seed, until=until, catalogue=definitions.catalogue), folder,
                fmt="parquet")
    return load_extract(folder, catalogue=definitions.catalogue, extract_date=until)
