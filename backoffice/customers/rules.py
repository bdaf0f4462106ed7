"""Rules a customer record must satisfy whichever path writes it (form, API, later imports).

Form validators give field-level messages before this runs; the API and any other writer get the
same rules from here, as one ``CustomerInvalid`` carrying every problem found.
"""
from __future__ import annotations

from sqlalchemy import func, select

from backoffice.errors import WriteRefused
from backoffice.extensions import db
from models import Customer
from models import validators as v


class CustomerInvalid(WriteRefused):
    """The customer record breaks one or more rules; ``errors`` maps field name to message."""


def customer_errors(customer: Customer) -> dict:
    """Every rule the customer breaks, as ``{field: message}``."""
    errors = {}
    if customer.id_type == "PRC_ID" and customer.id_number:
        message = v.check_prc_id(customer.id_number, birth_date=customer.birth_date)
        if message:
            errors["id_number"] = str(message)
    elif customer.id_type == "USCC" and customer.id_number:
        message = v.check_uscc(customer.id_number)
        if message:
            errors["id_number"] = str(message)
    if customer.mobile:
        message = v.check_mobile(customer.mobile)
        if message:
            errors["mobile"] = str(message)
    return errors


OPTIONAL_CHOICES = ("gender", "risk_tolerance")


def normalise(customer: Customer) -> None:
    """Canonical stored forms, so that exact search and de-duplication work.

    An optional choice left blank in a form arrives as ``""``; it is stored as NULL (the CHECK
    constraints accept only real codes or nothing)."""
    for name in OPTIONAL_CHOICES:
        if getattr(customer, name) == "":
            setattr(customer, name, None)
    if customer.id_number:
        customer.id_number = v.normalise_prc_id(customer.id_number)
    if customer.mobile:
        customer.mobile = v.normalise_mobile(customer.mobile)


def validate_customer(customer: Customer) -> None:
    """Raise ``CustomerInvalid`` with every problem, else normalise the record."""
    errors = customer_errors(customer)
    if errors:
        raise CustomerInvalid(errors)
    normalise(customer)


# The fields each rule of ``customer_errors`` reads, by the field it reports on.
RULE_INPUTS = {"id_number": frozenset({"id_number", "id_type", "birth_date"}),
               "mobile": frozenset({"mobile"})}


def validate_changes(customer: Customer, written) -> None:
    """``validate_customer`` for a partial write (an API PUT) that sets only ``written``.

    The writer answers for what it wrote: a rule is checked when one of the fields it reads
    was written (a new birth date against the stored ID number included), never for stored
    values it left alone (a mobile number recorded before today's rule), and only the written
    values are normalised, so that an untouched encrypted value is not sealed again.
    """
    written = set(written)
    errors = {field: message for field, message in customer_errors(customer).items()
              if RULE_INPUTS.get(field, frozenset({field})) & written}
    if errors:
        raise CustomerInvalid(errors)
    for name in OPTIONAL_CHOICES:
        if name in written and getattr(customer, name) == "":
            setattr(customer, name, None)
    if "id_number" in written and customer.id_number:
        customer.id_number = v.normalise_prc_id(customer.id_number)
    if "mobile" in written and customer.mobile:
        customer.mobile = v.normalise_mobile(customer.mobile)


def next_customer_no() -> str:
    """The next free customer number (``C`` + 9 digits), looked up across all scopes.

    Two simultaneous additions may pick the same number; the unique constraint then refuses the
    second, and the user simply submits again.
    """
    # Only numbers of this very shape count: an imported "CMP000001" or "CORP-12" sorts above
    # every "C" + digits number and would restart the sequence at 1 (a duplicate).
    stmt = select(func.max(Customer.customer_no)).where(
        Customer.customer_no.like("C" + "_" * 9),
        Customer.customer_no.between("C000000000", "C999999999"))
    highest = db.session.execute(stmt, execution_options={"crm_unscoped": True}).scalar()
    number = int(highest[1:]) + 1 if highest and highest[1:].isdigit() else 1
    return f"C{number:09d}"
