"""Work done after a commit lands, outside the request: judging blobs stored before pickle detection,
and counting a model's parameters."""

from __future__ import annotations

from models_hub.models import Blob, Commit, Ref, TreeEntry
from models_hub.storage.blobs import blob_open
from models_hub.storage.pickle_check import is_pickle_file
from models_hub.storage.safetensors_check import InvalidSafetensors, parameter_counts, read_safetensors_header


def commit_analyze(*, commit_id: int) -> None:
    """Judge the commit's unjudged blobs; if it is still the head of main, refresh the repository's
    pickle flag and count the parameters in its safetensors files.

    Safe to run twice: it only fills in missing verdicts and overwrites two values.
    """
    commit = Commit.objects.select_related("repository").filter(pk=commit_id).first()
    if commit is None:
        return
    blobs_judge(Blob.objects.filter(tree_entries__commit=commit, is_pickle__isnull=True).distinct())
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
    has_pickles = Blob.objects.filter(tree_entries__commit=commit, is_pickle=True).exists()
    type(repo).objects.filter(pk=repo.pk).update(parameter_count=total if found else None, has_unsafe_files=has_pickles)


def blobs_judge(blobs) -> None:
    """Decide whether each blob is a pickle, from a bounded read of its bytes."""
    for blob in blobs:
        with blob_open(blob) as handle:
            verdict = is_pickle_file(handle, blob.size)
        Blob.objects.filter(pk=blob.pk).update(is_pickle=verdict)
