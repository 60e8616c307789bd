"""Pickle-based files are recognised by their bytes, with bounded reads, and shown on the repository page."""

from __future__ import annotations

import collections
import io
import os
import pickle
import zipfile

import numpy as np
import pytest

from conftest import client_for, make_commit, make_repo
from models_hub.analysis import commit_analyze
from models_hub.models import Blob, Repository
from models_hub.storage.pickle_check import HEAD_BYTES, ZIP_DIRECTORY_BUDGET, is_pickle_file


class CountingReader(io.BytesIO):
    """A file that counts the bytes read from it."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.bytes_read = 0

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        self.bytes_read += len(data)
        return data


def judge(data: bytes) -> bool:
    return is_pickle_file(io.BytesIO(data), len(data))


def torch_save(obj, **kwargs) -> bytes:
    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer, **kwargs)
    return buffer.getvalue()


def npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def npz(**arrays: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def zipped(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_torch_checkpoints_in_both_formats_are_pickles():
    import torch

    assert judge(torch_save({"weight": torch.zeros(4)}))  # a zip with archive/data.pkl
    assert judge(torch_save({"weight": torch.zeros(4)}, _use_new_zipfile_serialization=False))  # protocol 2


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_every_pickle_protocol_with_a_magic_is_a_pickle(protocol):
    assert judge(pickle.dumps({"a": [1, 2, 3]}, protocol=protocol))


@pytest.mark.parametrize("protocol", [0, 1])
def test_old_protocols_are_pickles_when_they_import_something(protocol):
    assert judge(pickle.dumps(collections.OrderedDict(a=1), protocol=protocol))
    # Longer than the part of the file that is read, judged by its start.
    assert judge(pickle.dumps([collections.OrderedDict(a=i) for i in range(20_000)], protocol=protocol))


def test_numpy_object_arrays_are_pickles_and_plain_arrays_are_not():
    assert judge(npy(np.array([1, "two", None], dtype=object)))
    assert judge(npy(np.zeros(3, dtype=[("x", "f4"), ("y", "O")])))
    assert not judge(npy(np.zeros((4, 4), dtype=np.float32)))
    assert judge(npz(weights=np.zeros(3), extra=np.array([None], dtype=object)))
    assert not judge(npz(weights=np.zeros(3)))


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(os.urandom(200_000), id="random bytes"),
        pytest.param(b"", id="empty"),
        pytest.param(b'{"n_layer": 2}', id="json"),
        pytest.param(("cat,1\ncow,2\n" * 20_000).encode(), id="csv whose rows start like GLOBAL"),
        pytest.param(("(a) ]b[ }c{\n" * 20_000).encode(), id="text starting with pickle opcodes"),
        pytest.param(zipped({"images/cat.png": b"\x89PNG", "labels.txt": b"cat"}), id="zip of data"),
        pytest.param(b"\x80\x01 protocol one has no magic", id="0x80 then a byte that is no protocol"),
    ],
)
def test_other_bytes_are_not_pickles(data):
    assert not judge(data)


def test_safetensors_are_not_pickles():
    import torch
    from safetensors.torch import save

    assert not judge(save({"weight": torch.zeros(4)}))


def test_a_big_file_costs_a_bounded_read():
    data = os.urandom(HEAD_BYTES * 50)
    reader = CountingReader(data)
    assert not is_pickle_file(reader, len(data))
    assert reader.bytes_read <= HEAD_BYTES


def test_a_zip_with_a_huge_directory_costs_a_bounded_read():
    data = zipped({f"member-{i:06}.txt": b"" for i in range(60_000)})
    reader = CountingReader(data)
    assert not is_pickle_file(reader, len(data))
    assert reader.bytes_read <= HEAD_BYTES + 0x10000 + ZIP_DIRECTORY_BUDGET + 100


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"PK\x03\x04" + b"\0" * 100, id="zip without a directory"),
        pytest.param(b"PK\x03\x04" + b"\0" * 100 + b"PK\x05\x06" + b"\xff" * 18, id="directory past the end"),
        pytest.param(zipped({"a.pkl": b"x"})[:-30], id="truncated zip"),
        pytest.param(b"\x93NUMPY\x01\x00\xff\xff{'descr': '|O'", id="npy header longer than the file"),
        pytest.param(b"\x93NUMPY\x01\x00\x10\x00not a dict at all", id="npy header that is no dict"),
    ],
)
def test_malformed_files_are_answered_not_crashed_on(data):
    assert judge(data) in (True, False)


@pytest.mark.django_db
def test_repository_page_names_the_pickle_files_found_by_content(alice):
    import torch

    repo = make_repo(owner=alice, name="mixed")
    make_commit(
        repo=repo,
        author=alice,
        files={
            "checkpoint.pt": torch_save({"w": torch.zeros(2)}),
            "features.dat": pickle.dumps({"a": 1}, protocol=4),
            "objects.npy": npy(np.array([None], dtype=object)),
            "random.bin": os.urandom(4096),  # the name said pickle; the bytes do not
            "floats.npy": npy(np.zeros(3)),
        },
    )
    repo.refresh_from_db()
    assert repo.has_unsafe_files

    html = client_for(alice).get("/alice/mixed").content.decode()
    warning = html[html.index('class="warning-box pickle-files"') :]
    warning = warning[: warning.index("</div>")]
    for path in ("checkpoint.pt", "features.dat", "objects.npy"):
        assert f'href="/alice/mixed/blob/main/{path}"' in warning
    assert "random.bin" not in warning and "floats.npy" not in warning

    tree = client_for(alice).get("/alice/mixed/tree/main").content.decode()
    assert tree.count("pickle format: not loaded") == 3


@pytest.mark.django_db
def test_random_bytes_named_bin_raise_no_flag(alice):
    repo = make_repo(owner=alice, name="plain")
    make_commit(repo=repo, author=alice, files={"pytorch_model.bin": os.urandom(4096), "config.json": b"{}"})
    repo.refresh_from_db()
    assert not repo.has_unsafe_files
    assert "Pickle-format files" not in client_for(alice).get("/alice/plain").content.decode()


@pytest.mark.django_db
def test_analysis_judges_blobs_stored_before_detection(alice):
    repo = make_repo(owner=alice, name="legacy")
    commit = make_commit(repo=repo, author=alice, files={"old.bin": pickle.dumps([1], protocol=2), "a.txt": b"a"})
    Blob.objects.update(is_pickle=None)  # as migration 0009 leaves the blobs it found
    Repository.objects.filter(pk=repo.pk).update(has_unsafe_files=False)

    commit_analyze(commit_id=commit.pk)
    commit_analyze(commit_id=commit.pk)  # safe to run twice

    verdicts = dict(Blob.objects.filter(tree_entries__commit=commit).values_list("tree_entries__path", "is_pickle"))
    assert verdicts["old.bin"] is True and verdicts["a.txt"] is False
    repo.refresh_from_db()
    assert repo.has_unsafe_files
