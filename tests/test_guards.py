"""Project folders must never shadow the libraries they are named like."""

import importlib

import pytest


@pytest.mark.parametrize("module", ["platform", "datasets", "celery", "transformers"])
def test_library_is_not_shadowed_by_a_project_folder(module):
    from django.conf import settings

    imported = importlib.import_module(module)
    location = getattr(imported, "__file__", "") or ""
    assert "site-packages" in location or "lib/python" in location, location
    assert not location.startswith(str(settings.BASE_DIR / module))
