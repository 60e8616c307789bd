"""Work done after a commit lands, outside the request: counting a model's parameters."""

from __future__ import annotations

from models_hub.models import Commit, Ref, TreeEntry
from models_hub.storage.blobs import blob_open
from models_hub.storage.safetensors_check import InvalidSafetensors, parameter_counts, read_safetensors_header


def commit_analyze(*, commit_id: int) -> None:
    """Count the parameters in a commit's safetensors files if it is still the head of main.

    Safe to run twice: it only recomputes and overwrites one number.
    """
    commit = Commit.objects.select_related("repository").filter(pk=commit_id).first()
    if commit is None:
        return
    repo = commit.repository
    if not Ref.objects.filter(repository=repo, kind=Ref.Kind.BRANCH, name="main", commit=commit).exists():
        return
    total = 0
    found = False
    for entry in TreeEntry.objects.filter(commit=commit, path__endswith=".safetensors").select_related("blob"):
        try:
            with blob_open(entry.blob) as handle:
                tensors = read_safetensors_header(handle, entry.blob.size)
        except InvalidSafetensors:
            continue
        found = True
        total += sum(parameter_counts(tensors).values())
    type(repo).objects.filter(pk=repo.pk).update(parameter_count=total if found else None)
