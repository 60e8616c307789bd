"""`make run` helper: once the web server answers, print where it is and how to log in, then wait.

Honcho stops every process when one exits, so this one stays until Ctrl-C.
"""

from __future__ import annotations

import os
import signal
import time
import urllib.request

# Honcho gives every process its own PORT (base + 100 per process), so the Makefile passes the web URL.
url = os.environ.get("FLYWHEEL_WEB_URL") or f"http://127.0.0.1:{os.environ.get('PORT', '8000')}/"
deadline = time.monotonic() + 600
while time.monotonic() < deadline:
    try:
        with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - a local http URL
            break
    except OSError:
        time.sleep(0.5)
print(
    f"\n  Flywheel is ready: {url}\n"
    "  Demo login: demo / flywheel-demo\n"
    "  Ctrl-C stops the web server and the workers.\n",
    flush=True,
)
signal.pause()
