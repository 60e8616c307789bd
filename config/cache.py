"""A file-based cache whose add() is atomic across processes, as Redis' is.

Django's FileBasedCache.add() checks for the key and then writes it, so two gunicorn workers (or
threads) adding the same key at once both succeed. The download counter relies on add() being
"first one wins", so here the entry is written to a temporary file and hard-linked into place:
link() fails if the name exists, and the entry is complete the moment it appears.
"""

from __future__ import annotations

import os
import tempfile

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.filebased import FileBasedCache


class AtomicAddFileCache(FileBasedCache):
    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None) -> bool:
        if self.has_key(key, version):  # also removes the entry if it has expired
            return False
        self._createdir()
        self._cull()
        fname = self._key_to_file(key, version)
        fd, tmp_path = tempfile.mkstemp(dir=self._dir)
        try:
            with open(fd, "wb") as handle:
                self._write_content(handle, timeout, value)
            os.link(tmp_path, fname)
        except FileExistsError:
            return False
        finally:
            os.remove(tmp_path)
        return True
