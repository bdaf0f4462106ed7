"""Greeting text: placeholders, titles by gender, offers per tier and validity."""
from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

from backoffice.greetings import render


def test_unknown_placeholders_are_refused_with_the_known_ones_listed():
    """A typo in a template is an error when saved, not a failed send at 08:00."""
    assert render.template_problems("尊敬的{name}{title}") == []
    problems = render.template_problems("尊敬的{nmae}")
    assert problems and "{nmae}" in problems[0] and "{name}" in problems[0]
    assert render.template_problems("{name") != []


def test_the_offer_of_the_tier_valid_on_the_day_is_filled_in_with_a_code():
    """Wealth customers get the wealth offer while it is valid; the code names the dispatch."""
    offers = [
        SimpleNamespace(id=1, tier="wealth", occasion_id=None, title="专属存款利率",
                        code_prefix="BD", valid_from=dt.date(2026, 1, 1),
                        valid_until=dt.date(2026, 12, 31)),
        SimpleNamespace(id=2, tier="mass", occasion_id=None, title="代金券",
                        code_prefix="MS", valid_from=dt.date(2026, 1, 1),
                        valid_until=dt.date(2026, 3, 31)),
    ]
    template = SimpleNamespace(subject="生日快乐", body="尊敬的{name}{title}：{offer}")
    offer = render.pick_offer(offers, 7, "wealth", dt.date(2026, 6, 1))
    text = render.render(template, offer, name="王芳", gender="F", language="zh",
                         occasion_name="生日", dispatch_id=42)
    assert text.body == ("尊敬的王芳女士：专属礼遇：专属存款利率，券码 BD-00000042，"
                         "有效期至 2026-12-31。")
    assert text.code == "BD-00000042" and text.offer_id == 1
    assert render.pick_offer(offers, 7, "mass", dt.date(2026, 6, 1)) is None  # expired


def test_templates_fall_back_from_tier_and_language_to_the_general_one():
    """A tier without its own template, or English without a translation, gets the general zh."""
    general = object()
    wealth_en = object()
    templates = {(1, None, "zh", None): general, (1, "wealth", "en", None): wealth_en}
    assert render.pick_template(templates, 1, "wealth", "en", "email") is wealth_en
    assert render.pick_template(templates, 1, "mass", "en", "sms") is general
    assert render.pick_template(templates, 2, "mass", "zh", "sms") is None
