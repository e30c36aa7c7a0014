"""``hkc demo``: a synthetic force through the whole pipeline, two quarters running."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path

from hkc.dates import previous_quarter_end
from hkc.definitions import load_definitions
from hkc.refresh import run_refresh
from hkc.synth import generate_force, write_force

__all__ = ["run_demo"]



def run_demo(out: Path, *, people: int = 20000, seed: int = 7, today: dt.date | None = None,
             progress: Callable[[str], None] | None = None) -> Iterator[str]:
    """Generate ``out/extract``, refresh the last two quarter ends into ``out/<date>``; yield a report."""
    say = progress or (lambda _m: None)
    out = Path(out).resolve()
    definitions = load_definitions()
    tracking = dataclasses.replace(definitions.settings.tracking, uri=f"sqlite:///{out / 'mlflow.db'}")
    definitions = dataclasses.replace(definitions, settings=dataclasses.replace(definitions.settings,
                                                                                tracking=tracking))
    latest = previous_quarter_end(today or dt.date.today())
    earlier = previous_quarter_end(latest)
    say(f"generating a synthetic force of {people:,} people (seed {seed}) up to {latest}")
    force = generate_force(people=people, seed=seed, until=latest, catalogue=definitions.catalogue)
    extract = out / "extract"
    write_force(force, extract)
    db_url = f"sqlite:///{out / 'history.db'}"
    results = []
    for as_of in (earlier, latest):
        say(f"refresh as of {as_of}")
        results.append(run_refresh(extract, as_of=as_of, out=out / as_of.isoformat(), definitions=definitions,
                                   db_url=db_url, extract_date=latest, progress=say, partner_pack="yes",
                                   demo_key=True, by="hkc demo"))
    first, second = results
    moved = second.members["movement"].value_counts()
    yield f"synthetic extract: {extract} ({len(force.people):,} people, {len(force.events):,} events)"
    yield (f"quarter {earlier}: {first.manifest['cohort_size']} listed of {first.manifest['eligible']:,} eligible")
    yield (f"quarter {latest}: {second.manifest['cohort_size']} listed; new {moved.get('new', 0)}, "
           f"up {moved.get('up', 0)}, down {moved.get('down', 0)}, no change {moved.get('same', 0)}; "
           f"removed {len(second.removed)}; periphery {second.manifest['periphery']}, "
           f"peer groups {second.manifest['peer_groups']}, places {second.manifest['places']}; "
           f"fairness audit {second.manifest['audit']['summary'] or 'no flags'}")
    yield ""
    yield f"open first: {out / latest.isoformat() / 'cohort.html'}  (the meeting pack)"
    yield f"then:       {out / latest.isoformat() / 'cohort.csv'} (police view), periphery.csv, peer_groups.csv, "
    yield "            places.csv, removed.csv, run.json, audit/audit.html (the fairness audit)"
    yield (f"partners:   {out / latest.isoformat() / 'partner' / 'cohort.html'} — pseudonymised with the DEMO KEY, "
           f"not for real data; real runs need HKC_PSEUDONYM_KEY")
    yield f"tracking:   mlflow ui --backend-store-uri sqlite:///{out / 'mlflow.db'}"
    yield f"history:    hkc history --db {db_url}"
    yield f"            hkc movement --from {earlier} --to {latest} --db {db_url}"
    yield f"records:    hkc transparency --db {db_url}   (and hkc dpia: the impact assessment draft)"
    yield f"backtest:   hkc backtest {extract} --as-of {latest} --extract-date {latest} --out {out / 'backtest'}"
    top = second.members["person_id"].iloc[0] if len(second.members) else None
    if top is not None:
        yield f"            hkc explain {top} --purpose 'case review' --db {db_url}"
