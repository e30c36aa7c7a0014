"""The ``hkc`` command line: a thin client of the library.

Each command parses its options, calls one library function and renders the result.  One
vocabulary: the options every command shares (``--db``, ``--config``, ``--extract-date``, ``--out``,
``--json``) are declared once below, and every date option takes ``YYYY-MM-DD`` or a quarter
(``2026Q3``, its last day).  One error style: a usage error (a missing option, a bad date, an
unknown option or command) and an error a user can fix (:class:`hkc.errors.HkcError`) both print
one line ``error: …`` and exit with code 2 (``--debug`` shows an HkcError's traceback instead).

The library is imported inside each command, so ``--help`` and usage errors answer at once
instead of after the seconds it takes to load pandas, scikit-learn and MLflow.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import sys
from pathlib import Path
from typing import Any

import click

from hkc import __version__
from hkc.commandline import (
    HkcGroup,
    config_option,
    date_option,
    db_option,
    extract_date_option,
    json_option,
    out_file_option,
    out_folder_option,
    pairs,
    progress,
    run_option,
)

# -- helpers shared by the commands ----------------------------------------------------------------

def _definitions(config: Path | None):
    from hkc.definitions import load_definitions

    defs = load_definitions(config=config)
    click.echo(defs.describe(), err=True)
    return defs


def _db_url(db: str | None, defs) -> str:
    return db or defs.database_url()


def _store(db: str | None, config: Path | None):
    from hkc.history import open_store

    return open_store(_db_url(db, _definitions(config)), create=False)


def _emit(text: str, out: Path | None, what: str) -> None:
    """A text answer to standard output, or atomically to ``out`` (saying where it went)."""
    from hkc.outputs import write_text_atomic

    if out is None:
        click.echo(text, nl=not text.endswith("\n"))
    else:
        write_text_atomic(text, out)
        click.echo(f"{what} written to {out}")


def _json(data: Any) -> None:
    from hkc.outputs import json_text

    click.echo(json_text(data), nl=False)


# -- the commands ----------------------------------------------------------------------------------

@click.group(name="hkc", cls=HkcGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="hkc")
@click.option("--debug", is_flag=True, help="Show full tracebacks instead of one-line errors.")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """hkc: the quarterly habitual-knife-carrier matrix — transparent scores, evidenced cohorts."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


@main.command()
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False))
def init(directory: Path) -> None:
    """Create a deployment folder with editable copies of the definitions."""
    from hkc.definitions import init_deployment

    for path in init_deployment(directory):
        click.echo(f"wrote {path}/")
    click.echo(f"Edit them, then run hkc from {directory} (or pass --config {directory}/config/hkc.toml).")


@main.command()
@click.argument("data_dir", type=click.Path(path_type=Path))
@out_folder_option(required=False, help="Write OUT/rejects.csv here (new, empty, or one hkc wrote).")
@extract_date_option
@date_option("--as-of", help="Check that the extract supports a score as of this date (default: --extract-date, "
             "else the last quarter end)")
@config_option
def validate(data_dir: Path, out: Path | None, extract_date: dt.date | None, as_of: dt.date | None,
             config: Path | None) -> None:
    """Check an extract against the input contract and quarantine bad rows; say whether it can support a score."""
    from hkc.dates import quarter_end
    from hkc.extract import check_capacity, coverage_problems, load_extract, probe_extract
    from hkc.outputs import prepare_output_folder, replace_atomically, write_csv
    from hkc.report_text import validation_summary

    defs = _definitions(config)
    folder = prepare_output_folder(out, inputs=[data_dir]) if out is not None else None
    probe_extract(data_dir, catalogue=defs.catalogue, extract_date=extract_date)  # garbage first
    progress(check_capacity(data_dir).describe())  # loading is most of a refresh's memory: same check
    extract = load_extract(data_dir, catalogue=defs.catalogue, extract_date=extract_date, progress=progress)
    click.echo(validation_summary(extract))
    as_of = as_of or extract_date or quarter_end(dt.date.today())
    problems, notes = coverage_problems(extract.events, as_of=as_of, catalogue=defs.catalogue, settings=defs.settings.data)
    for line in notes + [f"as of {as_of}: {p.message}" for p in problems] or [
            f"as of {as_of}: the extract covers the history the score needs and is not stale"]:
        click.echo(line)
    if folder is not None:
        replace_atomically(folder / "rejects.csv", lambda tmp: write_csv(extract.rejects, tmp))
        click.echo(f"rejects written to {out / 'rejects.csv'}")


def _quarters(ctx: click.Context, param: click.Parameter, value: str | None) -> list[dt.date] | None:
    from hkc.synth.dates import parse_quarters

    try:
        return None if value is None else parse_quarters(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _synth_effect(defs: Any, size: float, months: int | None, adopt_rate: float | None) -> Any:
    """The synthetic programme of ``hkc synth --effect``: its lister scores each quarter's extract with the
    matrix and lists by the configured cohort rule (synth may not import the matrix, so it is handed one)."""
    from hkc.extract import load_extract
    from hkc.matrix import score_people, select_cohort
    from hkc.synth import ADOPT_RATE, EFFECT_MONTHS, Effect

    s = defs.settings

    def lister(folder: Path, date: dt.date) -> list[str]:
        extract = load_extract(folder, catalogue=defs.catalogue, extract_date=date)
        scored = score_people(extract.people, extract.events, catalogue=defs.catalogue, eligibility=s.eligibility,
                              as_of=date)
        return select_cohort(scored.scores, cohort=s.cohort, rag=s.rag).members["person_id"].tolist()

    return Effect(size=size, lister=lister, outcome_types=tuple(s.outcome.types), outcome_roles=tuple(s.outcome.roles),
                  months=EFFECT_MONTHS if months is None else months,
                  adopt_rate=ADOPT_RATE if adopt_rate is None else adopt_rate,
                  intervention_types=tuple(s.interventions.types))


@main.command()
@out_folder_option(required=True, help="Folder to write the extract into (new, empty, or one hkc wrote); with "
                   "--quarters, one extract folder per quarter end (OUT/2024-03-31/, ...) and the truth in OUT/_truth/.")
@click.option("--people", default=5000, show_default=True, type=click.IntRange(min=10),
              help="People to generate (with --quarters: people aged 10-30 at the last quarter end, about 90% of "
                   "whom are known by then and in its extract).")
@click.option("--seed", default=0, show_default=True, type=int, help="Random seed (same seed, same files).")
@date_option("--until", help="Last event date (default: end of the last complete quarter)")
@click.option("--quarters", metavar="FIRST..LAST", callback=_quarters,
              help="Write one extract per quarter end, e.g. 2024Q1..2026Q3, each holding what was recorded by then "
                   "(late records, outcomes that progress, people who appear, age out and move, re-keyed ids).")
@click.option("--late-share", type=click.FloatRange(0, 1), default=None,
              help="With --quarters: share of events recorded 1-6 months late  [default: 0.08]")
@click.option("--rekey-share", type=click.FloatRange(0, 1), default=None,
              help="With --quarters: share of the people in an extract whose id is re-keyed or merged each quarter  "
                   "[default: 0.002]")
@click.option("--unannounced-share", type=click.FloatRange(0, 1), default=None,
              help="With --quarters: share of id changes left out of the extracts' aliases file  [default: 0.2]")
@click.option("--dirty", default=0.0, show_default=True, type=click.FloatRange(0, 0.5),
              help="Fraction of rows given a realistic fault to quarantine.")
@click.option("--intel-bias", multiple=True, metavar="GROUP=FACTOR", callback=pairs("Black=2", float),
              help="Multiply the recording of intelligence on an ethnic group, e.g. Black=2.")
@click.option("--format", "fmt", type=click.Choice(["csv", "parquet"]), default="csv", show_default=True)
@click.option("--effect", type=click.FloatRange(0, 1), default=None, metavar="F",
              help="With --quarters: at each quarter end the matrix lists on the extract just written, the meeting "
                   "adopts, and each adopted person's later knife offending ([outcome]) is cut by this share for "
                   "--effect-months; 0 is the null (same meetings, nothing removed).  Writes OUT/interventions.csv "
                   "and the truth of who was treated and which events were removed.")
@click.option("--effect-months", type=click.IntRange(1, 120), default=None, metavar="M",
              help="With --effect: months the effect lasts after each adoption  [default: 12]")
@click.option("--adopt-rate", type=click.FloatRange(0, 1), default=None, metavar="R",
              help="With --effect: chance that the meeting adopts a listed person  [default: 0.7]")
def synth(out: Path, people: int, seed: int, until: dt.date | None, quarters: list[dt.date] | None,
          late_share: float | None, rekey_share: float | None, unannounced_share: float | None, dirty: float,
          intel_bias: dict[str, float], fmt: str, effect: float | None, effect_months: int | None,
          adopt_rate: float | None) -> None:
    """Write a synthetic force's extract, or one extract per quarter (for demos, tests and benchmarks)."""
    shares = {"late_share": late_share, "rekey_share": rekey_share, "unannounced_share": unannounced_share}
    if effect is None and (effect_months is not None or adopt_rate is not None):
        raise click.UsageError(f"{'--effect-months' if effect_months is not None else '--adopt-rate'} works only "
                               "with --effect")
    if quarters is None:
        given = [f"--{name.replace('_', '-')}" for name, value in shares.items() if value is not None]
        given += ["--effect"] if effect is not None else []
        if given:
            raise click.UsageError(f"{given[0]} works only with --quarters")
    elif until is not None:
        raise click.UsageError("--until and --quarters cannot be used together: with --quarters the last quarter "
                               "end is the last event date")
    from hkc.definitions import load_definitions
    from hkc.outputs import prepare_output_folder
    from hkc.synth import generate_force, generate_quarters, last_quarter_end, write_force, write_quarters

    defs = load_definitions()
    catalogue = defs.catalogue
    prepare_output_folder(out)
    if quarters is not None:
        chosen = {name: value for name, value in shares.items() if value is not None}
        if effect is not None:
            chosen["effect"] = _synth_effect(defs, effect, effect_months, adopt_rate)
        try:
            force = generate_quarters(people=people, seed=seed, quarters=quarters, dirty=dirty,
                                      intel_bias=intel_bias, catalogue=catalogue, **chosen)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--intel-bias") from None
        paths = write_quarters(force, out, fmt=fmt, progress=progress)
        span = f"{len(quarters)} quarters ({quarters[0]} to {quarters[-1]})" if len(quarters) > 1 else f"1 quarter ({quarters[0]})"
        click.echo(f"synthetic force through {span}, seed {seed}: "
                   f"one extract per quarter end in {out}/, ground truth in {out / '_truth'}/ ({len(paths)} files)")
        if force.treatment is not None:
            adopted = int(sum(frame["adopted"].sum() for frame in force.treatment.listings))
            click.echo(f"a programme with a known effect: {effect:.0%} of each adopted person's knife offending "
                       f"removed for {force.treatment.effect.months} months after adoption; {adopted:,} adoptions, "
                       f"{int(force.treatment.removed.sum()):,} true knife events removed; interventions in "
                       f"{out / 'interventions.csv'}, who was treated in {out / '_truth' / 'treatment.csv'}")
        return
    end = until or last_quarter_end(dt.date.today())
    try:
        force = generate_force(people=people, seed=seed, until=end, dirty=dirty, intel_bias=intel_bias,
                               catalogue=catalogue)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--intel-bias") from None
    files = write_force(force, out, fmt=fmt)
    click.echo(f"synthetic force: {len(force.people):,} people, {len(force.events):,} events up to {end}, "
               f"seed {seed}" + (f", {len(force.faults):,} injected faults" if dirty else ""))
    for path in files.values():
        click.echo(f"  {path}")


@main.command()
@click.argument("data_dir", type=click.Path(path_type=Path))
@date_option("--as-of", required=True, help="Score with events on or before this date")
@out_folder_option(required=True)
@db_option
@extract_date_option
@click.option("--partner-pack/--no-partner-pack", default=None,
              help="Require (or skip) the pseudonymised partner pack; by default it is written when "
                   "HKC_PSEUDONYM_KEY is set.")
@click.option("--by", "by", help="Who runs this refresh, for the disclosure log (default: your login name).")
@click.option("--accept-short-history", is_flag=True,
              help="Accept an extract that starts later than the longest lookback before --as-of (recorded in run.json).")
@click.option("--accept-stale", is_flag=True,
              help="Accept an --as-of date long after the extract's latest event (recorded in run.json).")
@click.option("--accept-shrink", is_flag=True,
              help="Accept people or events falling sharply since the previous run (recorded in run.json).")
@config_option
def refresh(data_dir: Path, as_of: dt.date, out: Path, db: str | None, extract_date: dt.date | None,
            partner_pack: bool | None, by: str | None, accept_short_history: bool, accept_stale: bool,
            accept_shrink: bool, config: Path | None) -> None:
    """Run the quarterly refresh: validate, score, rank, write the packs, store history."""
    from hkc.refresh import run_refresh
    from hkc.report_text import refresh_summary

    defs = _definitions(config)
    mode = "auto" if partner_pack is None else "yes" if partner_pack else "no"
    accept = {name for name, on in (("short_history", accept_short_history), ("stale", accept_stale),
                                    ("shrunk", accept_shrink)) if on}
    result = run_refresh(data_dir, as_of=as_of, out=out, definitions=defs, db_url=db, extract_date=extract_date,
                         progress=progress, partner_pack=mode, by=by, accept=frozenset(accept))
    click.echo(refresh_summary(result, preview=defs.settings.outputs.preview_rows))


@main.command()
@db_option
@config_option
@json_option
def history(db: str | None, config: Path | None, as_json: bool) -> None:
    """List the refreshes stored in the history database."""
    from hkc.report_text import history_table

    store = _store(db, config)
    stored = store.list_runs()
    if as_json:
        _json({"database": store.url, "runs": [dataclasses.asdict(r) for r in stored]})
    else:
        click.echo(history_table(stored))


@main.command(name="movement")
@date_option("--from", "from_", required=True, help="The earlier run's as-of date")
@date_option("--to", "to", required=True, help="The later run's as-of date")
@db_option
@config_option
@json_option
def movement_cmd(from_: dt.date, to: dt.date, db: str | None, config: Path | None, as_json: bool) -> None:
    """Entries, exits and RAG changes between two stored refreshes, each move down with its cause."""
    from hkc.history import compare_runs, open_store
    from hkc.report_text import movement_report

    defs = _definitions(config)
    change = compare_runs(open_store(_db_url(db, defs), create=False), from_, to, catalogue=defs.catalogue,
                          non_qualifying_outcomes=defs.settings.eligibility.non_qualifying_outcomes)
    if as_json:
        _json(change)
    else:
        click.echo(movement_report(change))


def _consulter(by: str | None) -> str:
    import getpass

    if by:
        return by
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name in some containers
        return "unknown"


purpose_option = click.option(
    "--purpose", help="Why you are consulting this record: one of [consultation] purposes in config (required; "
                      "logged with who, when and which person).")
consulter_option = click.option("--by", "by", help="Who is consulting the record (default: the login name).")


@main.command()
@click.argument("person_id")
@run_option
@purpose_option
@consulter_option
@db_option
@config_option
@json_option
def explain(person_id: str, run: dt.date | None, purpose: str | None, by: str | None, db: str | None,
            config: Path | None, as_json: bool) -> None:
    """Print every event behind one person's scores in a stored run (the consultation is logged)."""
    from hkc.history import (
        check_purpose,
        explain_person,
        log_consultation,
        open_store,
        person_rights,
        rights_lines,
    )
    from hkc.report_text import explanation

    defs = _definitions(config)
    purpose = check_purpose(purpose, defs.settings.consultation.purposes)
    store = open_store(_db_url(db, defs), create=False)
    stored = store.find_run(run)  # the run must exist before anything is logged or shown
    log_consultation(store, person_id=person_id, action="explain", purpose=purpose, by=_consulter(by),
                     run_as_of=stored.as_of)
    info = explain_person(store, person_id, as_of=run)
    info["rights"] = person_rights(store, person_id)
    if as_json:
        _json(info)
    else:
        click.echo(explanation(info))
        for line in rights_lines(info["rights"]):
            click.echo(line)


@main.command()
@click.option("--input", "input_", required=True, type=click.Path(path_type=Path, dir_okay=False),
              help="Scored file (CSV or Parquet), one row per person or case.")
@click.option("--score", required=True, help="Numeric score column.")
@click.option("--threshold", type=float, help="Selected means score >= THRESHOLD.")
@click.option("--selected", help="0/1 column saying who was selected (instead of --threshold).")
@click.option("--outcome", help="0/1 outcome column: adds error rates and calibration by group.")
@click.option("--by", "by", required=True, multiple=True, help="Sensitive attribute column (repeatable).")
@out_folder_option(required=True)
@click.option("--reference", multiple=True, metavar="COL=GROUP", callback=pairs("race=Caucasian"),
              help="Reference group of an attribute, e.g. race=Caucasian (default: from the spec, else the largest).")
@click.option("--spec", type=click.Path(path_type=Path, dir_okay=False),
              help="Audit specification (default: audits/fairness.toml of the definitions in use).")
@config_option
def audit(input_: Path, score: str, threshold: float | None, selected: str | None, outcome: str | None,
          by: tuple[str, ...], out: Path, reference: dict[str, str], spec: Path | None, config: Path | None) -> None:
    """Audit any scored file for disparities by group, with intervals."""
    from hkc.audit import findings, flag_summary, run_file_audit
    from hkc.definitions import load_audit_spec, refresh_audit_spec
    from hkc.outputs import prepare_output_folder

    if (threshold is None) == (selected is None):
        raise click.UsageError("give exactly one of --threshold T or --selected COL")
    audit_spec = load_audit_spec(spec) if spec else refresh_audit_spec(_definitions(config))
    prepare_output_folder(out, inputs=[input_])
    result = run_file_audit(input_, score=score, threshold=threshold, selected=selected, outcome=outcome,
                            by=list(by), out=out, spec=audit_spec, reference=reference or None)
    for sentence in findings(result):
        click.echo(f"- {sentence}")
    summary = flag_summary(result["flags"])
    click.echo(f"{summary[0].upper()}{summary[1:]} (a flag is a prompt to look, not proof of unfairness; no flag is "
               f"not proof of fairness)")
    click.echo(f"audit written to {out}: open audit.html first; audit.json holds every figure")


@main.command()
@run_option
@db_option
@click.option("--backtest", type=click.Path(path_type=Path, exists=True),
              help="backtest.json, or the folder `hkc backtest --out` wrote: the record reports its figures.")
@out_file_option("Write the record here (Markdown, or JSON with --json) instead of to standard output.")
@config_option
@json_option
def transparency(run: dt.date | None, db: str | None, backtest: Path | None, out: Path | None, force: bool,
                 config: Path | None, as_json: bool) -> None:
    """Write the algorithmic transparency record (the ATRS tiers) from the definitions, a stored run and the history."""
    from hkc.definitions import refresh_audit_spec
    from hkc.history import database_file, open_store
    from hkc.outputs import check_output_file, json_text
    from hkc.transparency import gather_facts, to_json, to_markdown, transparency_document

    defs = _definitions(config)
    url = _db_url(db, defs)
    check_output_file(out, force=force, database=database_file(url))
    doc = transparency_document(gather_facts(open_store(url, create=False), definitions=defs,
                                             audit_spec=refresh_audit_spec(defs), as_of=run, backtest=backtest))
    _emit(json_text(to_json(doc)) if as_json else to_markdown(doc), out, "transparency record")


@main.command()
@run_option
@db_option
@click.option("--backtest", type=click.Path(path_type=Path, exists=True),
              help="backtest.json, or the folder `hkc backtest --out` wrote: the assessment reports its figures.")
@out_file_option("Write the assessment here (Markdown, or JSON with --json) instead of to standard output.")
@config_option
@json_option
def dpia(run: dt.date | None, db: str | None, backtest: Path | None, out: Path | None, force: bool,
         config: Path | None, as_json: bool) -> None:
    """Draft the data protection impact assessment (DPA 2018 s.64), equality note and ALGO-CARE checklist."""
    from hkc.definitions import refresh_audit_spec
    from hkc.history import database_file, open_store
    from hkc.outputs import check_output_file, json_text
    from hkc.transparency import dpia_document, gather_facts, to_json, to_markdown

    defs = _definitions(config)
    url = _db_url(db, defs)
    check_output_file(out, force=force, database=database_file(url))
    doc = dpia_document(gather_facts(open_store(url, create=False), definitions=defs,
                                     audit_spec=refresh_audit_spec(defs), as_of=run, backtest=backtest))
    _emit(json_text(to_json(doc)) if as_json else to_markdown(doc), out, "impact assessment")


@main.command()
@click.argument("data_dir", type=click.Path(path_type=Path))
@date_option("--as-of", required=True, help="The extract's history ends here (the latest outcome date)")
@out_folder_option(required=True)
@click.option("--spec", help="Model specification: a name in models/ or a file (default: [model] spec).")
@extract_date_option
@config_option
def backtest(data_dir: Path, as_of: dt.date, out: Path, spec: str | None, extract_date: dt.date | None,
             config: Path | None) -> None:
    """Backtest the matrix, the models and simple baselines on the extract's own history."""
    from hkc.extract import load_extract
    from hkc.model import run_backtest
    from hkc.outputs import prepare_output_folder
    from hkc.report_text import backtest_summary

    defs = _definitions(config)
    prepare_output_folder(out, inputs=[data_dir])
    extract = load_extract(data_dir, catalogue=defs.catalogue, extract_date=extract_date, progress=progress)
    result = run_backtest(extract, definitions=defs, as_of=as_of, out=out, spec=spec, progress=progress)
    click.echo(backtest_summary(result))
    click.echo(f"backtest written to {out}: open backtest.html first; backtest.json holds every figure")


@main.command()
@click.argument("data_dir", type=click.Path(path_type=Path))
@date_option("--as-of", required=True, help="The extract's history ends here")
@out_folder_option(required=False, help="Write the model card here (new, empty, or one hkc wrote).")
@click.option("--spec", help="Model specification: a name in models/ or a file (default: [model] spec).")
@extract_date_option
@config_option
def train(data_dir: Path, as_of: dt.date, out: Path | None, spec: str | None, extract_date: dt.date | None,
          config: Path | None) -> None:
    """Fit, calibrate and evaluate the model; register it, as champion only if it beats the matrix."""
    from hkc.extract import load_extract
    from hkc.model import train_model
    from hkc.outputs import prepare_output_folder

    defs = _definitions(config)
    if out is not None:
        prepare_output_folder(out, inputs=[data_dir])
    extract = load_extract(data_dir, catalogue=defs.catalogue, extract_date=extract_date, progress=progress)
    result = train_model(extract, definitions=defs, as_of=as_of, out=out, spec=spec, progress=progress)
    verdict = "champion" if result["champion"] else "registered without the champion alias"
    version = result.get("registered_version")
    click.echo(f"model {result.get('registered_name')} version {version}: {verdict}" if version
               else "model not registered (tracking is disabled in config)")
    click.echo(f"reason: {result['reason']}")
    if out is not None:
        click.echo(f"model card: {out / 'model_card.md'}")


@main.group()
def decisions() -> None:
    """Decisions recorded by the partnership meeting."""


@decisions.command(name="import")
@click.argument("pack", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@date_option("--meeting-date", required=True, help="Date of the meeting that made the decisions")
@click.option("--by", "by", required=True, help="Who records the decisions (e.g. the meeting's chair).")
@db_option
@config_option
def decisions_import(pack: Path, meeting_date: dt.date, by: str, db: str | None, config: Path | None) -> None:
    """Read decisions back from a partner pack's cohort.xlsx (all rows or none)."""
    from hkc.history import open_store
    from hkc.partnership import DecisionImportError, import_decisions, partner_key

    defs = _definitions(config)
    key = partner_key(defs.settings.partner)
    try:
        report = import_decisions(open_store(_db_url(db, defs), create=False), pack, key=key,
                                  meeting_date=meeting_date, by=by, interventions=defs.settings.interventions)
    except DecisionImportError as exc:
        for problem in getattr(exc, "problems", [])[:50]:
            click.echo(f"  {problem}", err=True)
        raise
    for line in report.lines():
        click.echo(line)


@main.group()
def interventions() -> None:
    """What the partnership did: one row per intervention, read by `hkc evaluate`."""


@interventions.command(name="import")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option("--by", "by", required=True, help="Who records the interventions.")
@db_option
@config_option
def interventions_import(file: Path, by: str, db: str | None, config: Path | None) -> None:
    """Record interventions from a CSV or XLSX file (all rows or none): person_id or pseudonym, start_date,
    end_date (empty while it runs), type, lead_agency, engagement."""
    from hkc.history import open_store
    from hkc.partnership import InterventionImportError, PseudonymKeyError, import_interventions, partner_key

    defs = _definitions(config)
    try:
        key = partner_key(defs.settings.partner)
    except PseudonymKeyError:
        key = None  # needed only when the file names people by pseudonym (then the import says so)
    try:
        report = import_interventions(open_store(_db_url(db, defs), create=False), file,
                                      settings=defs.settings.interventions, by=by, key=key)
    except InterventionImportError as exc:
        for problem in exc.problems[:50]:
            click.echo(f"  {problem}", err=True)
        raise
    for line in report.lines():
        click.echo(line)


@main.group()
def referrals() -> None:
    """Partners' referrals: a child a partner asks the partnership to look at (shown in both packs, never scored)."""


@referrals.command(name="import")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option("--by", "by", required=True, help="Who records the referrals.")
@db_option
@config_option
def referrals_import(file: Path, by: str, db: str | None, config: Path | None) -> None:
    """Record partners' referrals from a CSV or XLSX file (all rows or none): agency, reason, referred_on and,
    per row, one of person_id, pseudonym or referral_ref (the partner's own reference)."""
    from hkc.history import open_store
    from hkc.partnership import PseudonymKeyError, ReferralImportError, import_referrals, partner_key

    defs = _definitions(config)
    try:
        key = partner_key(defs.settings.partner)
    except PseudonymKeyError:
        key = None  # needed only when the file names people by pseudonym (then the import says so)
    try:
        report = import_referrals(open_store(_db_url(db, defs), create=False), file, by=by,
                                  today=dt.date.today(), key=key)
    except ReferralImportError as exc:
        for problem in exc.problems[:50]:
            click.echo(f"  {problem}", err=True)
        raise
    for line in report.lines():
        click.echo(line)


@main.group(name="ids")
def ids_group() -> None:
    """Identity across extracts: follow a person whose record the source re-keyed or merged."""


@ids_group.command(name="link")
@click.argument("old_id")
@click.argument("new_id")
@click.option("--reason", required=True, help="Why the two ids are the same person (e.g. 'nominal records merged').")
@click.option("--by", "by", required=True, help="Who records the link.")
@date_option("--date", help="When the source made the change, if known")
@db_option
@config_option
@json_option
def ids_link(old_id: str, new_id: str, reason: str, by: str, date: dt.date | None, db: str | None,
             config: Path | None, as_json: bool) -> None:
    """Record that OLD_ID is now NEW_ID (a merge or re-key the extract's aliases file does not carry): movement,
    decisions, subject access and the partner pseudonym follow the person from then on."""
    from hkc.history import link_ids

    result = link_ids(_store(db, config), old_id, new_id, reason=reason, by=by, date=date)
    if as_json:
        _json(result)
        return
    if not result["stored"]:
        click.echo(f"{result['old_id']} is already linked to {result['new_id']}; nothing changed")
        return
    pseudonym = (f"their partner pseudonym stays the one made for {result['canonical']}"
                 if result["canonical"] != result["new_id"] else
                 f"their partner pseudonym is the one {result['new_id']} already had (the history held it before)")
    click.echo(f"linked {result['old_id']} to {result['new_id']}: the history follows this person as "
               f"{result['latest']} (movement, decisions, subject access); {pseudonym}")


@main.command()
@click.argument("data_dir", type=click.Path(path_type=Path))
@click.option("--cohorts", required=True, metavar="FIRST..LAST",
              help="Cohort quarters to evaluate, each a stored run: one (2025Q1) or a range (2025Q1..2025Q4).")
@click.option("--window", default=365, show_default=True, type=click.IntRange(min=1),
              help="Days before and after each cohort date in which outcomes are counted.")
@click.option("--primary", default="did_near_miss", show_default=True,
              type=click.Choice(["did_near_miss", "matched", "rd_cutoff"]), help="The design the verdict leads with.")
@out_folder_option(required=True)
@db_option
@extract_date_option
@config_option
def evaluate(data_dir: Path, cohorts: str, window: int, primary: str, out: Path, db: str | None,
             extract_date: dt.date | None, config: Path | None) -> None:
    """Did it work? The listed cohorts' outcomes in a later extract: the naive before/after beside honest designs."""
    from hkc.evaluation import parse_cohorts, run_evaluation

    defs = _definitions(config)
    result = run_evaluation(data_dir, cohorts=parse_cohorts(cohorts), window_days=window, out=out, definitions=defs,
                            db_url=_db_url(db, defs), primary=primary, extract_date=extract_date, progress=progress)
    for sentence in result["verdict"][:2]:
        click.echo(sentence)
    click.echo(f"evaluation written to {out}: open evaluation.html first; evaluation.json holds every figure")


@main.command()
@click.argument("person_id")
@purpose_option
@consulter_option
@db_option
@out_file_option("Write the answer here (Markdown, or JSON with --json) instead of to standard output.")
@config_option
@json_option
def sar(person_id: str, purpose: str | None, by: str | None, db: str | None, out: Path | None, force: bool,
        config: Path | None, as_json: bool) -> None:
    """Answer a subject-access request: lists, scores, evidence and every disclosure for one person (the
    consultation and the answer are logged)."""
    import hashlib

    from hkc.history import (
        check_purpose,
        database_file,
        log_consultation,
        open_store,
        render_subject_access,
        subject_access,
    )
    from hkc.outputs import check_output_file, json_text

    defs = _definitions(config)
    purpose = check_purpose(purpose, defs.settings.consultation.purposes)
    url = _db_url(db, defs)
    check_output_file(out, force=force, database=database_file(url))
    store = open_store(url, create=False)
    who = _consulter(by)
    log_consultation(store, person_id=person_id, action="sar", purpose=purpose, by=who)
    answer = subject_access(store, person_id)
    text = json_text(answer) if as_json else render_subject_access(answer)
    store.log_subject_answer(person_id, name=out.name if out else "subject-access answer",
                             sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(), by=who)
    _emit(text, out, "subject-access answer")


@main.group()
def person() -> None:
    """One person's rights: challenge their listing, correct a wrong event."""


def _person_done(data: dict, as_json: bool, line: str) -> None:
    if as_json:
        _json(data)
    else:
        click.echo(line)


@person.command(name="challenge")
@click.argument("person_id")
@click.option("--reason", required=True, help="What is disputed, in words.")
@click.option("--by", "by", required=True, help="Who records the challenge.")
@db_option
@config_option
@json_option
def person_challenge(person_id: str, reason: str, by: str, db: str | None, config: Path | None, as_json: bool) -> None:
    """Record a challenge to a person's listing; it stays open until `hkc person resolve` records its outcome."""
    from hkc.history import raise_challenge

    challenge_id = raise_challenge(_store(db, config), person_id, reason=reason, by=by)
    _person_done({"challenge_id": challenge_id, "person_id": person_id, "status": "open"}, as_json,
                 f"challenge {challenge_id} recorded for {person_id}: open until its outcome is recorded "
                 f"(hkc person resolve {person_id} --outcome upheld|rejected|withdrawn --note TEXT --by NAME); "
                 f"the next refresh marks the person as under challenge")


@person.command(name="resolve")
@click.argument("person_id")
@click.option("--outcome", required=True, type=click.Choice(["upheld", "rejected", "withdrawn"]))
@click.option("--note", required=True, help="Why, in words.")
@click.option("--by", "by", required=True, help="Who records the outcome.")
@db_option
@config_option
@json_option
def person_resolve(person_id: str, outcome: str, note: str, by: str, db: str | None, config: Path | None,
                   as_json: bool) -> None:
    """Record the outcome of a person's open challenge."""
    from hkc.history import resolve_challenge

    challenge_id = resolve_challenge(_store(db, config), person_id, outcome=outcome, note=note, by=by)
    _person_done({"challenge_id": challenge_id, "person_id": person_id, "status": outcome}, as_json,
                 f"challenge {challenge_id} for {person_id}: {outcome}")


@person.command(name="rectify")
@click.argument("person_id")
@click.option("--event", "event_id", required=True, help="The event shown to be wrong (its event_id).")
@click.option("--reason", required=True, help="Why the event is wrong, in words.")
@click.option("--by", "by", required=True, help="Who records the correction.")
@click.option("--lift", is_flag=True, help="Lift the exclusion: the source record has been corrected.")
@db_option
@config_option
@json_option
def person_rectify(person_id: str, event_id: str, reason: str, by: str, lift: bool, db: str | None,
                   config: Path | None, as_json: bool) -> None:
    """Exclude an event shown to be wrong from every later refresh (or lift the exclusion with --lift)."""
    from hkc.history import exclude_event, lift_exclusion

    store = _store(db, config)
    if lift:
        lift_exclusion(store, person_id, event_id=event_id, reason=reason, by=by)
        _person_done({"person_id": person_id, "event_id": event_id, "status": "lifted"}, as_json,
                     f"event {event_id} of {person_id} counts again from the next refresh")
        return
    exclusion_id = exclude_event(store, person_id, event_id=event_id, reason=reason, by=by)
    _person_done({"exclusion_id": exclusion_id, "person_id": person_id, "event_id": event_id, "status": "excluded"},
                 as_json, f"event {event_id} of {person_id} is excluded from scoring from the next refresh on, "
                          f"until lifted (hkc person rectify {person_id} --event {event_id} --lift --reason TEXT "
                          f"--by NAME)")


@main.command(name="log")
@click.option("--person", help="Only consultations of this person's record.")
@click.option("--by", "by", help="Only consultations by this name.")
@db_option
@config_option
@json_option
def log_cmd(person: str | None, by: str | None, db: str | None, config: Path | None, as_json: bool) -> None:
    """The consultation log: who consulted whose record, when and why (never what was shown)."""
    from hkc.history import consultation_log
    from hkc.report_text import consultation_table

    frame = consultation_log(_store(db, config), person_id=person, by=by)
    if as_json:
        _json(frame.where(frame.notna(), None).to_dict("records"))
    else:
        click.echo(consultation_table(frame))


@main.command()
@click.option("--older-than-days", type=click.IntRange(min=1), help="Default: [retention] days in config.")
@click.option("--by", "by", help="Who runs the purge, for its log (required unless --check).")
@click.option("--dry-run", is_flag=True, help="Count what would be purged; change nothing.")
@click.option("--check", is_flag=True, help="For a scheduled job: change nothing, exit 1 when a purge is overdue "
              "(anything is older than the retention period), 0 when not.")
@db_option
@config_option
@json_option
def purge(older_than_days: int | None, by: str | None, dry_run: bool, check: bool, db: str | None,
          config: Path | None, as_json: bool) -> None:
    """Delete runs and person-level history older than the retention period (logged, content not kept)."""
    from hkc.history import open_store
    from hkc.history import purge as purge_history
    from hkc.report_text import purge_due, purge_summary

    if not check and not (by or "").strip():
        raise click.UsageError("missing option '--by': name who runs the purge, for its log")
    defs = _definitions(config)
    days = older_than_days or defs.settings.retention.days
    result = purge_history(open_store(_db_url(db, defs), create=False), older_than_days=days,
                           today=dt.date.today(), by=by or "hkc purge --check", dry_run=dry_run or check)
    if check:
        due = any(result["rows"].values())
        if as_json:
            _json(result | {"overdue": due})
        else:
            click.echo(purge_due(result, due))
        sys.exit(1 if due else 0)
    if as_json:
        _json(result)
    else:
        click.echo(purge_summary(result))


@main.command()
@out_folder_option(required=False, default="hkc-demo",
                   help="Folder for the synthetic extracts (OUT/extracts/), each quarter's outputs (OUT/<date>/), "
                   "the history and the evaluation (new, empty, or an earlier demo's: its history is replaced).")
@click.option("--people", default=20000, show_default=True, type=click.IntRange(min=500),
              help="People aged 10-30 at the last quarter end (about 90% of whom are in its extract).")
@click.option("--seed", default=7, show_default=True, type=int, help="Random seed (same seed, same force).")
def demo(out: Path, people: int, seed: int) -> None:
    """Run the quarterly routine on a synthetic force: four quarters, each refreshed from its own extract, the
    meeting's interventions imported, and the first cohorts evaluated against a planted effect."""
    from hkc.demo import run_demo
    from hkc.outputs import prepare_output_folder

    folder = prepare_output_folder(out)
    for line in run_demo(folder, people=people, seed=seed, progress=progress):
        click.echo(line)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
