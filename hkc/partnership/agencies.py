"""Each agency's own partner pack: its allow-list, and only the people it works with.

``[partner.agencies.<name>]`` in ``config/hkc.toml`` gives an agency a pack of its own in
``partner/<name>/`` (a separate disclosure naming the agency), with

* ``fields``: its allow-list, from the partner fields (empty: the ``[partner] fields``);
* ``areas``: the areas it covers.  How an agency's people are known is kept simple on purpose: by
  area.  Its pack holds the cohort members whose ``area`` is one of these; the people removed since
  the last refresh whose area (now, in the extract) is one of these; the periphery people linked to
  those cohort members, with their links to anyone else left out; and the peer groups holding one
  of those cohort members, listing only the people its pack shows.  Places are counts, not people,
  and stay.  Empty ``areas``: everyone in the partnership's pack.

>>> frames = agency_frames(agency, members=members, removed=removed, periphery=periphery,      # doctest: +SKIP
...                        peer_groups=peer_groups, person_areas=areas)
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

import pandas as pd

from hkc.definitions import PartnerSettings
from hkc.errors import ConfigError
from hkc.messages import did_you_mean

__all__ = ["find_agency", "agency_settings", "agency_frames"]


def find_agency(settings: PartnerSettings, name: str) -> Any:
    """The ``[partner.agencies.<name>]`` settings; :class:`ConfigError` naming the known agencies otherwise."""
    for agency in settings.agencies:
        if agency.name == name:
            return agency
    known = [a.name for a in settings.agencies]
    raise ConfigError(f"no [partner.agencies.{name}] in the settings{did_you_mean(name, known)}; known agencies: "
                      f"{', '.join(known) or 'none'}", key="partner.agencies")


def agency_settings(settings: PartnerSettings, agency: Any) -> PartnerSettings:
    """The partner settings an agency's pack is written under: its own allow-list when it has one."""
    return dataclasses.replace(settings, fields=tuple(agency.fields) or settings.fields, agencies=())


def _linked(value: Any) -> list[str]:
    if isinstance(value, (list, tuple, set)):
        return [str(v) for v in value]
    return [p.strip() for p in re.split(r"[,;|]", "" if value is None or value is pd.NA or
                                        (isinstance(value, float) and pd.isna(value)) else str(value)) if p.strip()]


def agency_frames(agency: Any, *, members: pd.DataFrame, removed: pd.DataFrame, periphery: pd.DataFrame | None,
                  peer_groups: pd.DataFrame | None,
                  person_areas: Mapping[str, str] | None = None) -> dict[str, pd.DataFrame | None]:
    """The frames of an agency's pack: ``members``, ``removed``, ``periphery`` and ``peer_groups``
    cut to the people it works with (see the module docstring); unchanged when it names no areas.

    ``person_areas``: each person's area (person id -> area), for the removed people; a removed
    person whose area is not known is left out.
    """
    if not agency.areas:
        return {"members": members, "removed": removed, "periphery": periphery, "peer_groups": peer_groups}
    areas = {str(a) for a in agency.areas}
    mine = members[members["area"].astype(str).isin(areas)] if "area" in members.columns else members.iloc[:0]
    ids = set(mine["person_id"].astype(str))
    where = dict(person_areas or {})
    gone = removed[removed["person_id"].astype(str).map(lambda p: str(where.get(p, "")) in areas).astype(bool)]
    linked = None
    if periphery is not None:
        links = periphery["linked_to"] if "linked_to" in periphery.columns else pd.Series("", index=periphery.index)
        kept = [[i for i in _linked(v) if i in ids] for v in links]
        linked = periphery[pd.Series([bool(k) for k in kept], index=periphery.index, dtype=bool)].copy()
        if "linked_to" in linked.columns:
            linked["linked_to"] = [";".join(k) for k in kept if k]
    groups = None
    if peer_groups is not None and "person_id" in peer_groups.columns:
        shown = ids | set(gone["person_id"].astype(str)) | \
            (set() if linked is None else set(linked["person_id"].astype(str)))
        label = "peer_group" if "peer_group" in peer_groups.columns else peer_groups.columns[0]
        with_mine = set(peer_groups.loc[peer_groups["person_id"].astype(str).isin(ids), label])
        groups = peer_groups[peer_groups[label].isin(with_mine) & peer_groups["person_id"].astype(str).isin(shown)]
    elif peer_groups is not None:
        groups = peer_groups.iloc[:0]
    return {"members": mine, "removed": gone, "periphery": linked, "peer_groups": groups}
