"""Checks a .safetensors file's header against its size without loading any tensor."""

from __future__ import annotations

import json
import math
import struct
from typing import IO

MAX_HEADER_BYTES = 100 * 1024 * 1024
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
    if not isinstance(header, dict):
        raise InvalidSafetensors("The safetensors header is not a JSON object.")
    data_size = size - 8 - header_len
    tensors = {name: info for name, info in header.items() if name != "__metadata__"}
    spans = []
    for name, info in tensors.items():
        try:
            dtype = info["dtype"]
            shape = [int(dim) for dim in info["shape"]]
            start, end = (int(x) for x in info["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise InvalidSafetensors(f"Tensor {name!r} has a malformed entry in the header.") from None
        if dtype not in DTYPE_BYTES:
            raise InvalidSafetensors(f"Tensor {name!r} has an unknown dtype {dtype!r}.")
        if any(dim < 0 for dim in shape) or not 0 <= start <= end <= data_size:
            raise InvalidSafetensors(f"Tensor {name!r} points outside the file.")
        if (end - start) != math.prod(shape) * DTYPE_BYTES[dtype]:
            raise InvalidSafetensors(f"Tensor {name!r} has a size that does not match its shape.")
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


def parameter_counts(tensors: dict) -> dict[str, int]:
    counts: dict[str, int] = {}
    for info in tensors.values():
        counts[info["dtype"]] = counts.get(info["dtype"], 0) + math.prod(int(d) for d in info["shape"])
    return counts
