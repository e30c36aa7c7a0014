"""The house stands: every import in ``hkc/`` points down the layer table, through a package's face.

Layers, bottom up (a module imports only lower layers; siblings inside one package import each
other directly; between packages, only through the package's ``__init__``):

1. the foundation: ``errors`` < ``messages``, ``dates``, ``frames`` < ``manifest``
2. ``definitions``, ``outputs``
3. ``extract``, ``tracking``
4. ``matrix`` and, beside it, ``synth`` (imported only by ``demo``, the CLI, tests and benchmarks)
5. ``audit``, ``history`` — never each other; in ``audit`` only ``audit.refresh`` sees ``matrix``
   and ``extract`` (the engine audits any scored file)
6. ``model``, ``partnership`` — the model never imports history or partnership; partnership never
   imports the model, the audit or the matrix
7. ``refresh``, ``transparency``, ``report_text``, ``demo`` (``demo`` runs ``refresh``), and
   ``commandline`` (the CLI's options and error style, used only by ``cli.py``)

No circles, and no imports inside functions except an optional heavy dependency, whose line says
``# optional`` and why.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

HKC = Path(__file__).resolve().parents[1] / "hkc"

LAYERS: dict[str, float] = {
    "hkc": 0, "hkc.errors": 1.0, "hkc.messages": 1.1, "hkc.dates": 1.1, "hkc.frames": 1.1, "hkc.manifest": 1.2,
    "hkc.definitions": 2, "hkc.outputs": 2,
    "hkc.extract": 3, "hkc.tracking": 3,
    "hkc.matrix": 4, "hkc.synth": 4,
    "hkc.audit": 5, "hkc.history": 5,
    "hkc.model": 6, "hkc.partnership": 6, "hkc.evaluation": 6,
    "hkc.refresh": 7, "hkc.transparency": 7, "hkc.report_text": 7, "hkc.demo": 7, "hkc.commandline": 7,
}
# (importer's unit, imported unit) pairs that the table would allow but the house forbids.
FORBIDDEN = {
    ("hkc.model", "hkc.history"), ("hkc.model", "hkc.partnership"),
    ("hkc.partnership", "hkc.model"), ("hkc.partnership", "hkc.audit"), ("hkc.partnership", "hkc.matrix"),
    ("hkc.audit", "hkc.history"), ("hkc.history", "hkc.audit"),
}
# Same-layer imports the house allows.
SAME_LAYER = {("hkc.demo", "hkc.refresh")}
AUDIT_ENGINE_EXEMPT = {"hkc.audit.refresh"}  # the refresh's own audit may see the matrix and the extract
SYNTH_USERS = {"hkc.demo"}


def unit(module: str) -> str:
    """The layer unit of a dotted module name: a package (``hkc.audit``) or a top module (``hkc.dates``)."""
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 else "hkc"


def module_name(path: Path) -> str:
    rel = path.relative_to(HKC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(module: str, source: str, *, is_package: bool = False) -> list[tuple[int, str, bool, str]]:
    """``(line, imported module, at top level, the line's text)`` for every ``hkc`` or nested import."""
    tree = ast.parse(source)
    lines = source.splitlines()
    top_level = set()
    for node in tree.body:
        top_level.add(node)
        if isinstance(node, ast.Try):  # `try: import fcntl` guards at module level
            top_level.update(node.body)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                names = [".".join(base + ([node.module] if node.module else []))]
            else:
                names = [node.module or ""]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        for name in names:
            found.append((node.lineno, name, node in top_level, lines[node.lineno - 1]))
    return found


def violations(module: str, source: str, *, is_package: bool = False) -> list[str]:
    """Every way ``source`` (the text of ``module``) breaks the house rules, one line each."""
    me = unit(module)
    out = []
    for line, target, top, text in imports_of(module, source, is_package=is_package):
        where = f"{module} line {line}"
        if not top:
            if target.startswith("hkc") or "# optional" not in text:
                out.append(f"{where}: import of {target} inside a function (only an optional heavy "
                           "dependency may be, with '# optional' and why on its line)")
            continue
        if not target.startswith("hkc"):
            continue
        them = unit(target)
        if them == me:
            if target == me and module != me and me != "hkc":
                out.append(f"{where}: imports its own package's face {target}; import the sibling module")
            continue
        if them not in LAYERS or me not in LAYERS:
            out.append(f"{where}: {them if them not in LAYERS else me} has no layer in the table")
            continue
        if them == "hkc.synth" and me not in SYNTH_USERS:
            out.append(f"{where}: only {', '.join(sorted(SYNTH_USERS))} may import the synthetic force")
        elif (me, them) in FORBIDDEN:
            out.append(f"{where}: {me} must never import {them}")
        elif me == "hkc.audit" and them in ("hkc.matrix", "hkc.extract") and module not in AUDIT_ENGINE_EXEMPT:
            out.append(f"{where}: the audit engine audits any scored file; only hkc.audit.refresh imports {them}")
        elif LAYERS[them] > LAYERS[me] or (LAYERS[them] == LAYERS[me] and (me, them) not in SAME_LAYER):
            out.append(f"{where}: {me} (layer {LAYERS[me]:g}) imports {them} (layer {LAYERS[them]:g})")
        elif target != them and len(target.split(".")) > 2 and them not in ("hkc.synth",):
            out.append(f"{where}: imports {target}; import through the package's face {them}")
    return out


def all_modules() -> dict[str, tuple[str, bool]]:
    return {module_name(p): (p.read_text(encoding="utf-8"), p.name == "__init__.py")
            for p in sorted(HKC.rglob("*.py"))}


def circles(modules: dict[str, tuple[str, bool]]) -> list[list[str]]:
    """Import circles among ``hkc`` modules (top-level imports; a face counts as importing its modules)."""
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for m, (src, is_pkg) in modules.items():
        for _line, target, top, _text in imports_of(m, src, is_package=is_pkg):
            while target not in modules and "." in target:
                target = target.rsplit(".", 1)[0]
            if top and target in modules and target != m:
                graph[m].add(target)
    found, state = [], {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                found.append(path[path.index(nxt):] + [nxt] if nxt in path else [node, nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = "done"

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    return found


def test_every_import_in_hkc_points_down_the_layer_table():
    problems = [v for m, (src, is_pkg) in all_modules().items() for v in violations(m, src, is_package=is_pkg)]
    assert problems == []


def test_hkc_has_no_import_circles():
    assert circles(all_modules()) == []


def test_every_package_and_top_module_has_a_layer():
    units = {unit(m) for m in all_modules()}
    assert units <= set(LAYERS), sorted(units - set(LAYERS))


@pytest.mark.parametrize(("module", "source", "expected"), [
    ("hkc.matrix.tmp", "from hkc.audit import findings\n", "hkc.matrix (layer 4) imports hkc.audit (layer 5)"),
    ("hkc.partnership.tmp", "from hkc.matrix import rag_level\n", "hkc.partnership must never import hkc.matrix"),
    ("hkc.model.tmp", "from hkc.history import open_store\n", "hkc.model must never import hkc.history"),
    ("hkc.audit.tmp", "from hkc.history import open_store\n", "hkc.audit must never import hkc.history"),
    ("hkc.audit.groups", "from hkc.matrix import score_people\n", "only hkc.audit.refresh imports hkc.matrix"),
    ("hkc.refresh", "from hkc.audit.groups import audit_selection\n", "import through the package's face hkc.audit"),
    ("hkc.matrix.tmp", "from hkc.matrix import score_people\n", "import the sibling module"),
    ("hkc.history.tmp", "from hkc.synth import generate_force\n", "may import the synthetic force"),
    ("hkc.extract.tmp", "def f():\n    from hkc.outputs import write_csv\n", "inside a function"),
    ("hkc.extract.tmp", "def f():\n    import mlflow\n", "inside a function"),
    ("hkc.outputs.tmp", "from hkc.extract import load_extract\n", "hkc.outputs (layer 2) imports hkc.extract (layer 3)"),
    ("hkc.report_text", "from hkc.transparency import transparency_record\n", "(layer 7) imports hkc.transparency"),
])
def test_a_forbidden_import_in_a_new_module_is_caught(module, source, expected):
    found = violations(module, source)
    assert len(found) == 1 and expected in found[0], found


def test_allowed_imports_raise_nothing():
    assert violations("hkc.model.tmp", "from hkc.audit import findings\nfrom hkc.matrix import score_people\n") == []
    assert violations("hkc.audit.refresh", "from hkc.matrix import score_people\n") == []
    assert violations("hkc.model.tmp", "def f():\n    import mlflow  # optional: heavy, only when tracking\n") == []
    assert violations("hkc.demo", "from hkc.refresh import run_refresh\nfrom hkc.synth import write_force\n") == []


def test_a_planted_circle_is_found():
    modules = {"hkc.a": ("from hkc.b import x\n", False), "hkc.b": ("from hkc.a import y\n", False),
               "hkc.c": ("from hkc.a import y\n", False)}
    assert circles(modules) == [["hkc.a", "hkc.b", "hkc.a"]]
