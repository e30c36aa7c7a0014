"""The one Jinja environment every HTML output is rendered with.

Autoescaping is always on (every label and value is escaped, whatever the template's name).  The
packs render a facts dictionary built to be complete, so there an undefined name is an error
rather than an empty string (a missing fact never prints as a blank); the audit and backtest
reports render results whose optional sections (baselines, suppression, rolling origins) are
absent when they do not apply, and their templates test for them, so they pass ``strict=False``.
Templates live in ``hkc/templates``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import jinja2

__all__ = ["environment", "render"]


def environment(filters: Mapping[str, Callable[..., Any]] | None = None, *,
                strict: bool = True) -> jinja2.Environment:
    """A fresh environment on ``hkc/templates`` with ``filters`` added."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("hkc", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined if strict else jinja2.Undefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(filters or {})
    return env


def render(template: str, facts: Mapping[str, Any], *,
           filters: Mapping[str, Callable[..., Any]] | None = None, strict: bool = True) -> str:
    """``template`` (a file in ``hkc/templates``) rendered with ``facts``."""
    return environment(filters, strict=strict).get_template(template).render(**facts)
