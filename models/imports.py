"""Bulk imports (批量导入) and governed exports: batches, their files, templates, undo data.

A batch is one uploaded spreadsheet on its way into the database: what it is (kind, mode, sheet,
column mapping), where its bytes are (``import_file``: in the database, or in the configured
shared folder so that a worker on another machine can read it), where it stands (status,
progress, counts) and who did what (uploader, approver, reverter). ``import_row_change`` keeps,
per row a committed batch created or updated, what revert needs: the row's previous values
(sensitive ones as the ciphertext they were, never plaintext) and its state right after the
import, to tell rows edited since (conflicts, left alone) from untouched ones.

None of these tables has a ``customer_id`` column: they are reached only by the import screens
(operators, approvers, auditors), never through the customer record scope.
"""
from __future__ import annotations

from flask_appbuilder import Model
from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import relationship

from models.base import JsonDocument, utcnow
from models.org import Staff

IMPORT_KINDS = ("customers", "accounts", "transactions", "interactions", "branches", "staff",
                "products")
IMPORT_MODES = ("atomic", "skip_bad")
# uploaded -> (dry run) -> pending_approval -> approved -> queued -> running -> committed
#                                                                   \-> failed / cancelled
#                                                                   \-> interrupted -> queued
# committed -> reverted. A run whose job dies (its worker says so, or its heartbeat stops) is
# "interrupted": it resumes from its checkpoint, or is abandoned (cancelled) or reverted
# (backoffice.imports.states holds which action each status allows).
BATCH_STATUSES = ("uploaded", "dry_run", "pending_approval", "approved", "queued", "running",
                  "committed", "failed", "cancelled", "rejected", "reverted", "interrupted")
EXPORT_REQUEST_STATUSES = ("pending", "approved", "rejected", "used")


def _in(column: str, values) -> str:
    return f"{column} IN ({','.join(repr(v) for v in values)})"


class ImportBatch(Model):
    """One spreadsheet import: settings, progress, counts and the people involved."""

    __tablename__ = "import_batch"
    __table_args__ = (
        CheckConstraint(_in("kind", IMPORT_KINDS), name="ck_import_batch_kind"),
        CheckConstraint(_in("mode", IMPORT_MODES), name="ck_import_batch_mode"),
        CheckConstraint(_in("status", BATCH_STATUSES), name="ck_import_batch_status"),
        Index("ix_import_batch_sha256", "sha256"),
        Index("ix_import_batch_status_created", "status", "created_at"),
        Index("ix_import_batch_uploaded_by", "uploaded_by_id", "created_at"),
    )

    id = Column(Integer, primary_key=True)
    kind = Column(String(20), nullable=False)
    mode = Column(String(10), nullable=False, default="atomic")
    status = Column(String(20), nullable=False, default="uploaded")
    filename = Column(String(255), nullable=False)
    file_format = Column(String(10), nullable=False)  # csv / xlsx
    sheet = Column(String(100))
    encoding = Column(String(20))
    sha256 = Column(String(64), nullable=False)
    size_bytes = Column(Integer, nullable=False, default=0)
    headers = Column(JsonDocument, nullable=False, default=list)
    mapping = Column(JsonDocument, nullable=False, default=dict)  # header -> field key
    template_id = Column(Integer, ForeignKey("import_template.id", ondelete="SET NULL"))
    create_fields = Column(Boolean, nullable=False, default=False)
    duplicate_of_id = Column(Integer, ForeignKey("import_batch.id", ondelete="SET NULL"))
    # Counts: of the dry run until the commit, then of the commit.
    total_rows = Column(Integer)
    rows_done = Column(Integer, nullable=False, default=0)
    created_count = Column(Integer, nullable=False, default=0)
    updated_count = Column(Integer, nullable=False, default=0)
    unchanged_count = Column(Integer, nullable=False, default=0)
    rejected_count = Column(Integer, nullable=False, default=0)
    rows_per_second = Column(Integer)
    checkpoint_row = Column(Integer, nullable=False, default=0)  # last source row applied
    dry_run = Column(JsonDocument)  # counts, sample diffs, reviewed fields touched
    needs_approval = Column(Boolean, nullable=False, default=False)
    approval_reason = Column(String(255))
    cancel_requested = Column(Boolean, nullable=False, default=False)
    # Written by the running job on a connection of its own every few seconds: a "running" batch
    # whose heartbeat is older than CRM_IMPORT_HEARTBEAT_TIMEOUT_SECONDS lost its machine.
    heartbeat_at = Column(DateTime)
    message = Column(Text)  # backoffice.stored_text: shown in the reader's language
    error = Column(Text)
    job_run_id = Column(Integer, ForeignKey("job_run.id", ondelete="SET NULL"))
    uploaded_by_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))
    approved_by_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))
    reverted_by_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))
    created_at = Column(DateTime, nullable=False, default=utcnow)
    approved_at = Column(DateTime)
    started_at = Column(DateTime)
    finished_at = Column(DateTime)
    committed_at = Column(DateTime)
    reverted_at = Column(DateTime)
    updated_at = Column(DateTime, nullable=False, default=utcnow, onupdate=utcnow)

    uploaded_by = relationship(Staff, foreign_keys=[uploaded_by_id])
    approved_by = relationship(Staff, foreign_keys=[approved_by_id])
    reverted_by = relationship(Staff, foreign_keys=[reverted_by_id])

    @property
    def percent(self) -> int:
        if self.status == "committed":
            return 100
        if not self.total_rows:
            return 0
        return min(100, int(100 * (self.rows_done or 0) / self.total_rows))

    def __repr__(self) -> str:
        return f"#{self.id} {self.filename}"


FILE_ROLES = ("upload", "report", "preview")


class ImportFile(Model):
    """The bytes of an upload, an error report or a dry run's preview (the sample and reviewed
    changes, JSON): in ``content``, or at ``path`` in the shared folder (``CRM_IMPORT_FOLDER``),
    always sealed (:func:`seal_file`) and with the SHA-256 of the plain bytes.

    Sealed like a customer's encrypted fields (same key ring, AES-GCM, key id inside, associated
    data binding table, column and row): they hold the same customer data, so a database dump
    or a copy of the shared folder must not show it. ``flask crm keys rotate`` re-seals them
    (``backoffice.imports.file_keys``); they are deleted after
    ``CRM_IMPORT_FILE_RETENTION_DAYS`` (``backoffice.imports.retention``).
    """

    __tablename__ = "import_file"
    __table_args__ = (
        CheckConstraint(_in("role", FILE_ROLES), name="ck_import_file_role"),
        UniqueConstraint("batch_id", "role", name="uq_import_file_batch_role"),
    )

    id = Column(Integer, primary_key=True)
    batch_id = Column(Integer, ForeignKey("import_batch.id", ondelete="CASCADE"), nullable=False)
    role = Column(String(10), nullable=False)
    sha256 = Column(String(64), nullable=False)
    size_bytes = Column(Integer, nullable=False)
    content = Column(LargeBinary)
    path = Column(String(500))
    created_at = Column(DateTime, nullable=False, default=utcnow)


def file_aad(batch_id: int, role: str) -> bytes:
    """The associated data of a stored file: its table, column and row (a batch holds one file
    per role), so a sealed file copied to another batch or role does not open."""
    from models import crypto

    return crypto.aad("import_file", "content", f"{int(batch_id)}-{role}")


# Files are deflated before they are sealed: ciphertext does not compress, so the column's own
# (lz4) compression no longer applies, and CSV uploads shrink to a fifth or less.
_DEFLATED = b"deflate:"


def seal_file(batch_id: int, role: str, data: bytes, keyring=None) -> bytes:
    """``data`` deflated and sealed for its batch and role with the primary key: once per file,
    not per row."""
    import zlib

    from models import crypto

    packed = _DEFLATED + zlib.compress(data, 1)
    return (keyring or crypto.current_keyring()).encrypt_bytes(packed, file_aad(batch_id, role))


def open_file(batch_id: int, role: str, sealed: bytes, keyring=None) -> bytes:
    """The plain bytes of a file :func:`seal_file` sealed (``DecryptionError`` otherwise)."""
    import zlib

    from models import crypto

    plain = (keyring or crypto.current_keyring()).decrypt_bytes(sealed, file_aad(batch_id, role))
    if plain.startswith(_DEFLATED):
        return zlib.decompress(plain[len(_DEFLATED):])
    return plain


class ImportTemplate(Model):
    """A saved column mapping (header -> field key) for a kind, by name."""

    __tablename__ = "import_template"
    __table_args__ = (
        CheckConstraint(_in("kind", IMPORT_KINDS), name="ck_import_template_kind"),
        UniqueConstraint("kind", "name", name="uq_import_template_kind_name"),
    )

    id = Column(Integer, primary_key=True)
    kind = Column(String(20), nullable=False)
    name = Column(String(100), nullable=False)
    columns = Column(JsonDocument, nullable=False, default=dict)
    created_by_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))
    created_at = Column(DateTime, nullable=False, default=utcnow)
    updated_at = Column(DateTime, nullable=False, default=utcnow, onupdate=utcnow)

    def __repr__(self) -> str:
        return self.name or ""


class ImportRowChange(Model):
    """Undo data of one row a batch created or updated (revert reads it, nothing shows it).

    ``previous`` holds the updated columns' values before the import (storage form: ciphertext
    stays ciphertext); ``after`` the row's columns right after it, compared at revert time to
    tell an untouched row from one edited since. The customers a chunk created share one row:
    ``entity_id`` is the first of them and ``after`` also lists ``ids`` and their ``rows``
    (``backoffice.imports.writes.undo_entries`` reads both forms).
    """

    __tablename__ = "import_row_change"
    __table_args__ = (
        CheckConstraint("op IN ('create','update')", name="ck_import_row_change_op"),
        UniqueConstraint("batch_id", "entity_id", name="uq_import_row_change_batch_entity"),
    )

    id = Column(Integer, primary_key=True)
    batch_id = Column(Integer, ForeignKey("import_batch.id", ondelete="CASCADE"), nullable=False)
    entity_id = Column(Integer, nullable=False)
    op = Column(String(6), nullable=False)
    row_number = Column(Integer)
    previous = Column(JsonDocument)
    after = Column(JsonDocument)


class ExportRequest(Model):
    """A request to export more rows than ``CRM_EXPORT_MAX_ROWS``, and its decision.

    The export itself is run again at download time, under the requester's own scope and masks:
    no file of customer data waits on the server for the approval.
    """

    __tablename__ = "export_request"
    __table_args__ = (
        CheckConstraint(_in("status", EXPORT_REQUEST_STATUSES), name="ck_export_request_status"),
        Index("ix_export_request_status", "status", "created_at"),
    )

    id = Column(Integer, primary_key=True)
    endpoint = Column(String(100), nullable=False)  # the list view's endpoint
    entity = Column(String(50), nullable=False)
    fmt = Column(String(4), nullable=False)
    args = Column(JsonDocument, nullable=False, default=dict)  # the list's filter arguments
    row_count = Column(Integer, nullable=False)
    reason = Column(String(500))
    status = Column(String(10), nullable=False, default="pending")
    requested_by_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))
    decided_by_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"))
    created_at = Column(DateTime, nullable=False, default=utcnow)
    decided_at = Column(DateTime)
    used_at = Column(DateTime)

    requested_by = relationship(Staff, foreign_keys=[requested_by_id])
    decided_by = relationship(Staff, foreign_keys=[decided_by_id])
