"""Whether a file is in a pickle-based format, judged by its bytes: never by its name, never by unpickling.

Loading a pickle can run code, so such files are stored but flagged. What is recognised:

- a pickle of protocol 2 to 5 (`\\x80` and the protocol number first): `torch.save`'s legacy format,
  joblib, scikit-learn, plain `pickle.dump`;
- a pickle of protocol 0 or 1 (no magic) that imports something (`GLOBAL`/`INST`), the only opcodes
  that let an old pickle run code;
- a zip holding a `.pkl` member: `torch.save`'s format since 1.6 (`archive/data.pkl`), also `.pt`/`.bin`;
- a NumPy `.npy` whose dtype holds Python objects (stored as a pickle), alone or stored in an `.npz`.

Only a bounded head is read, plus a zip's central directory up to a budget and the heads of a few of
its members, so a huge or hostile file costs a few reads and little CPU.
"""

from __future__ import annotations

import io
import pickletools
import struct
from collections.abc import Iterator
from typing import IO

HEAD_BYTES = 64 * 1024
OLD_PICKLE_SCAN_BYTES = 16 * 1024  # opcodes parsed in Python: a few milliseconds at most
ZIP_DIRECTORY_BUDGET = 4 * 1024 * 1024  # about 50,000 member names: a torch archive lists data.pkl first
NPZ_MEMBERS_CHECKED = 64
PICKLE_SUFFIXES = (".pkl", ".pickle")
NPY_MAGIC = b"\x93NUMPY"
# Protocol 0/1 pickles start with one of these: MARK, EMPTY_DICT, EMPTY_LIST, EMPTY_TUPLE, GLOBAL.
_OLD_PICKLE_FIRST_BYTES = b"(}])c"
_CODE_OPCODES = {"GLOBAL", "INST"}
_BUILD_OPCODES = {"REDUCE", "BUILD", "OBJ", "MARK", "PUT", "TUPLE", "DICT", "LIST"}
_OLD_PICKLE_MIN_OPCODES = 16

_EOCD = struct.Struct("<4s4H2LH")  # end of central directory record
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_ZIP64_EOCD = struct.Struct("<4sQ2H2L4Q")
_CENTRAL_ENTRY = struct.Struct("<4s6H3L5H2L")
_LOCAL_HEADER = struct.Struct("<4s5H3L2H")


def is_pickle_file(handle: IO[bytes], size: int) -> bool:
    """True when the bytes in the seekable `handle` (of `size` bytes) are in a pickle-based format."""
    handle.seek(0)
    head = handle.read(HEAD_BYTES)
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return True
    if head.startswith(NPY_MAGIC):
        return _npy_holds_objects(head)
    if head.startswith(b"PK\x03\x04"):
        return _zip_holds_pickle(handle, size)
    return _is_old_protocol_pickle(head[:OLD_PICKLE_SCAN_BYTES], complete=size <= OLD_PICKLE_SCAN_BYTES)


def _npy_holds_objects(head: bytes) -> bool:
    from numpy.lib import format as npy  # imported only when a .npy turns up

    stream = io.BytesIO(head)
    try:
        version = npy.read_magic(stream)
        read_header = npy.read_array_header_1_0 if version == (1, 0) else npy.read_array_header_2_0
        _shape, _fortran, dtype = read_header(stream)  # literal_eval of a header numpy caps at 10,000 bytes
    except (ValueError, SyntaxError, TypeError, EOFError):
        return False  # numpy would refuse to load it too
    return bool(dtype.hasobject)


def _is_old_protocol_pickle(head: bytes, *, complete: bool) -> bool:
    if not head or head[0] not in _OLD_PICKLE_FIRST_BYTES:
        return False
    imports = False
    builds = False
    count = 0
    try:
        for opcode, arg, _pos in pickletools.genops(io.BytesIO(head)):
            count += 1
            if opcode.name in _CODE_OPCODES:
                # "module name": text whose lines happen to parse as opcodes rarely names real Python objects.
                if not all(part.isidentifier() for part in str(arg).replace(" ", ".").split(".")):
                    return False
                imports = True
            elif opcode.name in _BUILD_OPCODES:
                builds = True
            elif opcode.name == "STOP":
                return imports
    except ValueError:
        pass  # the end of the head cut an argument, or these are not pickle opcodes after all
    # A pickle longer than the head: judged by its start. Text and random bytes stop within a few opcodes.
    return imports and builds and not complete and count >= _OLD_PICKLE_MIN_OPCODES


def _zip_holds_pickle(handle: IO[bytes], size: int) -> bool:
    npy_offsets: list[int] = []
    for name, method, offset in _zip_members(handle, size):
        lowered = name.lower()
        if lowered.endswith(PICKLE_SUFFIXES):
            return True
        if lowered.endswith(".npy") and method == 0 and len(npy_offsets) < NPZ_MEMBERS_CHECKED:
            npy_offsets.append(offset)
    return any(_stored_npy_holds_objects(handle, offset) for offset in npy_offsets)


def _stored_npy_holds_objects(handle: IO[bytes], offset: int) -> bool:
    """An uncompressed .npy member (numpy.savez's way): its header follows the member's local header."""
    handle.seek(offset)
    local = handle.read(_LOCAL_HEADER.size)
    if len(local) < _LOCAL_HEADER.size or local[:4] != b"PK\x03\x04":
        return False
    fields = _LOCAL_HEADER.unpack(local)
    name_length, extra_length = fields[-2], fields[-1]
    handle.seek(offset + _LOCAL_HEADER.size + name_length + extra_length)
    head = handle.read(16 * 1024)
    return head.startswith(NPY_MAGIC) and _npy_holds_objects(head)


def _zip_members(handle: IO[bytes], size: int) -> Iterator[tuple[str, int, int]]:
    """(name, compression method, local header offset) of a zip's members, from its central directory."""
    tail_length = min(size, _EOCD.size + 0xFFFF)  # the record, then a comment of up to 64 KiB
    handle.seek(size - tail_length)
    tail = handle.read(tail_length)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < _EOCD.size:
        return
    _sig, _disk, _cd_disk, _disk_entries, _entries, cd_size, cd_offset, _comment = _EOCD.unpack_from(tail, at)
    if 0xFFFFFFFF in (cd_size, cd_offset) and at >= _ZIP64_LOCATOR.size:
        locator = _ZIP64_LOCATOR.unpack_from(tail, at - _ZIP64_LOCATOR.size)
        if locator[0] != b"PK\x06\x07":
            return
        handle.seek(locator[2])
        record = handle.read(_ZIP64_EOCD.size)
        if len(record) < _ZIP64_EOCD.size or record[:4] != b"PK\x06\x06":
            return
        cd_size, cd_offset = _ZIP64_EOCD.unpack(record)[-2:]
    if cd_offset >= size:
        return
    handle.seek(cd_offset)
    directory = handle.read(min(cd_size, ZIP_DIRECTORY_BUDGET))
    position = 0
    while position + _CENTRAL_ENTRY.size <= len(directory):
        fields = _CENTRAL_ENTRY.unpack_from(directory, position)
        if fields[0] != b"PK\x01\x02":
            return
        method = fields[4]
        name_length, extra_length, comment_length = fields[10], fields[11], fields[12]
        local_offset = fields[16]
        start = position + _CENTRAL_ENTRY.size
        name = directory[start : start + name_length].decode("utf-8", errors="replace")
        yield name, method, local_offset
        position = start + name_length + extra_length + comment_length
