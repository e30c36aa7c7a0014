"""Synthetic forces: realistic extracts with known ground truth, for tests, backtests and demos.

>>> from hkc.synth import generate_force, write_force                       # doctest: +SKIP
>>> force = generate_force(people=20_000, seed=1, until=dt.date(2026, 9, 30),
...                        catalogue=defs.catalogue)                        # doctest: +SKIP
>>> write_force(force, Path("demo-extract"), fmt="parquet")                 # doctest: +SKIP

The model, in short (each part is a module; every constant is named in it):

* :mod:`~hkc.synth.people` — **people** of an English county (districts, ages 10-30, sex,
  census ethnicity mix, officer-defined codes, care flags), the census ``population`` and each
  person's **latent propensities**: a heavy-tailed risk propensity, a correlated vulnerability
  propensity and a weapon affinity, drifting quarter by quarter so that past involvement
  predicts future involvement, noisily.
* :mod:`~hkc.synth.profiles` and :mod:`~hkc.synth.rates` — for every catalogue type, its share of
  events, age curve, sources and roles, and each person's expected events per quarter, capped so
  that even the most prolific person's record stays plausible.
* :mod:`~hkc.synth.network` — **peer groups** sharing occurrences at their hotspots, Zipf-weighted
  **places** within each district, and **victims** linked to incidents by a shared occurrence.
* :mod:`~hkc.synth.events` — quarterly Poisson draws, roles, outcomes, intelligence grades,
  sources and places; one first-contact event for anyone who would otherwise have none.
* ``intel_bias`` multiplies the recording rate of intelligence reports (``intelligence = true``
  types) for people of the given ethnicities; every other event keeps its person, date, type,
  role, source, outcome, occurrence and location (only ``event_id`` numbers shift).
* :mod:`~hkc.synth.faults` — ``dirty`` injects one row-level fault into about that fraction of
  the rows of ``people`` and ``events`` (:data:`PEOPLE_FAULT_RULES`, :data:`EVENT_FAULT_RULES`)
  and records each in ``faults``; benign noise must be accepted.  An in-place fault in a
  ``people`` row quarantines that person, so all of that person's events are rejected with
  ``person_rejected`` (:func:`expected_rejects` adds that cascade).
* :mod:`~hkc.synth.writing` — CSV (a dirty force's with a UTF-8 BOM and CRLF) or Parquet, each
  file written atomically; :func:`faults_for` renumbers the faults for a format.

A force that **lives through quarters** (``hkc synth --quarters 2024Q1..2026Q3``):
:func:`generate_quarters` simulates one history and :func:`write_quarters` writes one extract per
quarter end, each holding only what had been recorded by its date — late records, outcomes that
progress, people who appear, age out and move, and re-keyed or merged records with an ``aliases``
file — and the ground truth of all of it under ``_truth/``:

* :mod:`~hkc.synth.timeline` — recording delays, outcome paths, moves and id changes;
* :mod:`~hkc.synth.quarters` — the force and each quarter's extract cut from it;
* :mod:`~hkc.synth.quarter_truth` — the truth tables (late records, outcome changes, id changes, ...);
* :mod:`~hkc.synth.effect` — with ``--effect F``, a programme of known effect: after each extract
  is written the matrix (an injected ``lister``) lists, the meeting adopts, and the adopted
  people's later knife offending is thinned by ``F`` before the next extract is cut; the truth
  names who was treated and every removed event, and ``interventions.csv`` records the adoptions.

Everything is vectorised numpy/pyarrow and deterministic for a seed: each component draws from
its own stream ``numpy.random.default_rng([seed, crc32(stream)])``.
"""

from hkc.synth.dates import last_quarter_end, parse_quarters
from hkc.synth.effect import ADOPT_RATE, EFFECT_MONTHS, Effect, Lister, outcome_counts, true_effect
from hkc.synth.faults import EVENT_FAULT_RULES, PEOPLE_FAULT_RULES
from hkc.synth.force import SyntheticForce, generate_force
from hkc.synth.people import AGE_BANDS, AREAS, ETHNIC_MIX
from hkc.synth.quarters import ALIAS_COLUMNS, QuarterExtract, QuarterlyForce, generate_quarters
from hkc.synth.timeline import LATE_SHARE, REKEY_SHARE, UNANNOUNCED_SHARE
from hkc.synth.writing import expected_rejects, extract_folder, faults_for, write_force, write_quarters

__all__ = [
    "SyntheticForce",
    "generate_force",
    "write_force",
    "QuarterlyForce",
    "Effect",
    "Lister",
    "ADOPT_RATE",
    "EFFECT_MONTHS",
    "true_effect",
    "outcome_counts",
    "QuarterExtract",
    "generate_quarters",
    "write_quarters",
    "parse_quarters",
    "extract_folder",
    "ALIAS_COLUMNS",
    "LATE_SHARE",
    "REKEY_SHARE",
    "UNANNOUNCED_SHARE",
    "last_quarter_end",
    "faults_for",
    "expected_rejects",
    "AREAS",
    "ETHNIC_MIX",
    "AGE_BANDS",
    "PEOPLE_FAULT_RULES",
    "EVENT_FAULT_RULES",
]
