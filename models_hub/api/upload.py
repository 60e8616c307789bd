"""REST v1 upload: multipart files streamed to disk while hashed, stored as blobs, committed at once."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from models_hub import services
from models_hub.api.common import ERRORS, REPO_PATH_PARAMETERS, ErrorSerializer, repo_for_writing, revision_parameter
from models_hub.errors import BadRequest, PayloadTooLarge
from models_hub.services.quotas import quota_check
from models_hub.services.upload_checks import check_received_file, clean_path
from models_hub.storage.blobs import NewBlobs

MAX_FILES = 100


def upload_paths(request: Request, files: list) -> list[str]:
    """The path of each file in the repository: `path_<n>`, else the n-th `paths` value, else its name.

    Django keeps only the last component of a multipart file name, so folders come from the fields.
    """
    listed = request.data.getlist("paths")
    if listed and len(listed) != len(files):
        raise BadRequest(f"Got {len(listed)} 'paths' for {len(files)} files: send one path per file, in order.")
    paths = []
    for index, upload in enumerate(files):
        raw = request.data.get(f"path_{index}") or (listed[index] if listed else upload.name)
        paths.append(clean_path(raw))
    if len(set(paths)) != len(paths):
        raise BadRequest("The same path was given to two files.")
    return paths


def _content_length(request: Request) -> int:
    raw = request.META.get("CONTENT_LENGTH") or "0"
    return int(raw) if raw.isdigit() else 0


class UploadApi(APIView):
    parser_classes = [MultiPartParser]

    class InputSerializer(serializers.Serializer):
        files = serializers.ListField(child=serializers.FileField(), help_text="One or more files")
        paths = serializers.ListField(
            child=serializers.CharField(), required=False, help_text="The path of each file, in order"
        )
        message = serializers.CharField(required=False, help_text="Commit title")
        description = serializers.CharField(required=False)
        parent_commit = serializers.CharField(required=False, help_text="Refuse (412) if the branch moved past this")

        class Meta:
            ref_name = "UploadForm"

    class OutputSerializer(serializers.Serializer):
        commit = serializers.CharField()
        files = serializers.ListField(child=serializers.DictField())

        class Meta:
            ref_name = "UploadResult"

    @extend_schema(
        parameters=[*REPO_PATH_PARAMETERS, revision_parameter("branch", "Branch to commit to")],
        request={"multipart/form-data": InputSerializer},
        responses={201: OutputSerializer, **ERRORS, 412: ErrorSerializer, 413: ErrorSerializer},
    )
    def post(self, request: Request, kind: str, namespace: str, name: str, branch: str) -> Response:
        # Permission first: nobody's bytes are read into the blob store before we know they may write.
        repo = repo_for_writing(request, kind, namespace, name)
        # Before the body is read: the whole request (its files and a little more) must fit in the quota.
        quota_check(repo=repo, files=[(None, _content_length(request))])
        files = request.FILES.getlist("files")
        if getattr(request._request, "upload_too_large", False):
            raise PayloadTooLarge(
                f"A file is larger than the upload limit of {settings.FLYWHEEL_MAX_UPLOAD_BYTES:,} bytes."
            )
        if not files:
            raise BadRequest("No files: send one or more files in the multipart field 'files'.")
        if len(files) > MAX_FILES:
            raise BadRequest(f"At most {MAX_FILES} files per upload.")
        paths = upload_paths(request, files)
        for path, upload in zip(paths, files, strict=True):  # refused before any of them is stored
            check_received_file(path, upload.temporary_file_path(), upload.size)
        title = request.data.get("message") or services.upload_title(paths)
        with NewBlobs() as stored:  # a refused commit leaves no blob behind
            additions = [
                # Already hashed while streamed to disk; storing it is a rename, not a copy.
                services.FileAddition(
                    path,
                    stored.from_temp_file(path=upload.temporary_file_path(), sha256=upload.sha256, size=upload.size),
                )
                for path, upload in zip(paths, files, strict=True)
            ]
            commit = services.commit_create(
                repo=repo,
                author=request.user,
                title=title,
                description=request.data.get("description", ""),
                branch=branch,
                additions=additions,
                parent_oid=request.data.get("parent_commit") or None,
            )
        body = {
            "commit": commit.oid,
            "files": [{"path": a.path, "size": a.blob.size, "sha256": a.blob.sha256} for a in additions],
        }
        return Response(self.OutputSerializer(body).data, status=status.HTTP_201_CREATED)
