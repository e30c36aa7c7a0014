"""The run manifest: typed fields, run.json as plain data, and the figures tracking receives."""

from __future__ import annotations

import json

from hkc.manifest import AuditSummary, RunManifest


def manifest(**changes) -> RunManifest:
    fields = dict(as_of="2026-09-30", extract_date="2026-10-01", data_dir="/x", inputs={"people": {"file": "p.csv",
                  "sha256": "a"}}, inputs_sha256="b", counts={"people": {"read": 3, "used": 2, "rejected": 1}},
                  extra_columns={}, scored=2, eligible=1, cohort_size=1, removed=0, model=None, periphery=0,
                  peer_groups=0, places=0, previous_as_of=None, config_sha256="c", config_files={}, definitions="d",
                  audit=AuditSummary(spec_sha256="e", flags=2, findings=5, retrospective=False), hkc_version="0.1",
                  git_commit=None, python="3.11", database="sqlite:///h.db", started_at="2026-10-01T00:00:00+00:00")
    return RunManifest(**(fields | changes))


def test_run_json_holds_the_finishing_fields_only_once_the_run_has_them():
    m = manifest()
    assert "finished_at" not in m.as_dict() and "stages_seconds" not in m.as_dict()
    done = m.finished({"score": 0.5})
    assert done.as_dict()["stages_seconds"] == {"score": 0.5} and done.finished_at is not None
    assert m.finished_at is None  # the original is unchanged


def test_the_manifest_reads_like_its_json():
    m = manifest()
    assert m["cohort_size"] == 1 and m.get("audit")["flags"] == 2 and m.get("nothing", 7) == 7
    assert dict(m) == json.loads(json.dumps(m.as_dict()))


def test_tracking_gets_counts_and_sizes_only():
    m = manifest()
    assert m.tracking_metrics() == {"rows/people/read": 3.0, "rows/people/used": 2.0, "rows/people/rejected": 1.0,
                                    "cohort_size": 1.0, "eligible": 1.0, "scored": 2.0, "removed": 0.0}
    assert set(m.tracking_params()) == {"as_of", "config_sha256", "inputs_sha256", "hkc_version", "git_commit",
                                        "previous_as_of", "audit_spec_sha256"}
