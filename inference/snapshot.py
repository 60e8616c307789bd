"""A commit's files as a local folder that transformers can load, cached per commit.

Local blobs are hard-linked (no copy); blobs in a bucket are streamed down once. Only what a causal
LM needs is materialised, and pickle-based weights never are: safetensors is the only weight format.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

from django.conf import settings
from django.core.files.storage import default_storage

from models_hub.models import Commit, TreeEntry
from models_hub.storage.blobs import blob_open

# Configuration, tokenizer and weight files at the repository root; everything else is irrelevant to generation.
WANTED_SUFFIXES = (".json", ".safetensors", ".txt", ".model", ".jinja")


class UnusableModel(Exception):
    """The revision cannot be run; the message says why, for the person who asked."""


def model_files(commit: Commit) -> dict[str, TreeEntry]:
    """The root-level files that generation needs, by path (one query)."""
    entries = TreeEntry.objects.filter(commit=commit).exclude(path__contains="/").select_related("blob")
    return {e.path: e for e in entries if e.path.endswith(WANTED_SUFFIXES)}


def check_runnable(paths: set[str], all_paths: set[str]) -> None:
    """Refuse what cannot run, before anything is queued: no config, no tokenizer, no safetensors weights."""
    if "config.json" not in paths:
        raise UnusableModel("This revision has no config.json at its root: it is not a transformers model.")
    if not any(p.endswith(".safetensors") for p in paths):
        pickled = sorted(p for p in all_paths if p.endswith((".bin", ".pt", ".pth", ".ckpt", ".pkl")))
        if pickled:
            raise UnusableModel(
                f"This revision only has pickle-based weights ({', '.join(pickled[:3])}), which can run code when "
                "loaded; Flywheel only loads safetensors. Convert the weights to safetensors and commit them."
            )
        raise UnusableModel("This revision has no .safetensors weights at its root.")
    if not paths & {"tokenizer.json", "tokenizer_config.json", "vocab.json", "tokenizer.model"}:
        raise UnusableModel("This revision has no tokenizer files (tokenizer.json or tokenizer_config.json).")


def snapshot_dir(commit: Commit) -> Path:
    """The folder for `commit`, materialised on first use; safe against concurrent builders."""
    root = Path(settings.DATA_DIR) / "snapshots"
    target = root / commit.oid
    if (target / ".complete").exists():
        return target
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    files = model_files(commit)
    check_runnable(set(files), set(TreeEntry.objects.filter(commit=commit).values_list("path", flat=True)))
    scratch = Path(tempfile.mkdtemp(prefix=f".{commit.oid}-", dir=root))
    try:
        for path, entry in files.items():
            _materialise(entry, scratch / path)
        (scratch / ".complete").touch()
        # Another worker may have finished first: theirs is as good as ours.
        with contextlib.suppress(OSError):
            os.rename(scratch, target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target


def _materialise(entry: TreeEntry, destination: Path) -> None:
    try:
        os.link(default_storage.path(entry.blob.storage_key), destination)
        return
    except (NotImplementedError, OSError):  # a bucket, or another file system: copy the bytes
        pass
    with blob_open(entry.blob) as source, open(destination, "wb") as out:
        shutil.copyfileobj(source, out, 1024 * 1024)
