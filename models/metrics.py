"""Customer metrics as SQL expressions, defined once for screens, jobs and rules.

Total financial assets (AUM) is what the tiers, the 360 page and the deep profile all mean by
"assets": balances of open accounts in asset products (loans and credit cards are liabilities).
"""
from __future__ import annotations

from sqlalchemy import func, select

from models.banking import Account
from models.catalog import Product
from models.customers import Customer

LIABILITY_CATEGORIES = ("loan", "credit_card")


def total_assets_of(customer_id_column=Customer.id):
    """A scalar subquery: the total financial assets of the customer in ``customer_id_column``."""
    return (
        select(func.coalesce(func.sum(Account.balance), 0))
        .join(Product, Product.id == Account.product_id)
        .where(
            Account.customer_id == customer_id_column,
            Account.status == "open",
            Product.category.not_in(LIABILITY_CATEGORIES),
        )
        .scalar_subquery()
    )
