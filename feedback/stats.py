"""Pure statistics for feedback dashboards: no ORM, numbers in, numbers out."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Iterable, Mapping
from typing import Literal

Metric = Literal["nominal", "interval"]

Z_95 = 1.959963984540054  # the standard normal quantile for a two-sided 95% interval


def _distance(metric: Metric):
    if metric == "nominal":
        return lambda c, k: 0.0 if c == k else 1.0
    if metric == "interval":
        return lambda c, k: float(c - k) ** 2
    raise ValueError(f"Unknown metric {metric!r}: use 'nominal' or 'interval'.")


def krippendorff_alpha_from_counts(
    units: Iterable[Mapping[Hashable, int]], *, metric: Metric = "nominal"
) -> float | None:
    """Krippendorff's alpha from each unit's value counts ({value: how many raters gave it}).

    Follows Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability": a unit's m values add
    1/(m-1) per ordered pair to the coincidence matrix; units with fewer than two values are not pairable.
    alpha = 1 - (n - 1) * sum(o_ck * d_ck) / sum(n_c * n_k * d_ck).
    None when nothing is pairable, or when every pairable value is the same (no variation: alpha is undefined).
    The cost is linear in the units and quadratic in the distinct values (2 for thumbs, 5 for stars).
    """
    delta = _distance(metric)
    coincidences: Counter = Counter()
    for unit in units:
        counts = {value: n for value, n in unit.items() if value is not None and n > 0}
        m = sum(counts.values())
        if m < 2:
            continue
        for c, n_c in counts.items():
            for k, n_k in counts.items():
                pairs = n_c * (n_c - 1) if c == k else n_c * n_k
                if pairs:
                    coincidences[c, k] += pairs / (m - 1)
    if not coincidences:
        return None
    marginals: Counter = Counter()
    for (c, _k), o in coincidences.items():
        marginals[c] += o
    n = sum(marginals.values())
    observed = sum(o * delta(c, k) for (c, k), o in coincidences.items())
    expected = sum(n_c * n_k * delta(c, k) for c, n_c in marginals.items() for k, n_k in marginals.items())
    if expected == 0:
        return None
    return 1.0 - (n - 1) * observed / expected


def krippendorff_alpha(units: Iterable[Iterable[Hashable | None]], *, metric: Metric = "nominal") -> float | None:
    """Krippendorff's alpha from each unit's list of values (None for a rater who gave none)."""
    return krippendorff_alpha_from_counts((Counter(v for v in unit if v is not None) for unit in units), metric=metric)


def wilson_interval(successes: int, n: int, *, z: float = Z_95) -> tuple[float, float] | None:
    """The Wilson score interval for a proportion (95% by default); None when there are no trials.

    Unlike the normal approximation it stays inside [0, 1] and is sensible for 0 or n successes.
    """
    if n <= 0:
        return None
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be between 0 and n ({n}), got {successes}.")
    p = successes / n
    z2 = z * z
    denominator = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None
