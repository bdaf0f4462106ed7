"""The arithmetic of campaign evaluation, pure so that it can be checked by hand.

Uplift is the difference between the conversion rate of the target group and that of the
held-out control group. Its 95% confidence interval uses the normal approximation to the
difference of two independent proportions (Wald, unpooled variance)::

    d  = p_t - p_c
    se = sqrt(p_t (1 - p_t) / n_t + p_c (1 - p_c) / n_c)
    CI = d ± 1.96 se

It needs both groups non-empty; with few conversions (n·p < 5) the approximation is rough, which
the screen says next to the interval.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

Z_95 = 1.959964


def rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@dataclass(frozen=True)
class Uplift:
    difference: float
    low: float
    high: float
    standard_error: float
    rough: bool  # fewer than 5 successes or failures in a group: the interval is indicative

    @property
    def significant(self) -> bool:
        return self.low > 0 or self.high < 0


def uplift(converted_target: int, n_target: int, converted_control: int,
           n_control: int) -> Uplift | None:
    """The uplift of the target group's conversion rate over the control group's, with CI."""
    if not n_target or not n_control:
        return None
    p_t, p_c = converted_target / n_target, converted_control / n_control
    se = math.sqrt(p_t * (1 - p_t) / n_target + p_c * (1 - p_c) / n_control)
    difference = p_t - p_c
    rough = min(converted_target, n_target - converted_target, converted_control,
                n_control - converted_control) < 5
    return Uplift(difference, difference - Z_95 * se, difference + Z_95 * se, se, rough)


def control_draw(campaign_id: int, seed: int, customer_id: int) -> float:
    """A reproducible uniform number in [0, 1) per campaign, seed and customer.

    A hash rather than a random generator: the split does not depend on the order customers
    are read in, and re-running the launch (or an audit) gives the same groups.
    """
    digest = hashlib.sha256(f"{campaign_id}:{seed}:{customer_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def in_control(campaign_id: int, seed: int, customer_id: int, share: float) -> bool:
    return control_draw(campaign_id, seed, customer_id) < share
