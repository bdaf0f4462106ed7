"""Before launch, a split that leaves nothing to compare is said out loud.

The control share applies per customer (a hash), so a small audience can end up entirely, or
almost entirely, in the control group: nobody contacted, or an evaluation that can only say "too
few to tell". ``service.control_warning`` says so before the launch; the screen holds the launch
until the user confirms (``test_workflow``).
"""
from __future__ import annotations

from backoffice.campaigns import service, stats


def test_control_taking_everyone_is_warned():
    warning = service.control_warning({"target": 0, "control": 3}, minimum=30)
    assert warning is not None and "3" in str(warning)


def test_control_taking_nearly_all_of_a_small_audience_is_warned():
    warning = service.control_warning({"target": 2, "control": 40}, minimum=30)
    assert warning is not None
    text = str(warning)
    assert "40" in text and "42" in text and "2" in text and "30" in text


def test_a_control_group_too_small_to_compare_is_warned():
    assert service.control_warning({"target": 500, "control": 4}, minimum=30) is not None


def test_no_warning_when_both_groups_are_large_enough_or_there_is_no_control():
    assert service.control_warning({"target": 900, "control": 100}, minimum=30) is None
    assert service.control_warning({"target": 30, "control": 30}, minimum=30) is None
    # No control group at all (share 0): nothing is held out, nothing to warn about.
    assert service.control_warning({"target": 5, "control": 0}, minimum=30) is None
    assert service.control_warning({"target": 0, "control": 0}, minimum=30) is None


def test_the_warning_matches_the_split_the_launch_will_make():
    """The exact split a small audience gets is the launch's own hash split."""
    ids = range(1, 8)
    control = sum(stats.in_control(77, 3, pk, 0.9) for pk in ids)
    split = {"target": len(ids) - control, "control": control}
    assert control >= 5  # 0.9 of 7 customers: nearly all held out
    assert service.control_warning(split, minimum=30) is not None


def test_minimum_comes_from_the_setting(app):
    with app.app_context():
        assert service.min_group() == app.config["CRM_UPLIFT_MIN_GROUP"]
        previous = app.config["CRM_UPLIFT_MIN_GROUP"]
        app.config["CRM_UPLIFT_MIN_GROUP"] = 3
        try:
            assert service.control_warning({"target": 5, "control": 4}) is None
            assert service.control_warning({"target": 2, "control": 4}) is not None
        finally:
            app.config["CRM_UPLIFT_MIN_GROUP"] = previous
