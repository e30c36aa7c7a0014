"""The command line's vocabulary: one error style and the options every command shares.

``cli.py`` declares its commands with these, so an option (``--db``, ``--config``, ``--extract-date``,
``--out``, ``--json``, every date) is spelled, typed and documented once, as sqlite-utils does, and
every error a user can fix — a usage error or an :class:`hkc.errors.HkcError` — is one line
``error: …`` and exit code 2.  It imports only click and hkc's foundation, so ``hkc --help`` and
usage errors answer at once.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from hkc.dates import parse_day
from hkc.errors import HkcError

__all__ = ["HkcGroup", "UsageLine", "USAGE_ERROR", "Day", "DAY", "date_option", "out_folder_option",
           "out_file_option", "db_option", "config_option", "run_option", "extract_date_option", "json_option",
           "pairs", "progress"]

# A usage error, as the one line after "error: ".
USAGE_ERROR = "{problem} (see `{command} --help`)"


def progress(message: str) -> None:
    """A progress line on standard error: two spaces, the time, the message."""
    click.echo(f"  {time.strftime('%H:%M:%S')} {message}", err=True)


# -- one error style -------------------------------------------------------------------------------

class UsageLine(click.UsageError):
    """A usage error shown the way hkc shows every error: one line ``error: …``, exit code 2."""

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


def _one_line(exc: click.UsageError, command: str) -> click.UsageError:
    """``exc`` as a :class:`UsageLine` naming the command whose ``--help`` to read (``command``
    when the error does not know its own: an option missing its value)."""
    if isinstance(exc, UsageLine | click.exceptions.NoArgsIsHelpError):
        return exc
    problem = " ".join(exc.format_message().split()).replace(". Did you mean", "; did you mean").rstrip(".")
    problem = problem.replace(". (Did you mean one of:", "; did you mean one of").replace("?)", "?")
    if len(problem) > 1 and problem[0].isupper() and problem[1].islower():
        problem = problem[0].lower() + problem[1:]  # "Missing option" -> "missing option"; "P1 ..." stays
    if exc.ctx is not None:
        command = " ".join(["hkc", *exc.ctx.command_path.split()[1:]])
    return UsageLine(USAGE_ERROR.format(problem=problem, command=command), ctx=exc.ctx)


class HkcGroup(click.Group):
    """Every error a user can fix as one line and exit code 2: HkcError (unless --debug) and usage errors."""

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None,
                     **extra: Any) -> click.Context:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as exc:  # the group's own options
            raise _one_line(exc, "hkc") from None

    def invoke(self, ctx: click.Context) -> Any:
        # Children's data: whatever a command writes is private to this account (folders 0700, files
        # 0600) whatever the umask; a refresh widens it to the group only when its settings say so.
        old_umask = os.umask(0o077)
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:  # no such command; a subcommand's options, arguments or values
            raise _one_line(exc, " ".join(["hkc", *filter(None, [ctx.invoked_subcommand])])) from None
        except HkcError as exc:
            if ctx.params.get("debug") or os.environ.get("HKC_DEBUG"):
                raise
            click.echo(f"error: {exc.message}", err=True)
            ctx.exit(exc.exit_code)
        finally:
            os.umask(old_umask)


# -- one vocabulary --------------------------------------------------------------------------------

class Day(click.ParamType):
    """A day: ``YYYY-MM-DD``, or a quarter such as ``2026Q3`` / ``2026-Q3`` (its last day)."""

    name = "date"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> dt.date:
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        try:
            return parse_day(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


DAY = Day()
DAY_HELP = "; YYYY-MM-DD or a quarter such as 2026Q3 (its last day)"
Decorator = Callable[[Callable], Callable]


def date_option(*names: str, help: str, required: bool = False) -> Decorator:  # noqa: A002 - click's word
    """A date option: a day or a quarter, parsed by :func:`hkc.dates.parse_day`."""
    return click.option(*names, type=DAY, required=required, help=help + DAY_HELP)


def out_folder_option(*, required: bool, help: str = "Output folder (new, empty, or one hkc wrote).",  # noqa: A002
                      default: str | None = None) -> Decorator:
    """``--out DIR``: a folder the command checks with :func:`hkc.outputs.prepare_output_folder` before writing."""
    return click.option("--out", required=required, default=default, show_default=default is not None,
                        type=click.Path(path_type=Path, file_okay=False), help=help)


def out_file_option(help: str) -> Decorator:  # noqa: A002
    """``--out FILE`` and ``--force`` (replace an existing file)."""
    def decorate(fn: Callable) -> Callable:
        fn = click.option("--force", is_flag=True, help="Replace --out FILE if it exists.")(fn)
        return click.option("--out", type=click.Path(path_type=Path, dir_okay=False), help=help)(fn)
    return decorate


def db_option(fn: Callable) -> Callable:
    return click.option("--db", metavar="URL", help="History database URL (default: [database] url in config).")(fn)


def config_option(fn: Callable) -> Callable:
    return click.option("--config", type=click.Path(path_type=Path, dir_okay=False),
                        help="Settings file (config/hkc.toml of a deployment folder).")(fn)


def run_option(fn: Callable) -> Callable:
    return date_option("--run", "run", help="As-of date of the stored run (default: the latest)")(fn)


def extract_date_option(fn: Callable) -> Callable:
    return date_option("--extract-date", help="No event may be dated after this (default: today)")(fn)


def json_option(fn: Callable) -> Callable:
    return click.option("--json", "as_json", is_flag=True,
                        help="Print one JSON document instead of text (for scripts).")(fn)


def pairs(example: str, convert: Callable[[str], Any] = str) -> Callable:
    """A callback reading repeated ``KEY=VALUE`` options into a dict."""
    def callback(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, Any]:
        found = {}
        for item in values:
            key, _sep, value = (part.strip() for part in item.partition("="))
            try:
                if not key or not value:
                    raise ValueError(item)
                found[key] = convert(value)
            except ValueError:
                raise click.BadParameter(f"{item!r}: expected {param.metavar}, e.g. {example}") from None
        return found
    return callback
