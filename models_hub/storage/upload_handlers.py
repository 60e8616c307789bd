"""A multipart upload handler that hashes files while Django streams them to disk."""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.core.files.uploadedfile import TemporaryUploadedFile
from django.core.files.uploadhandler import StopUpload, TemporaryFileUploadHandler


class HashedTemporaryUploadedFile(TemporaryUploadedFile):
    sha256: str = ""


class HashingFileUploadHandler(TemporaryFileUploadHandler):
    chunk_size = 1024 * 1024

    def new_file(self, *args, **kwargs) -> None:
        super().new_file(*args, **kwargs)
        self.file = HashedTemporaryUploadedFile(
            self.file_name, self.content_type, 0, self.charset, self.content_type_extra
        )
        self._digest = hashlib.sha256()
        self._received = 0

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        self._received += len(raw_data)
        if self._received > settings.FLYWHEEL_MAX_UPLOAD_BYTES:
            # The view reads this flag and answers 413; the partial file is discarded.
            self.request.upload_too_large = True
            self.file.close()
            raise StopUpload(connection_reset=False)
        self._digest.update(raw_data)
        self.file.write(raw_data)

    def file_complete(self, file_size: int):
        uploaded = super().file_complete(file_size)
        uploaded.sha256 = self._digest.hexdigest()
        return uploaded
