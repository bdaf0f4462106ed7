"""Which products a customer holds, and how their planned wealth is spread across them.

Every customer has a demand deposit (the account their money moves through). Richer customers
spread more of their wealth into time deposits, wealth products and funds, always within their
risk tolerance (product R-level <= customer C-level), as suitability rules require. Loans and
credit cards are liabilities and do not count towards wealth. A leaver's accounts are all closed
with a zero balance by the day they left.
"""
from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from decimal import Decimal

from backoffice.demo.identity import account_no
from backoffice.demo.people import CENT, Profile


def money(cents: int) -> Decimal:
    """Cents as a two-place Decimal, the form Money columns hold."""
    return Decimal(cents).scaleb(-2)


@dataclass
class Holdings:
    """A customer's account rows plus the handles the transaction simulation needs."""

    rows: list[dict] = field(default_factory=list)
    demand: dict | None = None
    card: dict | None = None
    loan: tuple[dict, str, int] | None = None  # row, product name, monthly payment (cents)
    investments: list[tuple[dict, str, int]] = field(default_factory=list)  # row, name, cents
    demand_target: int = 0  # cents of planned wealth left on the demand deposit


def _opened(rng: random.Random, p: Profile, today: dt.date, earliest: dt.date | None = None):
    start = max(p.onboarded_on, earliest or p.onboarded_on)
    end = (p.closed_on or today) - dt.timedelta(days=1)
    if end <= start:
        return start
    return start + dt.timedelta(days=rng.randint(0, (end - start).days))


def _split(rng: random.Random, total: int, parts: int) -> list[int]:
    weights = [rng.uniform(0.3, 1.0) for _ in range(parts)]
    scale = sum(weights)
    amounts = [int(total * w / scale) // 100 * 100 for w in weights]  # whole yuan
    return amounts


def build_holdings(rng: random.Random, p: Profile, products: dict, ids, today: dt.date) -> Holdings:
    """Accounts for ``p``; demand and card balances are filled in by the simulation later."""
    h = Holdings()

    def add(code: str, balance: int, opened: dt.date, closed_on=None) -> dict:
        product = products[code]
        account_id = ids.take("account")
        row = {
            "id": account_id, "account_no": account_no(account_id), "customer_id": p.id,
            "product_id": product["id"], "balance": money(balance), "currency": "CNY",
            "opened_on": opened, "closed_on": closed_on,
            "status": "open" if closed_on is None else "closed",
        }
        h.rows.append(row)
        return row

    corporate = p.kind == "corporate"
    if corporate:
        demand_code = "DEP-CORP"
    else:  # employees are paid onto a payroll card
        demand_code = "DEP-SAL" if p.occ_class == "employed" else "DEP-CUR"
    h.demand = add(demand_code, 0, p.onboarded_on)
    wealth = p.wealth
    private = wealth >= 6_000_000 * CENT
    h.demand_target = wealth
    if wealth >= 20_000 * CENT:
        kinds = ["time_deposit"]
        if wealth >= 50_000 * CENT and rng.random() < (0.95 if wealth >= 500_000 * CENT else 0.45):
            kinds.append("wealth")
        if not corporate and wealth >= 50_000 * CENT and p.risk >= 2 and rng.random() < (
                0.7 if wealth >= 500_000 * CENT else 0.3):
            kinds.append("fund")
        if not corporate and p.age >= 30 and rng.random() < 0.18:
            kinds.append("insurance")
        if private:
            kinds += ["wealth", "wealth", "fund"]
        if rng.random() < 0.35 and len(kinds) > 1:
            kinds.remove("time_deposit")
        share = rng.uniform(0.05, 0.15) if private else rng.uniform(0.15, 0.45)
        amounts = _split(rng, int(wealth * (1 - share)), len(kinds))
        for kind, amount in zip(kinds, amounts):
            code = _pick_product(rng, kind, amount, p.risk, products, private)
            if code is None:
                continue
            row = add(code, amount, _opened(rng, p, today))
            h.demand_target -= amount
            if kind in ("wealth", "fund", "insurance"):
                h.investments.append((row, products[code]["name"], amount))
        if not corporate and rng.random() < 0.12:  # a matured time deposit, paid out earlier
            opened = _opened(rng, p, today)
            matured = min(today, opened + dt.timedelta(days=rng.choice((91, 365))))
            if matured < today and (p.closed_on is None or matured < p.closed_on):
                add(rng.choice(("TD-3M", "TD-1Y")), 0, opened, matured)
    _add_credit(rng, p, h, add, today)
    if p.closed_on is not None:
        _close_all(rng, p, h)
    return h


def _pick_product(rng, kind, amount, risk, products, private) -> str | None:
    candidates = [
        code for code, prod in products.items()
        if prod["category"] == kind and prod["risk"] <= risk and prod["min_amount"] * CENT <= amount
        and code != "DEP-CORP"
    ]
    if not candidates:
        return None
    if private:
        premium = [c for c in candidates if products[c]["min_amount"] >= 200_000]
        if premium and rng.random() < 0.6:
            return rng.choice(premium)
    return rng.choice(candidates)


def _add_credit(rng, p: Profile, h: Holdings, add, today: dt.date) -> None:
    """Loans (mortgage, consumer, business) and credit cards, as liabilities."""
    if p.kind == "corporate":
        if rng.random() < 0.45:
            principal = int(rng.lognormvariate(13.8, 0.7)) * CENT  # ~1,000,000
            h.loan = (add("LN-CORP", principal, _opened(rng, p, today)), "企业流动资金贷款",
                      principal // 12 // 100 * 100)
        return
    draw = rng.random()
    if 25 <= p.age <= 55 and draw < 0.14:
        principal = int(rng.uniform(300_000, 2_500_000)) * CENT
        h.loan = (add("LN-MORT", principal, _opened(rng, p, today)), "个人住房按揭贷款",
                  int(principal * 0.0053) // 100 * 100)
    elif p.occ_class == "self" and draw < 0.35:
        principal = int(rng.uniform(100_000, 1_000_000)) * CENT
        h.loan = (add("LN-BIZ", principal, _opened(rng, p, today)), "个体工商户经营贷",
                  principal // 24 // 100 * 100)
    elif 22 <= p.age <= 60 and draw > 0.93:
        principal = int(rng.uniform(20_000, 300_000)) * CENT
        h.loan = (add("LN-CONS", principal, _opened(rng, p, today)), "个人消费贷款",
                  principal // 34 // 100 * 100)
    if 20 <= p.age <= 70 and rng.random() < 0.3:
        h.card = add("CC-PLAT" if p.wealth >= 500_000 * CENT else "CC-STD", 0,
                     _opened(rng, p, today))


def _close_all(rng, p: Profile, h: Holdings) -> None:
    """A leaver redeemed, repaid and closed everything on or shortly before their last day."""
    for row in h.rows:
        if row["closed_on"] is not None:
            continue
        row["status"] = "closed"
        row["balance"] = money(0)
        lead = 0 if row is h.demand else rng.randint(1, 20)
        row["closed_on"] = max(row["opened_on"], p.closed_on - dt.timedelta(days=lead))
