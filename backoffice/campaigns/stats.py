"""The arithmetic of campaign evaluation, pure so that it can be checked by hand.

Uplift is the difference between the conversion rate of the target group and that of the
held-out control group, d = p_t − p_c. Its 95% confidence interval is Newcombe's hybrid score
interval (method 10 of Newcombe, Statistics in Medicine 17:873–890, 1998): each group's rate gets
its Wilson score interval (l_t, u_t), (l_c, u_c), and::

    low  = d − sqrt((p_t − l_t)² + (u_c − p_c)²)
    high = d + sqrt((u_t − p_t)² + (p_c − l_c)²)

Why not the textbook normal approximation (Wald): it collapses to a zero-width interval when a
group converts nobody or everybody (0/792 against 0/199 "is" exactly zero), and overshoots the
possible range with small groups (+66.67 pp [+13.32, +120.01] for 1/1 against 1/3). The Wilson
limits stay inside [0, 1], so the difference stays inside ±100 pp (it is clipped there all the
same against rounding), and an empty or full group still gets the width its size allows.

Below ``min_group`` customers in either group the interval is computed but the evaluation says
"too few to tell" (``Uplift.too_few``) instead of a verdict: a handful of targets says nothing,
whatever the formula. The minimum is ``CRM_UPLIFT_MIN_GROUP`` (``config/settings.py``).
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

Z_95 = 1.959964
DEFAULT_MIN_GROUP = 30  # CRM_UPLIFT_MIN_GROUP when not configured


def rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def wilson(successes: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval of one proportion (no continuity correction)."""
    if n <= 0:
        raise ValueError("a proportion needs at least one trial")
    p = successes / n
    z2 = z * z
    centre = (2 * n * p + z2) / (2 * (n + z2))
    half = z * math.sqrt(z2 + 4 * n * p * (1 - p)) / (2 * (n + z2))
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class Uplift:
    difference: float
    low: float
    high: float
    rough: bool  # fewer than 5 successes or failures in a group: the interval is indicative
    too_few: bool = False  # a group below the minimum size: no verdict at all

    @property
    def significant(self) -> bool:
        return not self.too_few and (self.low > 0 or self.high < 0)


def uplift(converted_target: int, n_target: int, converted_control: int,
           n_control: int, *, min_group: int = 0) -> Uplift | None:
    """The uplift of the target group's conversion rate over the control group's, with
    Newcombe's hybrid score interval (see the module docstring); None without both groups."""
    if not n_target or not n_control:
        return None
    for part, whole in ((converted_target, n_target), (converted_control, n_control)):
        if part < 0 or whole < 0 or part > whole:
            raise ValueError(f"{part} converted out of {whole} is not a proportion")
    p_t, p_c = converted_target / n_target, converted_control / n_control
    l_t, u_t = wilson(converted_target, n_target)
    l_c, u_c = wilson(converted_control, n_control)
    difference = p_t - p_c
    low = max(-1.0, difference - math.sqrt((p_t - l_t) ** 2 + (u_c - p_c) ** 2))
    high = min(1.0, difference + math.sqrt((u_t - p_t) ** 2 + (p_c - l_c) ** 2))
    rough = min(converted_target, n_target - converted_target, converted_control,
                n_control - converted_control) < 5
    too_few = min(n_target, n_control) < min_group
    return Uplift(difference, low, high, rough, too_few)


def control_draw(campaign_id: int, seed: int, customer_id: int) -> float:
    """A reproducible uniform number in [0, 1) per campaign, seed and customer.

    A hash rather than a random generator: the split does not depend on the order customers
    are read in, and re-running the launch (or an audit) gives the same groups.
    """
    digest = hashlib.sha256(f"{campaign_id}:{seed}:{customer_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def in_control(campaign_id: int, seed: int, customer_id: int, share: float) -> bool:
    return control_draw(campaign_id, seed, customer_id) < share
