"""Unique marker values planted in the test bank, and the strings that betray each of them.

A security test that searches responses for "a mobile number" proves little: a marker that
exists once, in one field of one record, tells exactly which field of which customer reached
which user on which path. ``plant`` writes such values into every sensitive, deep-profile and
custom field of the world's customers (one private-banking customer in branch B1, one mass
customer in B1 served by a teller, one wealth customer in B2, each with another owner), and
``Marker`` knows the full and the masked form of each, so that a test can ask the policy what a
user may read and look for exactly the forms that user must not meet.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from backoffice.security.masking import mask_value
from tests.support.world import CUSTOMERS, make_prc_id

# Custom fields of the marked world: hidden from all but senior managers, read-only for all but
# admins, and sensitive (masked for everyone, shown in full only through the logged reveal).
HIDDEN_FIELD = "mk_hidden"
READ_ONLY_FIELD = "mk_readonly"
SENSITIVE_FIELD = "mk_secret"
CUSTOM_FIELDS = {
    HIDDEN_FIELD: dict(visible_roles=["SeniorManager"], editable_roles=["SeniorManager"],
                       sensitive=False),
    READ_ONLY_FIELD: dict(visible_roles=[], editable_roles=["Admin"], sensitive=False),
    SENSITIVE_FIELD: dict(visible_roles=[], editable_roles=[], sensitive=True),
}


@dataclass(frozen=True)
class Marker:
    """One planted value: where it lives (entity, field, customer) and how it may show."""

    customer: str  # the world's customer key
    entity: str  # the policy's entity name: Customer or Account
    field: str  # the policy's field name (custom fields: custom_fields.<key>)
    value: str  # the full value as a page prints it
    mask_kind: str | None = None  # masked form's kind (None: the field has no masked form)
    extra_forms: tuple[str, ...] = ()  # other printings of the full value (1,234.56)

    @property
    def full_forms(self) -> tuple[str, ...]:
        return (self.value, *self.extra_forms)

    @property
    def masked_form(self) -> str | None:
        """The masked printing, when it is distinctive enough to search for (a ``******``
        secret mask is the same for every value and betrays nothing)."""
        if self.mask_kind is None:
            return None
        masked = mask_value(self.mask_kind, self.value)
        return None if set(masked) <= {"*"} else masked

    def __str__(self) -> str:
        return f"{self.customer}.{self.field}"


def _serial(key: str) -> int:
    return list(CUSTOMERS).index(key) + 1


def _money(text: str) -> tuple[str, tuple[str, ...]]:
    amount = Decimal(text)
    return f"{amount:.2f}", (f"{amount:,.2f}",)


def values_for(key: str) -> dict:
    """The planted values of one customer (built-in columns, account and custom fields)."""
    n = _serial(key)
    return {
        # The birth date is the world's (an ID number carries it and must agree).
        "id_number": make_prc_id(dt.date(1970 + n, n, 10 + n), 360 + n),
        "mobile": f"1397361{n}4{n}{n}{n}",
        "email": f"zq{n}mk@mk{n}-7361.example",
        "address": f"标记{n}号地址翠湖路7361巷{n}号",
        "family_notes": f"家庭标记MK{n}秘",
        "investment_notes": f"投资标记MK{n}秘",
        "annual_income": Decimal(f"736194{n}.17"),
        "balance": Decimal(f"836194{n}.37"),
        "account_no": f"622273619420{n}8{n}8",
        "custom": {HIDDEN_FIELD: f"隐藏HID{n}MARK", READ_ONLY_FIELD: f"只读RO{n}MARK",
                   SENSITIVE_FIELD: f"机密SEC{n}MARK"},
    }


def markers_for(key: str) -> list[Marker]:
    """Every marker of one customer."""
    values = values_for(key)
    income, income_forms = _money(str(values["annual_income"]))
    balance, balance_forms = _money(str(values["balance"]))
    result = [Marker(key, "Customer", name, values[name], name)
              for name in ("id_number", "mobile", "email", "address")]
    result += [
        Marker(key, "Customer", "family_notes", values["family_notes"]),
        Marker(key, "Customer", "investment_notes", values["investment_notes"]),
        Marker(key, "Customer", "annual_income", income, extra_forms=income_forms),
        # One account holds all the customer's assets: total assets print as its balance.
        Marker(key, "Account", "balance", balance, extra_forms=balance_forms),
        Marker(key, "Account", "account_no", values["account_no"], "account_no"),
        Marker(key, "Customer", f"custom_fields.{HIDDEN_FIELD}", values["custom"][HIDDEN_FIELD]),
        Marker(key, "Customer", f"custom_fields.{READ_ONLY_FIELD}",
               values["custom"][READ_ONLY_FIELD]),
        Marker(key, "Customer", f"custom_fields.{SENSITIVE_FIELD}",
               values["custom"][SENSITIVE_FIELD], "secret"),
    ]
    return result


def all_markers() -> list[Marker]:
    return [marker for key in CUSTOMERS for marker in markers_for(key)]


def define_custom_fields(session) -> None:
    """The three custom fields of the marked world (customer entity)."""
    from models.fields import CustomFieldDefinition

    for position, (key, audience) in enumerate(CUSTOM_FIELDS.items()):
        session.add(CustomFieldDefinition(
            entity="customer", key=key, label_zh=f"标记{key}", label_en=f"Marker {key}",
            field_type="text", position=position, status="active", **audience))
    session.flush()


def plant(session, world) -> None:
    """Write every marker into the world's customers and accounts (bypassing review: this is
    the bank as it stands, not a change anyone made)."""
    from backoffice.fields.registry import field_spec
    from backoffice.fields.values import to_storage
    from models import Account, Customer

    define_custom_fields(session)
    for key in CUSTOMERS:
        values = values_for(key)
        customer = session.get(Customer, world.customers[key])
        for name in ("id_number", "mobile", "email", "address", "family_notes",
                     "investment_notes", "annual_income"):
            setattr(customer, name, values[name])
        customer.custom_fields = {
            name: to_storage(field_spec("customer", name, session=session), value,
                             customer.record_uid)
            for name, value in values["custom"].items()}
        account = session.get(Account, world.accounts[key])
        account.balance = values["balance"]
        account.account_no = values["account_no"]
    session.commit()
