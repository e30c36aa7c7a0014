"""The shape of hkc's records for the people who approve it: sections of fields, as Markdown and as JSON.

The transparency record, the data protection impact assessment, the equality impact note and the
ALGO-CARE checklist are each a :class:`Document`: numbered sections of :class:`Field` entries.  A
field holds what hkc knows (``value``: paragraphs, bullet items or tables, with ``basis``: where each
came from) and, where only the partnership can answer, the question it must answer (``ask``).  So a
field is filled by hkc, asked of the partnership, or filled as far as hkc can with the rest asked:
there is no fourth kind, no empty field and no "to be completed".  :func:`known` refuses an empty
value, so a fact hkc holds cannot quietly become a blank.

:func:`to_markdown` renders a document for people (every value escaped); :func:`to_json` gives the
same content as data, whose structure :data:`RECORD_SCHEMA` (JSON Schema) describes and
:func:`check_json` checks without any extra library.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hkc.transparency.markdown import bullets, heading, markdown_text, paragraph, table

__all__ = ["Table", "Items", "Block", "Field", "Section", "Document", "known", "asked", "items", "grid",
           "to_markdown", "to_json", "check_json", "RECORD_SCHEMA", "SCHEMA_ID", "FOR_THE_PARTNERSHIP",
           "FILLED_BY", "PLACEHOLDER"]

SCHEMA_ID = "hkc.record/1"
FOR_THE_PARTNERSHIP = "For the partnership to answer"
FILLED_BY = ("hkc", "partnership", "hkc and partnership")

# Words that mark a value as not really filled: never allowed in what hkc fills.
PLACEHOLDER = re.compile(r"to be completed|\bTODO\b|\bTBC\b|^(none|nan|null|n/a)$", re.IGNORECASE)


@dataclass(frozen=True)
class Table:
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Items:
    items: tuple[str, ...]


Block = str | Items | Table


def items(lines: Iterable[Any]) -> Items:
    """Bullet items (each as text)."""
    return Items(tuple(str(line) for line in lines))


def grid(columns: Sequence[Any], rows: Iterable[Sequence[Any]]) -> Table:
    """A table; every cell as text."""
    return Table(tuple(str(c) for c in columns), tuple(tuple(str(c) for c in row) for row in rows))


@dataclass(frozen=True)
class Field:
    """One entry: ``value`` is what hkc knows (with ``basis``); ``ask`` what only the partnership can answer."""

    ref: str
    name: str
    value: tuple[Block, ...] = ()
    basis: tuple[str, ...] = ()
    ask: str = ""
    key: str = ""

    @property
    def attribute(self) -> str:
        """The field's attribute name: ``key``, or its name in snake case (the ATRS's own attribute names),
        cut at a word to at most 60 characters."""
        slug = self.key or re.sub(r"[^a-z0-9]+", "_", self.name.lower()).strip("_")
        return slug if len(slug) <= 60 else slug[:61].rsplit("_", 1)[0]

    @property
    def filled_by(self) -> str:
        if not self.value:
            return "partnership"
        return "hkc and partnership" if self.ask else "hkc"


@dataclass(frozen=True)
class Section:
    ref: str
    title: str
    fields: tuple[Field, ...]
    intro: str = ""


@dataclass(frozen=True)
class Document:
    kind: str
    title: str
    intro: tuple[str, ...]
    sections: tuple[Section, ...]
    generated: Mapping[str, Any] = field(default_factory=dict)

    def fields(self) -> list[Field]:
        return [f for s in self.sections for f in s.fields]


def _blank(block: Block) -> bool:
    if isinstance(block, str):
        return not block.strip() or bool(PLACEHOLDER.search(block.strip()))
    if isinstance(block, Items):
        return not block.items or any(not i.strip() or PLACEHOLDER.search(i.strip()) for i in block.items)
    return not block.rows or any(len(r) != len(block.columns) for r in block.rows)


def known(ref: str, name: str, *value: Block | Sequence[str] | None | bool, basis: Sequence[str], ask: str = "",
          key: str = "") -> Field:
    """A field hkc fills: ``value`` blocks (text, :func:`items`, :func:`grid`; a list of text is
    bullet items; ``None``, ``False``, ``""`` and empty lists are dropped), ``basis`` naming where they came from, and
    optionally ``ask``, the part only the partnership can answer.

    Raises ``ValueError`` when nothing is left, a block is blank or reads as a placeholder, or
    no basis is given: a fact hkc holds is never shown as a blank.
    """
    blocks: list[Block] = []
    for part in value:
        if part is None or part is False or (isinstance(part, str | list | tuple) and not part):
            continue
        blocks.append(items(part) if isinstance(part, list | tuple) else part)
    if not blocks or any(_blank(b) for b in blocks) or not basis:
        raise ValueError(f"field {ref} {name!r}: hkc's value is empty, a placeholder, or has no basis")
    return Field(ref=ref, name=name, value=tuple(blocks), basis=tuple(basis), ask=ask, key=key)


def asked(ref: str, name: str, question: str, key: str = "") -> Field:
    """A field only the partnership can answer: the question it must answer."""
    if not question.strip():
        raise ValueError(f"field {ref} {name!r}: a question for the partnership is needed")
    return Field(ref=ref, name=name, ask=question, key=key)


# -- Markdown -----------------------------------------------------------------------------------

def _block_lines(block: Block) -> list[str]:
    if isinstance(block, Items):
        return bullets(block.items)
    if isinstance(block, Table):
        return table(block.columns, block.rows)
    return paragraph(block)


def to_markdown(doc: Document) -> str:
    """The document as Markdown: title, introduction, then each section's fields with what hkc
    knows, where it came from, and the partnership's questions in bold."""
    lines = [*heading(1, doc.title)]
    for text in doc.intro:
        lines += paragraph(text)
    for section in doc.sections:
        lines += heading(2, f"{section.ref} {section.title}".strip())
        if section.intro:
            lines += paragraph(section.intro)
        for f in section.fields:
            lines += heading(3, f"{f.ref} {f.name}".strip())
            for block in f.value:
                lines += _block_lines(block)
            if f.basis:
                lines += ["*From: " + markdown_text("; ".join(f.basis)) + ".*", ""]
            if f.ask:
                lines += [f"**{FOR_THE_PARTNERSHIP}:** " + markdown_text(f.ask), ""]
    return "\n".join(lines).rstrip("\n") + "\n"


# -- JSON ---------------------------------------------------------------------------------------

def _block_json(block: Block) -> dict:
    if isinstance(block, Items):
        return {"items": list(block.items)}
    if isinstance(block, Table):
        return {"table": {"columns": list(block.columns), "rows": [list(r) for r in block.rows]}}
    return {"text": block}


def to_json(doc: Document) -> dict:
    """The document as JSON data (see :data:`RECORD_SCHEMA`)."""
    fields = doc.fields()
    return {
        "schema": SCHEMA_ID,
        "kind": doc.kind,
        "title": doc.title,
        "intro": list(doc.intro),
        "generated": dict(doc.generated),
        "counts": {who: sum(f.filled_by == who for f in fields) for who in FILLED_BY},
        "sections": [{
            "ref": s.ref, "title": s.title, "intro": s.intro or None,
            "fields": [{"ref": f.ref, "attribute": f.attribute, "name": f.name, "filled_by": f.filled_by,
                        "value": [_block_json(b) for b in f.value] or None, "from": list(f.basis),
                        "for_the_partnership": f.ask or None} for f in s.fields],
        } for s in doc.sections],
    }


_TEXT = {"type": "string", "minLength": 1}
_BLOCK = {"oneOf": [
    {"type": "object", "required": ["text"], "additionalProperties": False, "properties": {"text": _TEXT}},
    {"type": "object", "required": ["items"], "additionalProperties": False,
     "properties": {"items": {"type": "array", "minItems": 1, "items": _TEXT}}},
    {"type": "object", "required": ["table"], "additionalProperties": False, "properties": {"table": {
        "type": "object", "required": ["columns", "rows"], "additionalProperties": False,
        "properties": {"columns": {"type": "array", "minItems": 1, "items": {"type": "string"}},
                       "rows": {"type": "array", "minItems": 1,
                                "items": {"type": "array", "items": {"type": "string"}}}}}}},
]}
_FIELD_COMMON = {"ref": _TEXT, "attribute": {"type": "string", "pattern": "^[a-z0-9_]+$"}, "name": _TEXT}
_FIELD_KINDS = [
    {"properties": {"filled_by": {"const": "hkc"}, "value": {"type": "array", "minItems": 1, "items": _BLOCK},
                    "from": {"type": "array", "minItems": 1, "items": _TEXT}, "for_the_partnership": {"type": "null"}}},
    {"properties": {"filled_by": {"const": "hkc and partnership"},
                    "value": {"type": "array", "minItems": 1, "items": _BLOCK},
                    "from": {"type": "array", "minItems": 1, "items": _TEXT}, "for_the_partnership": _TEXT}},
    {"properties": {"filled_by": {"const": "partnership"}, "value": {"type": "null"},
                    "from": {"type": "array", "maxItems": 0}, "for_the_partnership": _TEXT}},
]

RECORD_SCHEMA: dict = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "A record hkc writes for the people who approve it (transparency record, DPIA, equality note, "
             "ALGO-CARE checklist)",
    "type": "object",
    "required": ["schema", "kind", "title", "intro", "generated", "counts", "sections"],
    "additionalProperties": False,
    "properties": {
        "schema": {"const": SCHEMA_ID},
        "kind": _TEXT,
        "title": _TEXT,
        "intro": {"type": "array", "items": _TEXT},
        "generated": {"type": "object"},
        "counts": {"type": "object", "required": list(FILLED_BY), "additionalProperties": False,
                   "properties": {k: {"type": "integer", "minimum": 0} for k in FILLED_BY}},
        "sections": {"type": "array", "minItems": 1, "items": {
            "type": "object", "required": ["ref", "title", "intro", "fields"], "additionalProperties": False,
            "properties": {"ref": {"type": "string"}, "title": _TEXT, "intro": {"type": ["string", "null"]},
                           "fields": {"type": "array", "minItems": 1, "items": {
                               "type": "object", "additionalProperties": False,
                               "required": ["ref", "attribute", "name", "filled_by", "value", "from",
                                            "for_the_partnership"],
                               "properties": {**_FIELD_COMMON, "filled_by": {"enum": list(FILLED_BY)},
                                              "value": {}, "from": {}, "for_the_partnership": {}},
                               "oneOf": _FIELD_KINDS}}}}},
    },
}


def _check_block(block: Any, where: str) -> list[str]:
    if not isinstance(block, Mapping) or len(block) != 1:
        return [f"{where}: a block is one of {{text}}, {{items}}, {{table}}"]
    (kind, body), = block.items()
    if kind == "text":
        return [] if isinstance(body, str) and body.strip() else [f"{where}: empty text"]
    if kind == "items":
        ok = isinstance(body, list) and body and all(isinstance(i, str) and i.strip() for i in body)
        return [] if ok else [f"{where}: items must be a non-empty list of text"]
    if kind == "table":
        cols, rows = (body.get("columns"), body.get("rows")) if isinstance(body, Mapping) else (None, None)
        if set(body) != {"columns", "rows"} or not isinstance(cols, list) or not cols or not isinstance(rows, list) \
                or not rows:
            return [f"{where}: a table needs columns and at least one row"]
        return [f"{where}: table row {i + 1} has {len(r)} cells for {len(cols)} columns"
                for i, r in enumerate(rows) if not isinstance(r, list) or len(r) != len(cols)
                or not all(isinstance(c, str) for c in r)]
    return [f"{where}: unknown block {kind!r}"]


def _check_field(f: Any, where: str) -> list[str]:
    keys = {"ref", "attribute", "name", "filled_by", "value", "from", "for_the_partnership"}
    if not isinstance(f, Mapping) or set(f) != keys:
        return [f"{where}: a field has exactly the keys {sorted(keys)}"]
    where = f"{where} ({f['ref']})"
    problems = [f"{where}: {k} must be non-empty text" for k in ("ref", "name")
                if not isinstance(f[k], str) or not f[k].strip()]
    if not isinstance(f["attribute"], str) or not re.fullmatch(r"[a-z0-9_]+", f["attribute"]):
        problems.append(f"{where}: attribute must be lower-case letters, digits and _")
    who, value, basis, ask = f["filled_by"], f["value"], f["from"], f["for_the_partnership"]
    if who not in FILLED_BY:
        return [*problems, f"{where}: filled_by must be one of {FILLED_BY}"]
    if (value is None) != (who == "partnership"):
        problems.append(f"{where}: a value is given exactly when hkc fills the field")
    if (ask is None) != (who == "hkc") or (ask is not None and (not isinstance(ask, str) or not ask.strip())):
        problems.append(f"{where}: a question for the partnership is given exactly when the partnership answers")
    if not isinstance(basis, list) or bool(basis) != (value is not None) or \
            not all(isinstance(b, str) and b.strip() for b in basis):
        problems.append(f"{where}: 'from' names where hkc's value came from, and only then")
    if value is not None:
        if not isinstance(value, list) or not value:
            problems.append(f"{where}: value must be a non-empty list of blocks")
        else:
            for i, block in enumerate(value):
                problems += _check_block(block, f"{where} block {i + 1}")
    return problems


def check_json(data: Any) -> list[str]:
    """Every way ``data`` departs from :data:`RECORD_SCHEMA` (an empty list: it conforms), without jsonschema."""
    top = set(RECORD_SCHEMA["required"])
    if not isinstance(data, Mapping) or set(data) != top:
        return [f"a record has exactly the keys {sorted(top)}"]
    problems = [] if data["schema"] == SCHEMA_ID else [f"schema must be {SCHEMA_ID!r}"]
    problems += [f"{k} must be non-empty text" for k in ("kind", "title")
                 if not isinstance(data[k], str) or not data[k].strip()]
    if not isinstance(data["intro"], list) or not all(isinstance(t, str) and t.strip() for t in data["intro"]):
        problems.append("intro must be a list of text")
    if not isinstance(data["generated"], Mapping):
        problems.append("generated must be an object")
    counts = data["counts"]
    if not isinstance(counts, Mapping) or set(counts) != set(FILLED_BY) or \
            not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in counts.values()):
        problems.append(f"counts must give a count for each of {FILLED_BY}")
    sections = data["sections"]
    if not isinstance(sections, list) or not sections:
        return [*problems, "sections must be a non-empty list"]
    for i, s in enumerate(sections):
        where = f"section {i + 1}"
        if not isinstance(s, Mapping) or set(s) != {"ref", "title", "intro", "fields"}:
            problems.append(f"{where}: a section has exactly the keys ref, title, intro, fields")
            continue
        if not isinstance(s["ref"], str) or not isinstance(s["title"], str) or not s["title"].strip() or \
                not (s["intro"] is None or isinstance(s["intro"], str) and s["intro"].strip()):
            problems.append(f"{where}: ref and intro must be text (intro may be null), title non-empty text")
        if not isinstance(s["fields"], list) or not s["fields"]:
            problems.append(f"{where}: fields must be a non-empty list")
            continue
        for j, f in enumerate(s["fields"]):
            problems += _check_field(f, f"{where} field {j + 1}")
    return problems
