"""Campaign arithmetic: the uplift interval against a hand computation, and the control split.

Hand computation (Newcombe's hybrid score interval, Wilson per group, z = 1.959964):
target 120 of 1000 convert (p_t = 0.12), control 40 of 500 (p_c = 0.08), d = 0.04.
Wilson: target [0.101299, 0.141609], control [0.059298, 0.107106];
low  = 0.04 − sqrt((0.12 − 0.101299)² + (0.107106 − 0.08)²) = 0.04 − 0.032931 = 0.007069,
high = 0.04 + sqrt((0.141609 − 0.12)² + (0.08 − 0.059298)²) = 0.04 + 0.029925 = 0.069925.
(The published worked examples are checked in ``test_newcombe.py``.)
"""
from __future__ import annotations

import math

import pytest

from backoffice.campaigns import stats


def test_uplift_matches_the_hand_computed_example():
    """The figures printed on the evaluation screen are the hand-computed ones."""
    assert stats.wilson(120, 1000) == pytest.approx((0.101299, 0.141609), abs=1e-6)
    assert stats.wilson(40, 500) == pytest.approx((0.059298, 0.107106), abs=1e-6)
    up = stats.uplift(120, 1000, 40, 500)
    assert up.difference == pytest.approx(0.04)
    assert up.low == pytest.approx(0.007069, abs=1e-5)
    assert up.high == pytest.approx(0.069925, abs=1e-5)
    assert up.significant and not up.rough and not up.too_few


def test_uplift_needs_both_groups_and_flags_thin_data():
    """No control group, no uplift; a handful of conversions is marked indicative."""
    assert stats.uplift(5, 100, 0, 0) is None
    thin = stats.uplift(3, 100, 1, 100)
    assert thin.rough and not thin.significant


@pytest.mark.parametrize("share", [0.1, 0.25, 0.5])
def test_control_share_is_within_sampling_error(share):
    """Over 20,000 customers the held-out share is within 4 standard errors of the setting."""
    n = 20000
    control = sum(stats.in_control(7, 0, pk, share) for pk in range(1, n + 1))
    sigma = math.sqrt(share * (1 - share) / n)
    assert abs(control / n - share) < 4 * sigma


def test_same_seed_same_split_other_seed_other_split():
    """The split is reproducible from (campaign, seed, customer) and changes with the seed."""
    first = [stats.in_control(3, 11, pk, 0.2) for pk in range(5000)]
    again = [stats.in_control(3, 11, pk, 0.2) for pk in reversed(range(5000))][::-1]
    other = [stats.in_control(3, 12, pk, 0.2) for pk in range(5000)]
    assert first == again
    assert first != other
