"""The ``hkc`` command line: a thin client of the library.

Each command parses its options, calls one library function and renders the result.  Errors a
user can fix (:class:`hkc.errors.HkcError`) print one line and exit with code 2; ``--debug``
shows the traceback instead.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path

import click

from hkc import __version__
from hkc.dates import parse_day
from hkc.errors import HkcError

DATE = click.DateTime(formats=["%Y-%m-%d"])


def _day(value: dt.datetime | None) -> dt.date | None:
    return value.date() if value is not None else None


def _progress(message: str) -> None:
    click.echo(f"  {time.strftime('%H:%M:%S')} {message}", err=True)


class HkcGroup(click.Group):
    """Turns HkcError into one line and exit code 2 (unless --debug)."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except HkcError as exc:
            if ctx.params.get("debug") or os.environ.get("HKC_DEBUG"):
                raise
            click.echo(f"error: {exc.message}", err=True)
            ctx.exit(exc.exit_code)


@click.group(cls=HkcGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="hkc")
@click.option("--debug", is_flag=True, help="Show full tracebacks instead of one-line errors.")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """hkc: the quarterly habitual-knife-carrier matrix — transparent scores, evidenced cohorts."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


def _definitions(config: Path | None):
    from hkc.definitions import load_definitions

    defs = load_definitions(config=config)
    click.echo(defs.describe(), err=True)
    return defs


config_option = click.option("--config", type=click.Path(path_type=Path, dir_okay=False),
                             help="Settings file (config/hkc.toml of a deployment folder).")



def _emit(text: str, out: Path | None, what: str) -> None:
    """A text answer to standard output, or atomically to ``out`` (saying where it went)."""
    from hkc.outputs import write_text_atomic

    if out is None:
        click.echo(text)
    else:
        write_text_atomic(text, out)
        click.echo(f"{what} written to {out}")

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
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), help="Write OUT/rejects.csv here.")
@click.option("--extract-date", type=DATE, help="No date may be after this (default: today).")
@config_option
def validate(data_dir: Path, out: Path | None, extract_date, config: Path | None) -> None:
    """Check an extract against the input contract and quarantine bad rows."""
    from hkc.extract import check_capacity, load_extract, probe_extract
    from hkc.outputs import write_csv
    from hkc.report_text import validation_summary

    defs = _definitions(config)
    probe_extract(data_dir, catalogue=defs.catalogue, extract_date=_day(extract_date))  # garbage first
    _progress(check_capacity(data_dir).describe())  # loading is most of a refresh's memory: same check
    extract = load_extract(data_dir, catalogue=defs.catalogue, extract_date=_day(extract_date), progress=_progress)
    click.echo(validation_summary(extract))
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=out, prefix=".rejects-", suffix=".csv")
        os.close(fd)
        write_csv(extract.rejects, Path(tmp))
        os.replace(tmp, out / "rejects.csv")
        click.echo(f"rejects written to {out / 'rejects.csv'}")


@main.command()
@click.option("--out", required=True, type=click.Path(path_type=Path, file_okay=False), help="Folder to write.")
@click.option("--people", default=5000, show_default=True, type=click.IntRange(min=10), help="People to generate.")
@click.option("--seed", default=0, show_default=True, type=int, help="Random seed (same seed, same files).")
@click.option("--until", type=DATE, help="Last event date (default: end of the last complete quarter).")
@click.option("--dirty", default=0.0, show_default=True, type=click.FloatRange(0, 0.5),
              help="Fraction of rows given a realistic fault to quarantine.")
@click.option("--intel-bias", multiple=True, metavar="GROUP=FACTOR",
              help="Multiply the recording of intelligence on an ethnic group, e.g. Black=2.")
@click.option("--format", "fmt", type=click.Choice(["csv", "parquet"]), default="csv", show_default=True)
def synth(out: Path, people: int, seed: int, until, dirty: float, intel_bias: tuple[str, ...], fmt: str) -> None:
    """Write a synthetic force's extract (for demos, tests and benchmarks)."""
    from hkc.definitions import load_definitions
    from hkc.synth import generate_force, last_quarter_end, write_force

    bias = {}
    for item in intel_bias:
        group, sep, factor = item.partition("=")
        try:
            bias[group.strip()] = float(factor)
        except ValueError:
            sep = ""
        if not sep:
            raise click.BadParameter(f"{item!r}: expected GROUP=FACTOR, e.g. Black=2", param_hint="--intel-bias")
    end = _day(until) or last_quarter_end(dt.date.today())
    try:
        force = generate_force(people=people, seed=seed, until=end, dirty=dirty, intel_bias=bias,
                               catalogue=load_definitions().catalogue)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--intel-bias") from None
    files = write_force(force, out, fmt=fmt)
    click.echo(f"synthetic force: {len(force.people):,} people, {len(force.events):,} events up to {end}, "
               f"seed {seed}" + (f", {len(force.faults):,} injected faults" if dirty else ""))
    for path in files.values():
        click.echo(f"  {path}")


@main.command()
@click.argument("data_dir", type=click.Path(path_type=Path))
@click.option("--as-of", required=True, type=DATE, help="Score with events on or before this date.")
@click.option("--out", required=True, type=click.Path(path_type=Path, file_okay=False), help="Output folder.")
@click.option("--db", help="History database URL (default from config).")
@click.option("--extract-date", type=DATE, help="No date may be after this (default: today).")
@click.option("--partner-pack/--no-partner-pack", default=None,
              help="Require (or skip) the pseudonymised partner pack; by default it is written when "
                   "HKC_PSEUDONYM_KEY is set.")
@click.option("--by", "by", help="Who runs this refresh, for the disclosure log (default: your login name).")
@config_option
def refresh(data_dir: Path, as_of, out: Path, db: str | None, extract_date, partner_pack: bool | None,
            by: str | None, config: Path | None) -> None:
    """Run the quarterly refresh: validate, score, rank, write the packs, store history."""
    from hkc.refresh import run_refresh
    from hkc.report_text import refresh_summary

    defs = _definitions(config)
    mode = "auto" if partner_pack is None else "yes" if partner_pack else "no"
    result = run_refresh(data_dir, as_of=_day(as_of), out=out, definitions=defs, db_url=db,
                         extract_date=_day(extract_date), progress=_progress, partner_pack=mode, by=by)
    click.echo(refresh_summary(result, preview=defs.settings.outputs.preview_rows))


def _store(db: str | None, config: Path | None):
    from hkc.history import open_store

    defs = _definitions(config)
    return open_store(db or defs.database_url(), create=False)


def _as_of(value: str | None, option: str) -> dt.date | None:
    """YYYY-MM-DD or a quarter such as 2026Q3 (its last day)."""
    if value is None:
        return None
    try:
        return parse_day(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=option) from None


@main.command()
@click.option("--db", help="History database URL (default from config).")
@config_option
def history(db: str | None, config: Path | None) -> None:
    """List the refreshes stored in the history database."""
    from hkc.report_text import history_table

    click.echo(history_table(_store(db, config).list_runs()))


@main.command(name="movement")
@click.option("--from", "from_", required=True, help="Earlier run: as-of date or quarter (2026Q2).")
@click.option("--to", "to", required=True, help="Later run: as-of date or quarter (2026Q3).")
@click.option("--db", help="History database URL (default from config).")
@config_option
def movement_cmd(from_: str, to: str, db: str | None, config: Path | None) -> None:
    """Entries, exits and RAG changes between two stored refreshes."""
    from hkc.history import compare_runs
    from hkc.report_text import movement_report

    store = _store(db, config)
    click.echo(movement_report(compare_runs(store, _as_of(from_, "--from"), _as_of(to, "--to"))))


@main.command()
@click.argument("person_id")
@click.option("--run", "run", help="As-of date or quarter of the run (default: the latest).")
@click.option("--db", help="History database URL (default from config).")
@config_option
def explain(person_id: str, run: str | None, db: str | None, config: Path | None) -> None:
    """Print every event behind one person's scores in a stored run."""
    from hkc.history import explain_person
    from hkc.report_text import explanation

    store = _store(db, config)
    click.echo(explanation(explain_person(store, person_id, as_of=_as_of(run, "--run"))))


@main.command()
@click.option("--input", "input_", required=True, type=click.Path(path_type=Path, dir_okay=False),
              help="Scored file (CSV or Parquet), one row per person or case.")
@click.option("--score", required=True, help="Numeric score column.")
@click.option("--threshold", type=float, help="Selected means score >= THRESHOLD.")
@click.option("--selected", help="0/1 column saying who was selected (instead of --threshold).")
@click.option("--outcome", help="0/1 outcome column: adds error rates and calibration by group.")
@click.option("--by", "by", required=True, multiple=True, help="Sensitive attribute column (repeatable).")
@click.option("--out", required=True, type=click.Path(path_type=Path, file_okay=False), help="Output folder.")
@click.option("--reference", multiple=True, metavar="COL=GROUP",
              help="Reference group of an attribute, e.g. race=Caucasian (default: from the spec, else the largest).")
@click.option("--spec", type=click.Path(path_type=Path, dir_okay=False),
              help="Audit specification (default: audits/fairness.toml of the definitions in use).")
@config_option
def audit(input_: Path, score: str, threshold: float | None, selected: str | None, outcome: str | None,
          by: tuple[str, ...], out: Path, reference: tuple[str, ...], spec: Path | None, config: Path | None) -> None:
    """Audit any scored file for disparities by group, with intervals."""
    from hkc.audit import findings, run_file_audit
    from hkc.definitions import load_audit_spec, refresh_audit_spec

    if (threshold is None) == (selected is None):
        raise click.UsageError("give exactly one of --threshold T or --selected COL")
    refs = {}
    for item in reference:
        column, sep, group = item.partition("=")
        if not sep or not column.strip() or not group.strip():
            raise click.BadParameter(f"{item!r}: expected COL=GROUP, e.g. race=Caucasian", param_hint="--reference")
        refs[column.strip()] = group.strip()
    audit_spec = load_audit_spec(spec) if spec else refresh_audit_spec(_definitions(config))
    result = run_file_audit(input_, score=score, threshold=threshold, selected=selected, outcome=outcome,
                            by=list(by), out=out, spec=audit_spec, reference=refs or None)
    for sentence in findings(result):
        click.echo(f"- {sentence}")
    click.echo(f"audit written to {out}: open audit.html first; audit.json holds every figure")


@main.command()
@click.option("--run", "run", help="As-of date or quarter of the run (default: the latest).")
@click.option("--db", help="History database URL (default from config).")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), help="Write the record here.")
@config_option
def transparency(run: str | None, db: str | None, out: Path | None, config: Path | None) -> None:
    """Write an algorithmic transparency record from the definitions and a stored run."""
    from hkc.definitions import refresh_audit_spec
    from hkc.history import open_store
    from hkc.transparency import transparency_record

    defs = _definitions(config)
    store = open_store(db or defs.database_url(), create=False)
    stored = store.find_run(_as_of(run, "--run"))
    text = transparency_record(definitions=defs, manifest=store.manifest(stored.run_id),
                               audit=store.audit(stored.run_id), audit_spec=refresh_audit_spec(defs))
    _emit(text, out, "transparency record")


@main.command()
@click.argument("data_dir", type=click.Path(path_type=Path))
@click.option("--as-of", required=True, type=DATE, help="The extract's history ends here (the latest outcome date).")
@click.option("--out", required=True, type=click.Path(path_type=Path, file_okay=False), help="Output folder.")
@click.option("--spec", help="Model specification: a name in models/ or a file (default: [model] spec).")
@click.option("--extract-date", type=DATE, help="No date may be after this (default: today).")
@config_option
def backtest(data_dir: Path, as_of, out: Path, spec: str | None, extract_date, config: Path | None) -> None:
    """Backtest the matrix, the models and simple baselines on the extract's own history."""
    from hkc.extract import load_extract
    from hkc.model import run_backtest
    from hkc.report_text import backtest_summary

    defs = _definitions(config)
    extract = load_extract(data_dir, catalogue=defs.catalogue, extract_date=_day(extract_date), progress=_progress)
    out.mkdir(parents=True, exist_ok=True)
    result = run_backtest(extract, definitions=defs, as_of=_day(as_of), out=out, spec=spec, progress=_progress)
    click.echo(backtest_summary(result))
    click.echo(f"backtest written to {out}: open backtest.html first; backtest.json holds every figure")


@main.command()
@click.argument("data_dir", type=click.Path(path_type=Path))
@click.option("--as-of", required=True, type=DATE, help="The extract's history ends here.")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), help="Write the model card here.")
@click.option("--spec", help="Model specification: a name in models/ or a file (default: [model] spec).")
@click.option("--extract-date", type=DATE, help="No date may be after this (default: today).")
@config_option
def train(data_dir: Path, as_of, out: Path | None, spec: str | None, extract_date, config: Path | None) -> None:
    """Fit, calibrate and evaluate the model; register it, as champion only if it beats the matrix."""
    from hkc.extract import load_extract
    from hkc.model import train_model

    defs = _definitions(config)
    extract = load_extract(data_dir, catalogue=defs.catalogue, extract_date=_day(extract_date), progress=_progress)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    result = train_model(extract, definitions=defs, as_of=_day(as_of), out=out, spec=spec, progress=_progress)
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
@click.option("--meeting-date", required=True, type=DATE, help="Date of the meeting that made the decisions.")
@click.option("--by", "by", required=True, help="Who records the decisions (e.g. the meeting's chair).")
@click.option("--db", help="History database URL (default from config).")
@config_option
def decisions_import(pack: Path, meeting_date, by: str, db: str | None, config: Path | None) -> None:
    """Read decisions back from a partner pack's cohort.xlsx (all rows or none)."""
    from hkc.partnership import DecisionImportError, import_decisions, partner_key

    defs = _definitions(config)
    key = partner_key(defs.settings.partner)
    try:
        report = import_decisions(_store(db, config), pack, key=key, meeting_date=_day(meeting_date), by=by)
    except DecisionImportError as exc:
        for problem in getattr(exc, "problems", [])[:50]:
            click.echo(f"  {problem}", err=True)
        raise
    for line in report.lines():
        click.echo(line)


@main.command()
@click.argument("person_id")
@click.option("--db", help="History database URL (default from config).")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), help="Write the answer here (Markdown).")
@config_option
def sar(person_id: str, db: str | None, out: Path | None, config: Path | None) -> None:
    """Answer a subject-access request: lists, scores, evidence and every disclosure for one person."""
    from hkc.history import render_subject_access, subject_access

    text = render_subject_access(subject_access(_store(db, config), person_id))
    _emit(text, out, "subject-access answer")


@main.command()
@click.option("--older-than-days", type=click.IntRange(min=1), help="Default: [retention] days in config.")
@click.option("--by", "by", required=True, help="Who runs the purge, for its log.")
@click.option("--dry-run", is_flag=True, help="Count what would be purged; change nothing.")
@click.option("--db", help="History database URL (default from config).")
@config_option
def purge(older_than_days: int | None, by: str, dry_run: bool, db: str | None, config: Path | None) -> None:
    """Delete runs and person-level history older than the retention period (logged, content not kept)."""
    from hkc.history import purge as purge_history

    defs = _definitions(config)
    days = older_than_days or defs.settings.retention.days
    result = purge_history(_store(db, config), older_than_days=days, today=dt.date.today(), by=by, dry_run=dry_run)
    verb = "would purge" if dry_run else "purged"
    click.echo(f"{verb} {result['runs']} run(s) older than {result['cutoff']}; rows: "
               + ", ".join(f"{k} {v:,}" for k, v in result["rows"].items()))


@main.command()
@click.option("--out", default="hkc-demo", show_default=True, type=click.Path(path_type=Path, file_okay=False),
              help="Folder for the synthetic extract, outputs and history.")
@click.option("--people", default=20000, show_default=True, type=click.IntRange(min=500))
@click.option("--seed", default=7, show_default=True, type=int)
def demo(out: Path, people: int, seed: int) -> None:
    """Generate a synthetic force and run two consecutive quarterly refreshes on it."""
    from hkc.demo import run_demo

    for line in run_demo(out, people=people, seed=seed, progress=_progress):
        click.echo(line)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
