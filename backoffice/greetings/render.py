"""Greeting text: the template for the customer's tier and language, with the offer filled in.

Templates use ``{placeholder}`` fields; :func:`template_problems` refuses unknown ones when a
template is saved, so a typo is a form error rather than a failed send at 08:00.
"""
from __future__ import annotations

import datetime as dt
import string
from dataclasses import dataclass

PLACEHOLDERS = {
    "name": "the customer's name",
    "surname": "the family name (first character of a Chinese name)",
    "title": "先生/女士 (Mr./Ms.) by gender",
    "offer": "a sentence with the tier's offer, its code and validity (empty without one)",
    "offer_title": "the offer's title",
    "code": "the customer's offer code",
    "valid_until": "the last day the offer is valid",
    "occasion": "the occasion's name",
}
TITLES = {"zh": {"M": "先生", "F": "女士"}, "en": {"M": "Mr.", "F": "Ms."}}
OFFER_SENTENCE = {
    "zh": "专属礼遇：{offer_title}，券码 {code}，有效期至 {valid_until}。",
    "en": "Your offer: {offer_title}, code {code}, valid until {valid_until}.",
}


def template_problems(text: str | None) -> list[str]:
    """Unknown or malformed placeholders in a template text (empty list: fine)."""
    problems = []
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(text or "") if f is not None]
    except ValueError as exc:
        return [f"malformed placeholder: {exc}"]
    for name in fields:
        if name not in PLACEHOLDERS:
            problems.append(f"unknown placeholder {{{name}}} (known: "
                            f"{', '.join('{' + k + '}' for k in PLACEHOLDERS)})")
    return problems


def language_of(custom_fields: dict | None) -> str:
    """The customer's language: the ``language`` custom field when set to English, else zh."""
    value = str((custom_fields or {}).get("language") or "zh").lower()
    return "en" if value.startswith("en") else "zh"


def offer_code(prefix: str, dispatch_id: int) -> str:
    """A code per customer and greeting, so a redemption traces back to its dispatch."""
    return f"{prefix}-{dispatch_id:08d}"


@dataclass(frozen=True)
class Rendered:
    subject: str
    body: str
    offer_id: int | None
    code: str | None


def pick_template(templates, occasion_id: int, tier: str | None, language: str, channel: str):
    """Most specific first: tier+channel, tier, channel, any; the language's, else zh's."""
    for lang in (language, "zh", "en"):
        for want_tier, want_channel in ((tier, channel), (tier, None), (None, channel),
                                        (None, None)):
            found = templates.get((occasion_id, want_tier, lang, want_channel))
            if found is not None:
                return found
    return None


def pick_offer(offers, occasion_id: int, tier: str | None, day: dt.date):
    """The tier's offer valid on ``day``: one for this occasion first, else a general one."""
    candidates = [o for o in offers if o.tier == tier and o.valid_from <= day <= o.valid_until
                  and o.occasion_id in (occasion_id, None)]
    candidates.sort(key=lambda o: (o.occasion_id is None, o.id))
    return candidates[0] if candidates else None


def render(template, offer, *, name: str, gender: str | None, language: str,
           occasion_name: str, dispatch_id: int) -> Rendered:
    code = offer_code(offer.code_prefix, dispatch_id) if offer is not None else None
    values = {
        "name": name,
        "surname": name[:1] if language == "zh" else name.split(" ")[-1],
        "title": TITLES[language].get(gender or "", ""),
        "occasion": occasion_name,
        "offer_title": offer.title if offer else "",
        "code": code or "",
        "valid_until": offer.valid_until.isoformat() if offer else "",
    }
    values["offer"] = OFFER_SENTENCE[language].format(**values) if offer else ""
    subject = (template.subject or occasion_name).format(**values)
    body = template.body.format(**values).strip()
    return Rendered(subject=subject, body=body, offer_id=offer.id if offer else None, code=code)
