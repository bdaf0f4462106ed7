"""The demo bank as a stream of chunks, so memory stays flat however many customers are asked for.

The first chunk holds the organisation and the catalogue; each later chunk holds a slice of
customers with everything that hangs off them (accounts, transactions, interactions, follow-ups).
Primary keys are assigned here, starting after the database's current maxima, so children can
point at parents without any flush or RETURNING round trip. All randomness comes from one
``random.Random(seed)`` and one ``Faker('zh_CN')`` seeded with the same seed, consumed in a fixed
order, and every date is derived from ``today``: the same seed and ``today`` give the same rows,
whatever the chunk size.
"""
from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from dataclasses import dataclass, field

from faker import Faker

from backoffice.demo.activity import Activity
from backoffice.demo.catalog import product_rows
from backoffice.demo.holdings import build_holdings
from backoffice.demo.names import given_name
from backoffice.demo.org import build_org
from backoffice.demo.people import PeopleFactory
from backoffice.demo.service import Service
from backoffice.demo.timeline import Timeline

# Parents before children: the order rows must be inserted in.
TABLES = ("branch", "ab_user", "ab_user_role", "product", "customer", "account", "transaction",
          "interaction", "follow_up")
CHUNK_CUSTOMERS = 1000


class IdCursor:
    """Hands out consecutive primary keys per table, starting at the given next values."""

    def __init__(self, next_ids: dict[str, int]):
        self._next = {table: next_ids.get(table, 1) for table in TABLES}

    def take(self, table: str) -> int:
        value = self._next[table]
        self._next[table] = value + 1
        return value


@dataclass
class Chunk:
    """Rows per table name, plus the logins (first chunk only) and the customers it carries."""

    rows: dict[str, list[dict]] = field(default_factory=lambda: {t: [] for t in TABLES})
    logins: list[tuple[str, str, str, str]] = field(default_factory=list)
    customers: int = 0


def generate(*, customers: int, seed: int, tx_per_month: float, today: dt.date,
             roles: dict[str, int], password: str, password_hash: str,
             next_ids: dict[str, int], existing_products: dict[str, int] | None = None,
             chunk_customers: int = CHUNK_CUSTOMERS) -> Iterator[Chunk]:
    """Yield the organisation chunk, then customer chunks of ``chunk_customers`` each."""
    rng = random.Random(seed)
    fake = Faker("zh_CN")
    fake.seed_instance(seed)
    ids = IdCursor(next_ids)
    tl = Timeline(today)

    org = build_org(rng, fake, ids, customers=customers, roles=roles, password=password,
                    password_hash=password_hash, today=today)
    new_products, products = product_rows(existing_products or {}, ids)
    head = Chunk(logins=org.logins)
    head.rows.update(branch=org.branches, ab_user=org.staff, ab_user_role=org.user_roles,
                     product=new_products)
    yield head

    people = PeopleFactory(rng, fake, org, tl)
    names = [fake.last_name() + given_name(rng, rng.choice("MF"), rng.randint(1950, 2000))
             for _ in range(300)]
    activity = Activity(rng, tl, names, people.employers, tx_per_month)
    service = Service(rng, tl)
    chunk = Chunk()
    for seq in range(customers):
        row, profile = people.make(ids.take("customer"), seq)
        holdings = build_holdings(rng, profile, products, ids, today)
        transactions = activity.simulate(profile, holdings, ids)
        interactions, tasks = service.generate(
            profile, [name for _row, name, _held in holdings.investments], ids,
            holdings.loan is not None,
        )
        rows = chunk.rows
        rows["customer"].append(row)
        rows["account"] += holdings.rows
        rows["transaction"] += transactions
        rows["interaction"] += interactions
        rows["follow_up"] += tasks
        chunk.customers += 1
        if chunk.customers == chunk_customers:
            yield chunk
            chunk = Chunk()
    if chunk.customers:
        yield chunk
