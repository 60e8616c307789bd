"""Django starts without torch, transformers or trl: the training app imports them only inside the job."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import sys, django
django.setup()
import config.urls, training.api, training.job, training.services, training.tasks, training.admin  # noqa
heavy = sorted(name for name in ("torch", "transformers", "trl", "peft", "datasets") if name in sys.modules)
print(",".join(heavy))
"""


def test_the_training_app_loads_without_the_ml_libraries():
    env = {"DJANGO_SETTINGS_MODULE": "config.settings_test", "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == ""
