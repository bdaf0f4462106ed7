"""Who may see a customer's deep profile (total assets, income, holdings, family and
investment notes).

For customers in the top tiers (private banking, wealth) only senior managers and the owning
relationship manager; for other customers also their branch manager. Tellers serve customers at
the counter with basic business information and never see it.
"""
from __future__ import annotations

from backoffice.security import scopes
from models.choices import TOP_TIERS

# Fields of the deep-profile group, on the customer and on what hangs off it.
DEEP_PROFILE_FIELDS = {
    "Customer": {"annual_income", "family_notes", "investment_notes", "total_assets"},
    "Account": {"balance"},
    "Transaction": set(),
}


def may_see_deep_profile(customer, scope: scopes.RecordScope | None = None) -> bool:
    """Whether the current user (or ``scope``) may see this customer's deep profile."""
    scope = scope or scopes.current() or scopes.NOTHING
    if scope.kind == "all":
        return True
    if scope.user_id is not None and scope.user_id == customer.owner_id:
        return True
    if customer.effective_tier in TOP_TIERS:
        return False
    return scope.kind == "branch" and scope.branch_id == customer.branch_id


def is_deep_profile_field(entity: str, field: str) -> bool:
    return field in DEEP_PROFILE_FIELDS.get(entity, set())
