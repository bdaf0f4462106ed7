"""What "left" means for a model version: the label definition and the labels it gives (pure).

A target is the customer status (closed customers left) or a custom field, with the value that
means "left" named by the admin: ``Attrited Customer`` in a text field, 是 in a yes/no field, a
choice's value or its label, 1 in a number field. Yes/no fields default to "yes means left" and
number fields to "1 means left" (the usual 0/1 outcome column); text and choice fields have no
safe default unless every value is a yes/no word.

Customers whose target is missing are left out of training and counted, never labelled: calling
them "stayed" or "left" would teach the model an outcome nobody recorded. Every other recorded
value means "stayed" (an outcome column holds "left" and one or more ways of staying: "Existing
Customer", 否, 0). Values are counted one by one and the counts are reported and stored, so a
value nobody expected is seen rather than silently absorbed. For the status target, deceased
customers are excluded like missing values: they neither left nor stayed.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import pandas as pd
from flask_babel import lazy_gettext as _l

from backoffice.churn import features as F

STATUS_TARGET = "status:closed"
LABEL_TYPES = ("boolean", "integer", "decimal", "money", "choice", "text")
NUMBER_TYPES = ("integer", "decimal", "money")
SHOWN_VALUES = 12  # values listed in a message; the rest are summed up


class LabelError(ValueError):
    """The positive value does not fit the target, or the data does not say who left."""


    @property
    def message(self):
        """The reason as raised: a lazy translation (or several ``joined``), so that a job can
        store it as a message id and each reader sees it in their own language; ``str()`` gives
        it in the current language."""
        return self.args[0] if self.args else ""


@dataclass(frozen=True)
class LabelDefinition:
    """Which target, and which of its values (as canonical keys) mean "left"."""

    target: str  # "status:closed" or "custom_fields.<key>"
    field_type: str | None = None
    positive: tuple = ()  # canonical keys meaning "left"
    given: str | None = None  # what the admin typed, as typed
    implicit: bool = False  # positive taken by default, not given
    yes_words: bool = False  # text/choice without a positive: yes-like values mean "left"

    @property
    def field_key(self) -> str | None:
        return self.target.split(".", 1)[1] if self.target.startswith("custom_fields.") else None

    def key(self, value):
        """The canonical form of one stored value, or None when it is missing."""
        if _missing(value):
            return None
        if self.field_type == "boolean":
            flag = F._boolean(value)
            return str(value).strip() if np.isnan(flag) else ("true" if flag else "false")
        if self.field_type in NUMBER_TYPES:
            return _number_key(value)
        return str(value).strip()

    def is_positive(self, key: str) -> bool:
        if self.yes_words:
            return F._boolean(key) == 1.0
        if self.field_type in ("choice", "text"):
            return key.casefold() in {p.casefold() for p in self.positive}
        return key in self.positive

    def labels(self, raw: pd.Series) -> tuple[pd.Series, pd.Series]:
        """``(y, keys)`` for stored values: 1.0 left, 0.0 stayed, NaN missing (excluded); and
        each value's canonical key (None when missing), both on ``raw``'s index."""
        keys = [self.key(value) for value in raw.tolist()]
        if self.target == STATUS_TARGET:
            y = [np.nan if k in (None, "deceased") else float(k == "closed") for k in keys]
        else:
            y = [np.nan if k is None else float(self.is_positive(k)) for k in keys]
        return (pd.Series(y, index=raw.index, dtype=float),
                pd.Series(keys, index=raw.index, dtype=object))

    def describe(self) -> str:
        """One line for the command line and the log (values as stored, no translation)."""
        if self.target == STATUS_TARGET:
            return "left = customer status closed (deceased customers excluded)"
        if self.yes_words:
            how = "yes-like values (是/yes/true/1), by default"
        else:
            how = " or ".join(self.positive) + (" (by default)" if self.implicit else "")
        return (f"left = {self.target} is {how}; every other recorded value = stayed; "
                "missing = excluded")

    def describe_message(self):
        """:meth:`describe` as a lazy translation: a training job's progress message, stored as
        its message id (in a column of 255 characters: hence the fewer words) and read in the
        job-run page's language."""
        if self.target == STATUS_TARGET:
            return _l("left = customer status closed (deceased customers excluded)")
        if self.yes_words:
            return _l("left = %(target)s is yes-like (是/yes/true/1, by default); other values = "
                      "stayed; missing = excluded", target=self.target)
        if self.implicit:
            return _l("left = %(target)s is %(values)s (by default); other values = stayed; "
                      "missing = excluded", target=self.target, values=" / ".join(self.positive))
        return _l("left = %(target)s is %(values)s; other values = stayed; missing = excluded",
                  target=self.target, values=" / ".join(self.positive))

    def as_config(self) -> dict:
        return {"target": self.target, "field_type": self.field_type,
                "positive": list(self.positive), "given": self.given,
                "implicit": self.implicit, "yes_words": self.yes_words}


def define(target: str, spec=None, positive: str | None = None) -> LabelDefinition:
    """The definition for a resolved target (``spec``: its field, None for the status).

    Raises LabelError when ``positive`` cannot be a value of that field.
    """
    given = None if positive is None or not str(positive).strip() else str(positive).strip()
    if spec is None:
        if given not in (None, "closed"):
            raise LabelError(_l("the status target is fixed (closed customers left); "
                                "--positive %(value)s does not apply to it", value=given))
        return LabelDefinition(STATUS_TARGET, positive=("closed",), given=given,
                               implicit=given is None)
    field_type = spec.type
    if field_type not in LABEL_TYPES:
        raise LabelError(_l("target %(target)s: a %(type)s field cannot be a churn outcome",
                            target=spec.key, type=field_type))
    if field_type == "boolean":
        if given is None:
            return LabelDefinition(target, field_type, ("true",), implicit=True)
        flag = F._boolean(given)
        if np.isnan(flag):
            raise LabelError(_l("target %(target)s is a yes/no field: the positive value must "
                                "be yes or no (是/否, 1/0, true/false), not %(value)s",
                                target=spec.key, value=repr(given)))
        return LabelDefinition(target, field_type, ("true" if flag else "false",), given)
    if field_type in NUMBER_TYPES:
        if given is None:
            return LabelDefinition(target, field_type, ("1",), implicit=True)
        if not _is_number(given):
            raise LabelError(_l("target %(target)s is a number field: the positive value must "
                                "be a number, not %(value)s", target=spec.key,
                                value=repr(given)))
        return LabelDefinition(target, field_type, (_number_key(given),), given)
    if given is None:
        return LabelDefinition(target, field_type, (), implicit=True, yes_words=True)
    if field_type == "choice" and spec.choices:
        wanted = given.casefold()
        for choice in spec.choices:
            names = (choice.value, choice.label_zh, choice.label_en)
            if wanted in (str(n).strip().casefold() for n in names if n):
                return LabelDefinition(target, field_type, (choice.value,), given)
        listed = ", ".join(f"{c.value} ({c.label_zh} / {c.label_en})" for c in spec.choices)
        raise LabelError(_l("target %(target)s: %(value)s is none of its choices: %(choices)s",
                            target=spec.key, value=repr(given), choices=listed))
    return LabelDefinition(target, field_type, (given,), given)


@dataclass
class LabelCounts:
    """Customers per label and per stored value, summed over the chunks of a training run."""

    positive: int = 0
    negative: int = 0
    missing: int = 0
    values: Counter = None

    def __post_init__(self):
        self.values = Counter() if self.values is None else self.values

    def add(self, y: pd.Series, keys: pd.Series) -> None:
        known = y.notna()
        self.positive += int((y[known] == 1).sum())
        self.negative += int((y[known] == 0).sum())
        self.missing += int((~known).sum())
        self.values.update("(missing)" if k is None else k for k in keys.tolist())

    def as_dict(self) -> dict:
        return {"positive": self.positive, "negative": self.negative, "missing": self.missing,
                "values": dict(self.values.most_common())}

    def shown_values(self) -> str:
        items = self.values.most_common()
        text = ", ".join(f"{k}: {n}" for k, n in items[:SHOWN_VALUES])
        rest = items[SHOWN_VALUES:]
        if rest:
            text += f", and {len(rest)} other values ({sum(n for _, n in rest)} customers)"
        return text

    def shown_values_message(self):
        """:meth:`shown_values` for a progress message (the values as stored, the words as a
        lazy translation)."""
        items = self.values.most_common()
        text = ", ".join(f"{k}: {n}" for k, n in items[:SHOWN_VALUES])
        rest = items[SHOWN_VALUES:]
        if not rest:
            return text
        return _l("%(values)s, and %(count)s other values (%(customers)s customers)",
                  values=text, count=len(rest), customers=sum(n for _, n in rest))


def check(definition: LabelDefinition, counts: LabelCounts) -> None:
    """Refuse labels that cannot be what the admin meant, with the values found."""
    recorded = {k: n for k, n in counts.values.items() if k != "(missing)"}
    if definition.target == STATUS_TARGET:
        return
    where = definition.target.split(".", 1)[1]
    if not recorded:
        raise LabelError(_l("target %(target)s: no customer has a value (%(missing)s missing)",
                            target=where, missing=counts.missing))
    if definition.yes_words:
        odd = [k for k in recorded if np.isnan(F._boolean(k))]
        if odd:
            raise LabelError(_l("target %(target)s is a %(type)s field: say which value means "
                                "the customer left (--positive VALUE); values found: "
                                "%(values)s", target=where, type=definition.field_type,
                                values=counts.shown_values_message()))
    elif definition.implicit and definition.field_type in NUMBER_TYPES:
        odd = [k for k in recorded if k not in ("0", "1")]
        if odd:
            raise LabelError(_l("target %(target)s holds values other than 0 and 1: say which "
                                "value means the customer left (--positive VALUE); values "
                                "found: %(values)s", target=where,
                                values=counts.shown_values_message()))
    if counts.positive == 0 and not definition.implicit:
        raise LabelError(_l("target %(target)s: no customer has the value %(value)s; values "
                            "found: %(values)s", target=where, value=repr(definition.given),
                            values=counts.shown_values_message()))


def _missing(value) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    return isinstance(value, float) and np.isnan(value)


def _is_number(text: str) -> bool:
    try:
        return bool(np.isfinite(float(text)))
    except ValueError:
        return False


def _number_key(value):
    """``1``, ``1.0``, ``"1"`` and ``"1.00"`` are the same outcome: one key for them."""
    if isinstance(value, bool):
        return "1" if value else "0"
    try:
        number = float(str(value).strip())
    except ValueError:
        return str(value).strip()
    if not np.isfinite(number):
        return str(value).strip()
    return str(int(number)) if number.is_integer() else repr(number)
