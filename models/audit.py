"""The operation log (操作日志): append-only, hash-chained, and the archives that allow purging.

Each row carries the SHA-256 of the row before it, so that editing, deleting or reordering any
row breaks the chain at that row (``flask crm audit verify``). Values are stored exactly as they
are hashed: ``detail`` is canonical JSON *text* (not JSON/JSONB, which would re-serialise it) and
``entity_id`` is text, so a round trip through SQLite or PostgreSQL never changes the hashed bytes.
Ids are given by the writer under the chain lock (last id + 1), not by a sequence, so id order is
chain order.
"""
from __future__ import annotations

from flask_appbuilder import Model
from sqlalchemy import BigInteger, Column, DateTime, Index, Integer, String, Text

# BIGINT on PostgreSQL (years of reads at bank scale); on SQLite an INTEGER primary key is the
# rowid, which is already 64-bit and the fastest key there is.
LogId = BigInteger().with_variant(Integer(), "sqlite")


class AuditLog(Model):
    """One operation: who (actor, roles, IP, user agent), when, what, on which record."""

    __tablename__ = "audit_log"
    id = Column(LogId, primary_key=True, autoincrement=False)
    occurred_at = Column(DateTime, nullable=False)
    actor_id = Column(Integer)
    actor_username = Column(String(128))
    actor_roles = Column(String(255))
    ip = Column(String(45))
    user_agent = Column(String(255))
    action = Column(String(32), nullable=False)
    entity = Column(String(64))
    entity_id = Column(String(64))
    customer_id = Column(Integer)
    detail = Column(Text)
    prev_hash = Column(String(64), nullable=False)
    row_hash = Column(String(64), nullable=False)

    __table_args__ = (
        Index("ix_audit_log_occurred_at", "occurred_at"),
        Index("ix_audit_log_actor_id", "actor_id"),
        Index("ix_audit_log_action", "action"),
        Index("ix_audit_log_customer_id", "customer_id"),
        Index("ix_audit_log_entity", "entity", "entity_id"),
        Index("ix_audit_log_ip", "ip"),
    )

    def __repr__(self) -> str:
        return f"#{self.id} {self.action}"


class AuditArchive(Model):
    """A range of log rows written to an archive file; only archived rows may ever be purged."""

    __tablename__ = "audit_archive"
    id = Column(Integer, primary_key=True)
    created_at = Column(DateTime, nullable=False)
    created_by = Column(String(128))
    first_id = Column(LogId, nullable=False)
    last_id = Column(LogId, nullable=False)
    row_count = Column(Integer, nullable=False)
    last_hash = Column(String(64), nullable=False)
    file_name = Column(String(500), nullable=False)
    file_sha256 = Column(String(64), nullable=False)
    purged_at = Column(DateTime)

    def __repr__(self) -> str:
        return f"archive #{self.id} ({self.first_id}-{self.last_id})"


class AuditHead(Model):
    """The chain's head (last id and hash), one row, updated in every appending transaction.

    Writers lock this row to serialise appends, and ``verify`` compares the end of the chain with
    it: without a witness outside the rows, removing or rewriting the *last* row would leave a
    chain that still links up.
    """

    __tablename__ = "audit_head"
    id = Column(Integer, primary_key=True, autoincrement=False)
    last_id = Column(LogId, nullable=False)
    last_hash = Column(String(64), nullable=False)
