"""The architecture, enforced (docs/architecture.md): the import contracts of pyproject.toml
(``lint-imports``: apps depend downwards only, pure rule modules import no framework), ruff,
and — a second net under import-linter — no module of a lower app names a higher app in any
import, at module level or inside a function."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
# Each app, and the apps above it (healthaid is the project package on top of them all).
ABOVE = {
    "core": ["registry", "claims", "settlement", "aid", "payments", "dashboards", "healthaid"],
    "registry": ["claims", "settlement", "aid", "payments", "dashboards", "healthaid"],
    "claims": ["settlement", "aid", "payments", "dashboards", "healthaid"],
    "settlement": ["aid", "payments", "dashboards", "healthaid"],
    "aid": ["payments", "dashboards", "healthaid"],
    "payments": ["dashboards", "healthaid"],
    "dashboards": ["healthaid"],
}


def _run(*command):
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_import_contracts_are_kept():
    result = _run(str(BIN / "lint-imports"), "--no-cache")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def test_ruff_finds_nothing():
    result = _run(str(BIN / "ruff"), "check", ".")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def _imported_modules(path: Path):
    """(line, module) of every import statement of ``path``, inside functions too."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module


@pytest.mark.parametrize("app", sorted(ABOVE))
def test_no_module_of_an_app_imports_an_app_above_it(app):
    offending = [
        f"{path.relative_to(ROOT)}:{line}: {module}"
        for path in sorted((ROOT / app).rglob("*.py"))
        if "migrations" not in path.parts
        for line, module in _imported_modules(path)
        if module.split(".")[0] in ABOVE[app]
    ]
    assert offending == []


def test_the_grep_finds_an_upward_import_inside_a_function(tmp_path):
    """The check above can fail: a function-level upward import is found."""
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from settlement import tasks\n\n    return tasks\n", encoding="utf-8")
    assert [m for _, m in _imported_modules(probe)] == ["settlement"]
