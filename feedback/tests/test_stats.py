"""The dashboards' statistics against textbook values: Krippendorff (2011), "Computing Krippendorff's
Alpha-Reliability" (the worked examples A, B and C), and published Wilson intervals."""

from __future__ import annotations

import pytest

from feedback.stats import krippendorff_alpha, krippendorff_alpha_from_counts, wilson_interval


def units_of(*observers: str) -> list[list[str | None]]:
    """Observers' rows as in the paper ('.' = missing) turned into one list of values per unit."""
    rows = [row.split() for row in observers]
    return [[None if row[i] == "." else row[i] for row in rows] for i in range(len(rows[0]))]


def test_binary_data_two_observers_example_a():
    units = units_of("0 1 0 0 0 0 0 0 1 0", "1 1 1 0 0 1 0 0 0 0")

    assert krippendorff_alpha(units, metric="nominal") == pytest.approx(0.095, abs=0.0005)


def test_nominal_data_two_observers_example_b():
    units = units_of("a a b b d c c c e d d a", "b a b b b c c c e d d d")

    assert krippendorff_alpha(units, metric="nominal") == pytest.approx(0.692, abs=0.0005)


RELIABILITY_DATA = (
    "1 2 3 3 2 1 4 1 2 . . .",
    "1 2 3 3 2 2 4 1 2 5 . 3",
    ". 3 3 3 2 3 4 2 2 5 1 .",
    "1 2 3 3 2 4 4 1 2 5 1 .",
)


def test_any_number_of_observers_with_missing_values_example_c():
    units = [[None if v is None else int(v) for v in unit] for unit in units_of(*RELIABILITY_DATA)]

    assert krippendorff_alpha(units, metric="nominal") == pytest.approx(0.743, abs=0.0005)
    assert krippendorff_alpha(units, metric="interval") == pytest.approx(0.849, abs=0.0005)


def test_value_counts_give_the_same_alpha_as_value_lists():
    units = [[None if v is None else int(v) for v in unit] for unit in units_of(*RELIABILITY_DATA)]
    counts = [{v: unit.count(v) for v in set(unit) if v is not None} for unit in units]

    assert krippendorff_alpha_from_counts(counts, metric="interval") == krippendorff_alpha(units, metric="interval")


def test_perfect_agreement_with_variation_is_one_and_systematic_disagreement_is_negative():
    assert krippendorff_alpha([["up", "up"], ["down", "down"]]) == pytest.approx(1.0)
    assert krippendorff_alpha([["up", "down"], ["down", "up"]]) < 0


@pytest.mark.parametrize(
    "units",
    [
        [],
        [["up"], ["down"]],  # each output rated once: nothing to pair
        [["up", None], [None, None]],
    ],
)
def test_no_pairable_units_gives_none(units):
    assert krippendorff_alpha(units) is None
    assert krippendorff_alpha(units, metric="interval") is None


def test_no_variation_at_all_leaves_alpha_undefined():
    assert krippendorff_alpha([[4, 4], [4, 4, 4]], metric="interval") is None


def test_an_unknown_metric_is_refused():
    with pytest.raises(ValueError, match="Unknown metric"):
        krippendorff_alpha([[1, 2]], metric="ratio")


@pytest.mark.parametrize(
    ("successes", "n", "low", "high"),
    [
        (8, 10, 0.4902, 0.9433),
        (0, 10, 0.0, 0.2775),
        (10, 10, 0.7225, 1.0),
        (50, 100, 0.4038, 0.5962),
    ],
)
def test_wilson_95_percent_intervals(successes, n, low, high):
    interval = wilson_interval(successes, n)

    assert interval == pytest.approx((low, high), abs=0.0001)


def test_wilson_interval_of_nothing_is_none_and_impossible_counts_are_refused():
    assert wilson_interval(0, 0) is None
    with pytest.raises(ValueError):
        wilson_interval(3, 2)
