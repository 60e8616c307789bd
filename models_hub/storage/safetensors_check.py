"""Checks a .safetensors file's header against its size without loading any tensor."""

from __future__ import annotations

import json
import math
import struct
from typing import IO

MAX_HEADER_BYTES = 100 * 1024 * 1024
# Offsets and dimensions beyond 64 bits describe no real file, and huge integers make math.prod slow.
MAX_INT = 2**64
DTYPE_BYTES = {
    "BOOL": 1,
    "U8": 1,
    "I8": 1,
    "F8_E5M2": 1,
    "F8_E4M3": 1,
    "F8_E8M0": 1,
    "I16": 2,
    "U16": 2,
    "F16": 2,
    "BF16": 2,
    "I32": 4,
    "U32": 4,
    "F32": 4,
    "I64": 8,
    "U64": 8,
    "F64": 8,
}


class InvalidSafetensors(ValueError):
    pass


def read_safetensors_header(handle: IO[bytes], size: int) -> dict:
    """Validate the header of a safetensors file of `size` bytes; return {name: tensor info}.

    Refuses a header that is truncated, not JSON, or whose tensors do not tile the data
    section exactly (the size on disk must match what the header describes).
    """
    if size < 8:
        raise InvalidSafetensors("The file is too short to be a safetensors file.")
    prefix = handle.read(8)
    if len(prefix) != 8:
        raise InvalidSafetensors("The file is too short to be a safetensors file.")
    (header_len,) = struct.unpack("<Q", prefix)
    if header_len > MAX_HEADER_BYTES or 8 + header_len > size:
        raise InvalidSafetensors("The safetensors header length does not fit in the file.")
    raw = handle.read(header_len)
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        raise InvalidSafetensors("The safetensors header is not valid JSON.") from None
    except RecursionError:  # the C decoder stops at the interpreter's recursion limit: fast and bounded
        raise InvalidSafetensors("The safetensors header nests too deeply.") from None
    if not isinstance(header, dict):
        raise InvalidSafetensors("The safetensors header is not a JSON object.")
    data_size = size - 8 - header_len
    tensors = {name: info for name, info in header.items() if name != "__metadata__"}
    spans = []
    for name, info in tensors.items():
        label = repr(name[:200])
        try:
            dtype = info["dtype"]
            shape = [_integer(dim) for dim in info["shape"]]
            start, end = (_integer(x) for x in info["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise InvalidSafetensors(f"Tensor {label} has a malformed entry in the header.") from None
        if not isinstance(dtype, str) or dtype not in DTYPE_BYTES:
            raise InvalidSafetensors(f"Tensor {label} has an unknown dtype {str(dtype)[:50]!r}.")
        if any(dim < 0 for dim in shape) or not 0 <= start <= end <= data_size:
            raise InvalidSafetensors(f"Tensor {label} points outside the file.")
        if (end - start) != _element_count(shape, limit=data_size) * DTYPE_BYTES[dtype]:
            raise InvalidSafetensors(f"Tensor {label} has a size that does not match its shape.")
        spans.append((start, end))
    spans.sort()
    cursor = 0
    for start, end in spans:
        if start != cursor:
            raise InvalidSafetensors("The tensors overlap or leave gaps in the data section.")
        cursor = end
    if cursor != data_size:
        raise InvalidSafetensors("The file size does not match the size its header describes.")
    return tensors


def _integer(value: object) -> int:
    """A JSON integer that fits in 64 bits (not a float, string or boolean)."""
    if isinstance(value, bool) or not isinstance(value, int) or not -MAX_INT < value < MAX_INT:
        raise ValueError(value)
    return value


def _element_count(shape: list[int], *, limit: int) -> int:
    """The product of `shape`, or limit + 1 once it is larger (a long shape of big dimensions costs no bignums)."""
    if 0 in shape:
        return 0
    count = 1
    for dim in shape:
        count *= dim
        if count > limit:
            return limit + 1
    return count


def parameter_counts(tensors: dict) -> dict[str, int]:
    counts: dict[str, int] = {}
    for info in tensors.values():
        counts[info["dtype"]] = counts.get(info["dtype"], 0) + math.prod(int(d) for d in info["shape"])
    return counts
