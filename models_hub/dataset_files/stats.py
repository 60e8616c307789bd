"""Per-column statistics kept in bounded sketches, fed one Arrow table at a time and mergeable.

Whatever the number of rows, a column keeps: counts, min/max/sum for numbers and a fixed-size sample for
their histogram, a log2 histogram of text (or list) lengths, and exact value counts while the column has
few distinct short values (categories); past MAX_DISTINCT they are dropped for good.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

# Kinds a column can have, as JSON would type its values (CSV cells are typed by what they all parse as).
NULL, BOOL, INT, FLOAT, STRING, LIST, OBJECT = "null", "bool", "int", "float", "string", "list", "object"
NUMERIC = frozenset({INT, FLOAT})
MAX_DISTINCT = 1000  # exact value counts are kept while a column has at most this many distinct values
MAX_CATEGORY_CHARS = 200  # a longer text is free text, not a category
CATEGORY_SHOWN = 30  # at most this many distinct values: shown as top values rather than lengths
TOP_VALUES = 10
SAMPLE_SIZE = 512  # numbers kept for a histogram
HISTOGRAM_BINS = 10
LENGTH_BUCKETS = 33  # 0, 1, 2-3, 4-7, ... 2**31 and more


def merge_kinds(old: str, new: str) -> str | None:
    """The kind of a column that has values of both kinds, or None when they do not mix."""
    if old == new or new == NULL:
        return old
    if old == NULL:
        return new
    if {old, new} == NUMERIC:
        return FLOAT
    return None


def arrow_kind(arrow_type) -> str:
    import pyarrow as pa

    if pa.types.is_null(arrow_type):
        return NULL
    if pa.types.is_boolean(arrow_type):
        return BOOL
    if pa.types.is_integer(arrow_type):
        return INT
    if pa.types.is_floating(arrow_type) or pa.types.is_decimal(arrow_type):
        return FLOAT
    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type) or pa.types.is_fixed_size_list(arrow_type):
        return LIST
    if pa.types.is_struct(arrow_type) or pa.types.is_map(arrow_type):
        return OBJECT
    # Strings, and what Arrow infers from strings (timestamps, dates): text as the file holds it.
    return STRING


def python_kind(value: object) -> str:
    """The kind of one value decoded by json.loads."""
    if value is None:
        return NULL
    if value is True or value is False:
        return BOOL
    if isinstance(value, int):
        return INT
    if isinstance(value, float):
        return FLOAT
    if isinstance(value, str):
        return STRING
    if isinstance(value, list):
        return LIST
    return OBJECT


def _length_bucket(length: int) -> int:
    return min(length.bit_length(), LENGTH_BUCKETS - 1)


def _bucket_label(index: int) -> str:
    if index == 0:
        return "0"
    low, high = 2 ** (index - 1), 2**index - 1
    return str(low) if low == high else f"{low}–{high}"


@dataclass
class ColumnSketch:
    name: str
    kind: str = NULL
    # For lists and objects, the Arrow type of the first values seen ("list<item: struct<role: string, ...>>"):
    # what a chat `messages` column must look like.
    nested_type: str = ""
    values: int = 0  # non-null values seen
    num_min: float | None = None
    num_max: float | None = None
    num_sum: float = 0.0
    num_count: int = 0
    sample: list[float] = field(default_factory=list)
    len_min: int | None = None
    len_max: int | None = None
    len_sum: int = 0
    len_count: int = 0
    len_buckets: list[int] = field(default_factory=lambda: [0] * LENGTH_BUCKETS)
    counts: dict[str, int] | None = field(default_factory=dict)  # None: too many distinct values

    # -- feeding -------------------------------------------------------------------------------------

    def add_array(self, array) -> None:
        """Fold one Arrow array (a column of one piece of the file) into the sketch."""
        import pyarrow as pa
        import pyarrow.compute as pc

        if isinstance(array, pa.ChunkedArray):
            array = array.combine_chunks() if array.num_chunks != 1 else array.chunk(0)
        kind = arrow_kind(array.type)
        merged = merge_kinds(self.kind, kind)
        self.kind = merged if merged is not None else STRING
        present = len(array) - array.null_count
        if present == 0:
            return
        if kind in (LIST, OBJECT) and not self.nested_type:
            self.nested_type = str(array.type)[:500]
        self.values += present
        if kind in NUMERIC:
            self._add_numbers(array.cast(pa.float64()))
            if kind == INT:  # stars, labels, classes: few distinct values are categories
                self._add_categories(array.cast(pa.string()))
        elif kind == STRING:
            if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
                array = array.cast(pa.string())
            self._add_lengths(pc.utf8_length(array))
            self._add_categories(array)
        elif kind == BOOL:
            self._add_categories(array.cast(pa.string()))
        elif kind == LIST:
            self._add_lengths(pc.list_value_length(array))

    def _add_numbers(self, array) -> None:
        import pyarrow.compute as pc

        array = pc.drop_null(array)
        finite = pc.filter(array, pc.is_finite(array))
        if len(finite) == 0:
            return
        self.num_min, self.num_max = _widen(self.num_min, self.num_max, finite)
        self.num_sum += pc.sum(finite).as_py()
        before = self.num_count
        self.num_count += len(finite)
        self.sample = _reservoir(self.sample, before, finite, self.num_count)

    def _add_lengths(self, lengths) -> None:
        import numpy as np
        import pyarrow.compute as pc

        lengths = pc.drop_null(lengths)
        if len(lengths) == 0:
            return
        self.len_min, self.len_max = _widen(self.len_min, self.len_max, lengths)
        self.len_sum += pc.sum(lengths).as_py()
        self.len_count += len(lengths)
        values = lengths.to_numpy(zero_copy_only=False).astype(np.int64)
        buckets = np.zeros(len(values), dtype=np.int64)
        nonzero = values > 0
        buckets[nonzero] = np.floor(np.log2(values[nonzero])).astype(np.int64) + 1
        for index, count in enumerate(np.bincount(np.minimum(buckets, LENGTH_BUCKETS - 1))):
            self.len_buckets[index] += int(count)

    def _add_categories(self, array) -> None:
        import pyarrow.compute as pc

        if self.counts is None:
            return
        array = pc.drop_null(array)
        if len(array) and pc.max(pc.utf8_length(array)).as_py() > MAX_CATEGORY_CHARS:
            self.counts = None
            return
        if pc.count_distinct(array).as_py() + len(self.counts) > 2 * MAX_DISTINCT:
            self.counts = None
            return
        counted = pc.value_counts(array)
        for value, count in zip(counted.field("values").to_pylist(), counted.field("counts").to_pylist(), strict=True):
            self.counts[value] = self.counts.get(value, 0) + count
        if len(self.counts) > MAX_DISTINCT:
            self.counts = None

    # -- merging and reporting ---------------------------------------------------------------------

    def merge(self, other: ColumnSketch) -> None:
        self.nested_type = self.nested_type or other.nested_type
        merged = merge_kinds(self.kind, other.kind)
        self.kind = merged if merged is not None else STRING
        self.values += other.values
        for name, pick in (("num_min", min), ("num_max", max), ("len_min", min), ("len_max", max)):
            mine, theirs = getattr(self, name), getattr(other, name)
            setattr(self, name, theirs if mine is None else mine if theirs is None else pick(mine, theirs))
        self.num_sum += other.num_sum
        self.len_sum += other.len_sum
        self.len_count += other.len_count
        self.len_buckets = [a + b for a, b in zip(self.len_buckets, other.len_buckets, strict=True)]
        total = self.num_count + other.num_count
        if total:
            # Each side's sample stands for its share of the numbers.
            mine = round(SAMPLE_SIZE * self.num_count / total)
            rng = random.Random(total)
            self.sample = _subsample(self.sample, mine, rng) + _subsample(other.sample, SAMPLE_SIZE - mine, rng)
        self.num_count = total
        if self.counts is None or other.counts is None:
            self.counts = None
        else:
            for value, count in other.counts.items():
                self.counts[value] = self.counts.get(value, 0) + count
            if len(self.counts) > MAX_DISTINCT:
                self.counts = None

    def state(self) -> dict:
        """A JSON-serialisable form, from which from_state() rebuilds the sketch."""
        return {
            "name": self.name,
            "kind": self.kind,
            "values": self.values,
            "num": [self.num_min, self.num_max, self.num_sum, self.num_count],
            "sample": self.sample,
            "len": [self.len_min, self.len_max, self.len_sum, self.len_count],
            "len_buckets": self.len_buckets,
            "counts": self.counts,
            "nested_type": self.nested_type,
        }

    @classmethod
    def from_state(cls, state: dict) -> ColumnSketch:
        sketch = cls(name=state["name"], kind=state["kind"], values=state["values"])
        sketch.num_min, sketch.num_max, sketch.num_sum, sketch.num_count = state["num"]
        sketch.sample = list(state["sample"])
        sketch.len_min, sketch.len_max, sketch.len_sum, sketch.len_count = state["len"]
        sketch.len_buckets = list(state["len_buckets"])
        sketch.counts = dict(state["counts"]) if state["counts"] is not None else None
        sketch.nested_type = state.get("nested_type", "")
        return sketch

    def summary(self, rows: int) -> dict:
        """What the report shows of this column among `rows` rows."""
        out: dict = {"name": self.name, "type": self.kind, "nulls": max(rows - self.values, 0)}
        if self.nested_type:
            out["nested_type"] = self.nested_type
        if self.num_count:
            out["numbers"] = {
                "min": self.num_min,
                "max": self.num_max,
                "mean": self.num_sum / self.num_count,
                "histogram": _histogram(self.sample, self.num_min, self.num_max),
            }
        if self.len_count:
            last = max((i for i, count in enumerate(self.len_buckets) if count), default=0)
            out["lengths"] = {
                "of": "items" if self.kind == LIST else "characters",
                "min": self.len_min,
                "max": self.len_max,
                "mean": self.len_sum / self.len_count,
                "buckets": [{"label": _bucket_label(i), "count": self.len_buckets[i]} for i in range(last + 1)],
            }
        if self.counts is not None and self.counts and (len(self.counts) <= CATEGORY_SHOWN or self.kind == BOOL):
            top = sorted(self.counts.items(), key=lambda item: (-item[1], item[0]))[:TOP_VALUES]
            out["categories"] = {
                "distinct": len(self.counts),
                "top": [{"value": value, "count": count} for value, count in top],
            }
        return out


def _widen(low, high, array) -> tuple:
    """(low, high) widened to cover a non-empty Arrow array's values."""
    import pyarrow.compute as pc

    bounds = pc.min_max(array)
    new_low, new_high = bounds["min"].as_py(), bounds["max"].as_py()
    return (new_low if low is None else min(low, new_low)), (new_high if high is None else max(high, new_high))


def _reservoir(sample: list[float], seen_before: int, array, seen_after: int) -> list[float]:
    """Keep a uniform sample of SAMPLE_SIZE numbers from all seen so far (reservoir sampling, by block)."""
    rng = random.Random(seen_after)
    new = len(array)
    if seen_after <= SAMPLE_SIZE:
        return sample + array.to_pylist()
    # How many of the sample should come from this block: its share of everything seen.
    take = min(new, max(0, round(SAMPLE_SIZE * new / seen_after)))
    if len(sample) < SAMPLE_SIZE:
        take = max(take, SAMPLE_SIZE - len(sample))
        take = min(take, new)
    keep = _subsample(sample, SAMPLE_SIZE - take, rng)
    picks = sorted(rng.sample(range(new), take)) if take < new else range(new)
    import pyarrow as pa

    return keep + array.take(pa.array(list(picks), type=pa.int64())).to_pylist()


def _subsample(values: list[float], size: int, rng: random.Random) -> list[float]:
    if size >= len(values):
        return list(values)
    return rng.sample(values, max(size, 0))


def _histogram(sample: list[float], low: float | None, high: float | None) -> list[dict]:
    """Counts of the sampled numbers in equal bins between the true min and max, scaled to a share."""
    if not sample or low is None or high is None:
        return []
    if low == high:
        return [{"low": low, "high": high, "share": 1.0}]
    width = (high - low) / HISTOGRAM_BINS
    counts = [0] * HISTOGRAM_BINS
    for value in sample:
        counts[min(int((value - low) / width), HISTOGRAM_BINS - 1) if math.isfinite(value) else 0] += 1
    return [
        {"low": low + i * width, "high": low + (i + 1) * width, "share": count / len(sample)}
        for i, count in enumerate(counts)
    ]
