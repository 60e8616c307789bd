"""Test settings: the real settings, with blobs and the embedded broker in a throw-away folder."""

import os
import tempfile
from pathlib import Path

os.environ.setdefault("FLYWHEEL_DATA_DIR", tempfile.mkdtemp(prefix="flywheel-test-"))

from config.settings import *  # noqa: E402,F403
from config.settings import DATA_DIR, STORAGES  # noqa: E402

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
if STORAGES["default"]["BACKEND"].endswith("FileSystemStorage"):
    STORAGES["default"]["OPTIONS"]["location"] = Path(DATA_DIR) / "blobs"

# Live-server threads must not keep connections open, or dropping the test database waits on them.
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
