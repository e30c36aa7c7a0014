"""Which attributes a selection audit covers, their reference groups and the words naming their groups.

The ``by`` columns one at a time, their intersections (``ethnicity*sex``) and the pooled
comparisons of the spec's ``[pooled]`` table (``ethnicity (pooled)``); the reference group of each
(:func:`references`); and each group's noun phrase for the findings (:func:`group_label`).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from hkc.audit.columns import UNKNOWN_REFERENCE, Pooling, group_labels, poolings
from hkc.audit.table import FrequencyTable
from hkc.definitions import AuditSpec
from hkc.errors import HkcError

__all__ = ["attribute_keys", "group_label", "pooled_for", "references"]


def attribute_keys(by: Sequence[str], spec: AuditSpec, intersections: bool) -> list[tuple[str, tuple[str, ...]]]:
    keys = [(col, (col,)) for col in by]
    if intersections:
        wanted = [tuple(i.split("*")) for i in spec.attributes.intersections if all(p in by for p in i.split("*"))]
        if not wanted and len(by) >= 2:
            wanted = list(itertools.combinations(by, 2))
        keys += [("*".join(parts), parts) for parts in wanted]
    return keys


def group_label(spec: AuditSpec, attr: str, group: str) -> str:
    table = spec.labels.get(attr, {})
    if group in table:
        return table[group]
    if "*" in attr:
        parts, values = attr.split("*"), group.split("*")
        if len(parts) == len(values):
            return group_label(spec, parts[0], values[0]) + " (" + ", ".join(
                f"{p} {v}" for p, v in zip(parts[1:], values[1:], strict=True)) + ")"
    return f"{group} people"


def _resolve_reference(attr: str, parts: tuple[str, ...], groups: list[str], sizes: np.ndarray,
                       reference: Mapping[str, str], spec: AuditSpec, resolved: Mapping[str, str]) -> tuple[str, str]:
    """The reference group and where it came from.

    A reference passed by the caller must exist.  One from the spec that the data does not hold
    (e.g. the spec's ``sex = "M"`` on a file coded ``Male``) falls back to the largest group, and
    the source says so; findings repeat it.
    """
    largest = groups[int(np.argmax(sizes))]
    if attr in reference:
        group = str(reference[attr])
        if group not in groups:
            raise HkcError(UNKNOWN_REFERENCE.format(group=group, attribute=attr, groups=", ".join(groups),
                                                    fix="; pass a reference that is present"))
        return group, "argument"
    if attr in spec.reference:
        group = str(spec.reference[attr])
        if group in groups:
            return group, "spec"
        return largest, f"largest group (the spec's reference {group!r} is not in the data)"
    if len(parts) > 1 and all(p in resolved for p in parts):
        combined = "*".join(resolved[p] for p in parts)
        if combined in groups:
            return combined, "parts"
    return largest, "largest group"


def pooled_for(frame: pd.DataFrame, by: Sequence[str], spec: AuditSpec) -> list[Pooling]:
    """The spec's pooled comparisons among the ``by`` columns, for the groups present in ``frame``."""
    present = {col: pd.unique(group_labels(frame[col])) for col in by if col in spec.pooled}
    return poolings(present, spec)


def references(table: FrequencyTable, attrs: list[tuple[str, tuple[str, ...]]], cells: Mapping[str, np.ndarray],
                reference: Mapping[str, str], spec: AuditSpec,
                pooled: Mapping[str, Pooling]) -> tuple[dict[str, str], dict[str, str]]:
    """Each attribute's reference group and its source; a pooled attribute takes its attribute's
    reference, and is left out (absent from the answer) when that reference is one of the groups pooled."""
    refs: dict[str, str] = {}
    sources: dict[str, str] = {}
    for attr, parts in attrs:
        if attr in pooled:
            base = refs[pooled[attr].attribute]
            if base not in pooled[attr].members and base in table.groups[attr]:
                refs[attr], sources[attr] = base, f"as for {pooled[attr].attribute}"
            continue
        refs[attr], sources[attr] = _resolve_reference(attr, parts, table.groups[attr], cells[attr].sum(1),
                                                       reference, spec, refs)
    return refs, sources
