"""The bank's product catalogue; each product carries its regulatory risk level R1–R5."""
from __future__ import annotations

from flask_appbuilder import Model
from sqlalchemy import Boolean, CheckConstraint, Column, Integer, String, Text

from models.base import Money


class Product(Model):
    """A product customers can hold: deposits, wealth, funds, insurance, loans, cards."""

    __tablename__ = "product"
    __table_args__ = (
        CheckConstraint("risk_level IN ('R1','R2','R3','R4','R5')", name="ck_product_risk_level"),
    )
    id = Column(Integer, primary_key=True)
    code = Column(String(30), unique=True, nullable=False)
    name = Column(String(100), nullable=False)
    category = Column(String(20), nullable=False, index=True)
    risk_level = Column(String(2), nullable=False, default="R1")
    min_amount = Column(Money)
    description = Column(Text)
    active = Column(Boolean, nullable=False, default=True)

    def __repr__(self) -> str:
        return self.name or ""
