"""The uplift interval is Newcombe's hybrid score interval, bounded, and honest about thin data.

Reference values: Newcombe RG, "Interval estimation for the difference between independent
proportions: comparison of eleven methods", Statistics in Medicine 17:873–890 (1998), Table II,
method 10 (score interval combining the Wilson intervals of the two proportions, no continuity
correction), to the four decimals the paper prints.
"""
from __future__ import annotations

import pytest

from backoffice.campaigns import evaluation, stats

TABLE_II_METHOD_10 = [
    ((56, 70, 48, 80), (0.0524, 0.3339)),
    ((9, 10, 3, 10), (0.1705, 0.8090)),
    ((6, 7, 2, 7), (0.0582, 0.8062)),
    ((5, 56, 0, 29), (-0.0381, 0.1926)),
    ((0, 10, 0, 20), (-0.1611, 0.2775)),
    ((0, 10, 0, 10), (-0.2775, 0.2775)),
    ((10, 10, 0, 20), (0.6791, 1.0000)),
    ((10, 10, 0, 10), (0.6075, 1.0000)),
]


@pytest.mark.parametrize(("counts", "expected"), TABLE_II_METHOD_10)
def test_newcombe_table_ii_worked_examples(counts, expected):
    """Each published example is reproduced to the paper's four decimals."""
    up = stats.uplift(*counts)
    assert round(up.low, 4) == pytest.approx(expected[0], abs=1e-12)
    assert round(up.high, 4) == pytest.approx(expected[1], abs=1e-12)


def test_wald_cases_that_collapsed_now_have_width():
    """0/792 against 0/199 and 1/1 against 0/5 gave zero-width Wald intervals."""
    none_either = stats.uplift(0, 792, 0, 199)
    assert none_either.difference == 0
    assert none_either.low < 0 < none_either.high
    assert none_either.high - none_either.low > 0.01
    lone = stats.uplift(1, 1, 0, 5)
    assert lone.high - lone.low > 0.5


@pytest.mark.parametrize("counts", [(1, 1, 1, 3), (1, 1, 0, 1), (0, 1, 1, 1), (3, 3, 0, 40),
                                    (0, 2, 2, 2), (5, 5, 0, 5)])
def test_never_beyond_plus_or_minus_100_pp(counts):
    """Wald printed +66.67 pp [+13.32, +120.01] for 1/1 against 1/3; no interval leaves ±1."""
    up = stats.uplift(*counts)
    assert -1.0 <= up.low <= up.difference <= up.high <= 1.0


def test_every_small_table_stays_bounded_and_contains_its_estimate():
    """All 2×2 tables up to 12 per group: bounded, ordered, and never zero-width."""
    for n_t in range(1, 13):
        for n_c in range(1, 13):
            for x_t in range(n_t + 1):
                for x_c in range(n_c + 1):
                    up = stats.uplift(x_t, n_t, x_c, n_c)
                    assert -1.0 <= up.low <= up.difference <= up.high <= 1.0
                    assert up.high > up.low


def test_too_few_to_tell_below_the_minimum_group():
    """Below the minimum in either group there is no verdict, however large the difference."""
    small = stats.uplift(10, 10, 0, 10, min_group=30)
    assert small.too_few and not small.significant
    enough = stats.uplift(30, 30, 0, 30, min_group=30)
    assert not enough.too_few and enough.significant
    assert stats.uplift(30, 30, 0, 29, min_group=30).too_few


def test_impossible_counts_are_refused():
    with pytest.raises(ValueError):
        stats.uplift(5, 3, 0, 10)


def test_printed_interval_says_too_few_to_tell(app):
    """The CLI line reads "too few to tell" instead of an interval for small groups."""
    with app.app_context():
        previous = app.config["CRM_UPLIFT_MIN_GROUP"]
        app.config["CRM_UPLIFT_MIN_GROUP"] = 30
        try:
            line = evaluation.Line(None, "x", evaluation.GroupFigures(size=3, converted=3),
                                   evaluation.GroupFigures(size=1, converted=0))
            assert line.uplift.too_few
            text = evaluation.interval_text(line.uplift)
            big = evaluation.Line(None, "y", evaluation.GroupFigures(size=1000, converted=120),
                                  evaluation.GroupFigures(size=500, converted=40))
            assert evaluation.interval_text(big.uplift) == "+4.00 pp [+0.71, +6.99]"
        finally:
            app.config["CRM_UPLIFT_MIN_GROUP"] = previous
    assert "[" not in text and "pp" in text
