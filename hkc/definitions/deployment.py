"""A deployment folder: where definitions are found, loading them all, and ``hkc init``.

Where relative paths in the settings (the history database, MLflow's store) resolve: in a deployment
folder (``hkc init``, or ``--config``), under that folder; with the packaged defaults, under hkc's
data folder — ``$HKC_HOME`` if set, else ``$XDG_DATA_HOME/hkc`` (``~/.local/share/hkc``).  Never the
current folder: a refresh run from another folder must find the same history, not start a new one.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from hkc.definitions.catalogue import Catalogue, load_catalogue
from hkc.definitions.fields import _shown, one_line
from hkc.definitions.settings import Settings, load_settings
from hkc.errors import ConfigError
from hkc.messages import did_you_mean

__all__ = ['Definitions', 'load_definitions', 'packaged_defaults', 'init_deployment', 'DEFINITION_FOLDERS', 'data_home']


DEFINITION_FOLDERS = ("config", "features", "models", "audits")


@dataclass(frozen=True)
class Definitions:
    """Everything a run reads from the definitions folders."""

    root: Path
    source: str
    settings: Settings
    catalogue: Catalogue
    base: Path = field(default_factory=lambda: data_home())  # where relative paths (database, tracking) resolve

    def describe(self) -> str:
        return f"definitions: {self.source} ({self.root})"

    def database_url(self) -> str:
        return resolve_database_url(self.settings.database.url, self.base)


def packaged_defaults() -> Path:
    """The folder holding the default definitions shipped with hkc."""
    here = Path(__file__).resolve().parents[1]  # the hkc package
    installed = here / "defaults"
    if (installed / "config" / "hkc.toml").is_file():
        return installed
    checkout = here.parent  # a source checkout or editable install: the repository root
    if (checkout / "config" / "hkc.toml").is_file():
        return checkout
    raise ConfigError("hkc's default definitions are missing from the installation; reinstall hkc")


def data_home() -> Path:
    """hkc's data folder for runs on the packaged defaults: ``$HKC_HOME``, else ``$XDG_DATA_HOME/hkc``,
    else ``~/.local/share/hkc`` (made when the history is first created, private to its owner)."""
    home = os.environ.get("HKC_HOME", "").strip()
    if home:
        return Path(home).expanduser().resolve()
    xdg = os.environ.get("XDG_DATA_HOME", "").strip()
    return (Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share").resolve() / "hkc"


def _deployment_root(config: Path | None, cwd: Path) -> tuple[Path, str]:
    if config is not None:
        config = config.resolve()
        if not config.is_file():
            raise ConfigError(f"--config {config}: file not found", file=str(config))
        parent = config.parent
        root = parent.parent if parent.name == "config" else parent
        return root, f"--config {config}"
    if (cwd / "config" / "hkc.toml").is_file():
        return cwd.resolve(), "deployment folder"
    return packaged_defaults(), "packaged defaults"


def load_definitions(*, config: Path | None = None, cwd: Path | None = None) -> Definitions:
    """Find and load the settings and catalogue a run uses (see the module docstring)."""
    cwd = (cwd or Path.cwd()).resolve()
    root, source = _deployment_root(config, cwd)
    settings_path = config.resolve() if config is not None else root / "config" / "hkc.toml"
    catalogue_path = root / "features" / "indicators.toml"
    if not catalogue_path.is_file():
        catalogue_path = packaged_defaults() / "features" / "indicators.toml"
    settings = load_settings(settings_path)
    catalogue = load_catalogue(catalogue_path)
    unknown = [t for t in settings.outcome.types if t not in catalogue.indicators]
    if unknown:
        hint = did_you_mean(unknown[0], catalogue.codes)
        raise ConfigError(one_line(f"{settings_path} [outcome] types: {_shown(unknown[0])} is not in "
                                   f"{catalogue_path}; valid: {', '.join(catalogue.codes)}{hint}"),
                          file=str(settings_path), key="types")
    # Relative paths in the settings resolve in the deployment folder; with the packaged
    # defaults (never written to) in hkc's data folder, whatever the current folder is.
    base = data_home() if source == "packaged defaults" else root
    return Definitions(root=root, source=source, settings=settings, catalogue=catalogue, base=base)


def resolve_database_url(url: str, root: Path) -> str:
    """Make a relative SQLite path absolute under ``root``; leave other URLs alone."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and url != prefix + ":memory:":
        return prefix + str((root / url[len(prefix):]).resolve())
    return url


def init_deployment(target: Path) -> list[Path]:
    """Copy the default definitions into ``target`` for editing; refuse to overwrite."""
    source = packaged_defaults()
    existing = [target / name for name in DEFINITION_FOLDERS if (target / name).exists()]
    if existing:
        raise ConfigError(f"{existing[0]} already exists; choose an empty folder or remove it first",
                          file=str(existing[0]))
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for name in DEFINITION_FOLDERS:
        src = source / name
        if src.is_dir():
            shutil.copytree(src, target / name, ignore=shutil.ignore_patterns("__pycache__"))
            written.append(target / name)
    return written
