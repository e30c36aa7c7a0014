"""The periphery list as the history keeps it: who, in what role, linked to how many listed people.

The refresh's peer map (:mod:`hkc.matrix.peers`) lists the people linked to cohort members who are not
in the cohort.  They are not listed, but they go out in the police and partner packs, so subject
access must be able to tell them so ("on the periphery list", never "never on a list").  The
history keeps, per run, only what that answer needs: the person, the role of their links in the
peer map's own words, and how many cohort members they are linked to.
"""

from __future__ import annotations

import pandas as pd

__all__ = ["LINK_ROLES", "periphery_rows"]

# the peer map's link types (hkc.matrix.peers LINK_TYPES) in the words its docstring gives them
LINK_ROLES = {"co_offending": "co-offending", "at_risk": "possibly at risk from cohort members",
              "other": "linked in other roles"}

UNKNOWN_ROLE = "role not recorded"

COLUMNS = ["person_id", "link_role", "linked_to"]


def periphery_rows(periphery: pd.DataFrame | None) -> pd.DataFrame:
    """The ``periphery`` table's rows (without ``run_id``) from a run's periphery list.

    ``periphery``: the peer map's frame (``person_id``, ``link_type``, ``linked_to``: the cohort
    members' ids joined by ``;``), or a frame already in this table's columns (``link_role``, and
    ``linked_to`` a count).  None or empty: no rows.
    """
    if periphery is None or periphery.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in COLUMNS})
    if "link_role" in periphery.columns:
        return periphery[COLUMNS].assign(person_id=periphery["person_id"].astype(str),
                                         linked_to=periphery["linked_to"].astype(int))
    types = periphery["link_type"] if "link_type" in periphery.columns else pd.Series("", index=periphery.index)
    linked = periphery["linked_to"].fillna("").astype(str)
    return pd.DataFrame({
        "person_id": periphery["person_id"].astype(str),
        "link_role": [LINK_ROLES.get(str(t), UNKNOWN_ROLE) for t in types.fillna("")],
        "linked_to": [len({m for m in text.split(";") if m}) for text in linked],
    }).drop_duplicates("person_id").reset_index(drop=True)
