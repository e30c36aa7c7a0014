"""The declarative definitions: settings, indicator catalogue, model and audit specifications.

The face of the package: other packages import from here; modules inside it import each other
directly.  What each module does:

=================================  ============================================================
:mod:`hkc.definitions.audit_spec`  The audit specification: ``audits/fairness.toml`` as a frozen, documented :class:`AuditSpec`.
:mod:`hkc.definitions.catalogue`   The indicator catalogue: ``features/indicators.toml`` as a frozen, documented :class:`Catalogue`.
:mod:`hkc.definitions.deployment`  A deployment folder: where definitions are found, loading them all, and ``hkc init``.
:mod:`hkc.definitions.fields`      Reading TOML into documented, frozen dataclasses: field docs, value checks, unknown keys.
:mod:`hkc.definitions.model_spec`  Model specifications: ``models/<name>.toml`` as a frozen, documented :class:`ModelSpec`.
:mod:`hkc.definitions.settings`    The declarative definitions: run settings and the indicator catalogue.
=================================  ============================================================
"""

from hkc.definitions.audit_spec import (
    AGE_BAND,
    DEFAULT_LABELS,
    METRICS,
    OUTCOME_METRICS,
    AttributeSettings,
    AuditSpec,
    BootstrapSettings,
    CalibrationSettings,
    DisclosureSettings,
    FlagSettings,
    flag_raised,
    load_audit_spec,
    refresh_audit_spec,
)
from hkc.definitions.catalogue import AXES, Catalogue, Indicator, load_catalogue
from hkc.definitions.deployment import (
    Definitions,
    init_deployment,
    load_definitions,
    packaged_defaults,
    resolve_database_url,
)
from hkc.definitions.model_spec import (
    ESTIMATORS,
    LabelSpec,
    ModelSpec,
    load_model_spec,
    model_spec_names,
    read_model_spec,
)
from hkc.definitions.settings import (
    CohortSettings,
    ConsultationSettings,
    DatabaseSettings,
    DataSettings,
    EligibilitySettings,
    InterventionSettings,
    ModelSettings,
    OutcomeSettings,
    OutputSettings,
    PartnerSettings,
    PeerSettings,
    PlaceSettings,
    RagSettings,
    RetentionSettings,
    Settings,
    TrackingSettings,
    VulnerabilitySettings,
    load_settings,
)

__all__ = [
    "AGE_BAND",
    "AXES",
    "AttributeSettings",
    "AuditSpec",
    "BootstrapSettings",
    "CalibrationSettings",
    "Catalogue",
    "CohortSettings",
    "ConsultationSettings",
    "DEFAULT_LABELS",
    "DataSettings",
    "DatabaseSettings",
    "Definitions",
    "DisclosureSettings",
    "ESTIMATORS",
    "EligibilitySettings",
    "FlagSettings",
    "Indicator",
    "LabelSpec",
    "METRICS",
    "ModelSettings",
    "ModelSpec",
    "OUTCOME_METRICS",
    "OutcomeSettings",
    "OutputSettings",
    "PartnerSettings",
    "PeerSettings",
    "PlaceSettings",
    "RagSettings",
    "InterventionSettings",
    "RetentionSettings",
    "Settings",
    "TrackingSettings",
    "VulnerabilitySettings",
    "flag_raised",
    "init_deployment",
    "load_audit_spec",
    "load_catalogue",
    "load_definitions",
    "load_model_spec",
    "load_settings",
    "model_spec_names",
    "packaged_defaults",
    "read_model_spec",
    "refresh_audit_spec",
    "resolve_database_url",
]
