"""Structural guards: libraries are not shadowed by project folders, and app imports go one way."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent
# Each app and the apps it must never import: accounts stands alone, the registry stands on accounts,
# and the apps of the feedback loop (inference, feedback, training) stand on both.
LOOP_APPS = {"inference", "feedback", "training"}
FORBIDDEN_IMPORTS = {
    "accounts": {"models_hub", *LOOP_APPS},
    "models_hub": LOOP_APPS,
}
# Modules that models import: rules about values only, so they may import no project module at all.
LEAF_MODULES = ["accounts/validators.py", "models_hub/paths.py", "models_hub/errors.py"]
PROJECT_PACKAGES = {"accounts", "models_hub", "config", *LOOP_APPS}


@pytest.mark.parametrize("module", ["platform", "datasets", "celery", "transformers"])
def test_library_is_not_shadowed_by_a_project_folder(module):
    imported = importlib.import_module(module)
    location = getattr(imported, "__file__", "") or ""
    assert "site-packages" in location or "lib/python" in location, location
    assert not location.startswith(str(settings.BASE_DIR / module))


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at the top or inside a function (the project uses absolute imports)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def app_modules(app: str) -> list[Path]:
    """An app's code: its tests may set up data across apps, and migrations are generated."""
    return [
        path
        for path in sorted((ROOT / app).rglob("*.py"))
        if not {"tests", "migrations"} & set(path.relative_to(ROOT / app).parts)
    ]


@pytest.mark.parametrize("app", sorted(FORBIDDEN_IMPORTS))
def test_app_imports_go_one_way(app):
    offences = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in app_modules(app)
        for name in sorted(imported_modules(path))
        if name.split(".")[0] in FORBIDDEN_IMPORTS[app]
    ]
    assert not offences, offences


@pytest.mark.parametrize("module", LEAF_MODULES)
def test_leaf_modules_import_no_project_module(module):
    project = [name for name in imported_modules(ROOT / module) if name.split(".")[0] in PROJECT_PACKAGES]
    assert not project, f"{module} imports {project}: models import it, so this makes a cycle"
