"""Import use cases shared by the screens, the CLI and the jobs.

``upload`` opens the file (refusing what cannot be read, with the reader's message), maps its
columns (a saved template, else automatically by header, custom-field labels included), flags a
re-upload of a file already imported (same SHA-256 and kind) and stores the file with the batch.
``create_fields`` turns unmatched columns into custom fields through the fields room's own
checks (``backoffice.fields.service``), with the types inferred from the data. Approval,
cancellation, resumption and templates live here too, under the state rules of ``states``
(checked here, for the screens, the CLI and the jobs alike); the heavy work is in ``pipeline``
and ``revert``, noticing dead jobs in ``liveness``.
"""
from __future__ import annotations

import re
import unicodedata

from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from backoffice.audit import log
from backoffice.errors import WriteRefused
from backoffice.fields import registry
from backoffice.fields import service as field_service
from backoffice import stored_text
from backoffice.imports import files, liveness, mapping, states
from backoffice.imports.pipeline import ENTITY_OF
from backoffice.imports.reading import ImportFileError, open_table, sha256_hex
from models.base import utcnow
from models.fields import CustomFieldDefinition
from models.imports import IMPORT_KINDS, IMPORT_MODES, ImportBatch, ImportTemplate

SAMPLE_ROWS = 1000
MAX_UPLOAD_BYTES = 512 * 1024 * 1024


class ImportRefused(WriteRefused):
    """The request cannot go ahead; ``errors`` says why (field -> message)."""


def extra_labels(kind: str, session=None) -> dict[str, str]:
    """Custom field labels (both languages) and keys -> key, for header matching."""
    entity = ENTITY_OF.get(kind)
    if entity is None:
        return {}
    labels = {}
    for spec in registry.field_catalog(entity, session=session):
        for label in (spec.key, spec.label_zh, spec.label_en):
            if label:
                labels.setdefault(label, spec.key)
    return labels


def upload(session, data: bytes, filename: str, kind: str, *, mode: str = "atomic",
           sheet=None, template_name: str | None = None, user=None,
           create_fields: bool = False) -> tuple[ImportBatch, mapping.MappingResult]:
    """A new batch for ``data``, mapped and stored (committed). Raises ImportFileError or
    ImportRefused with the reason when the file or the settings cannot be used."""
    if kind not in IMPORT_KINDS:
        raise ImportRefused({"kind": _l("Choose what the file holds.")})
    if mode not in IMPORT_MODES:
        raise ImportRefused({"mode": _l("Choose atomic or skip-bad mode.")})
    if len(data) > MAX_UPLOAD_BYTES:
        raise ImportFileError(_l("The file is larger than %(size)s MiB.",
                                 size=MAX_UPLOAD_BYTES // (1024 * 1024)))
    table = open_table(data, filename, sheet)
    sample = []
    for chunk in table.chunks(SAMPLE_ROWS):
        sample = [row.values for row in chunk]
        break
    template = None
    if template_name:
        template = session.execute(select(ImportTemplate).where(
            ImportTemplate.kind == kind, ImportTemplate.name == template_name)).scalar()
        if template is None:
            raise ImportRefused({"template": _l("There is no mapping template %(name)s for this "
                                                "kind of file.", name=template_name)})
    result = auto_mapping(session, table.headers, kind, sample, template)
    mapping.require_recognised(result, kind)  # refused whole, never committed as "0 rows"
    digest = sha256_hex(data)
    earlier = session.execute(select(ImportBatch.id).where(
        ImportBatch.sha256 == digest, ImportBatch.kind == kind,
        ImportBatch.status == "committed").order_by(ImportBatch.id.desc()).limit(1)).scalar()
    batch = ImportBatch(
        kind=kind, mode=mode, status="uploaded", filename=(filename or "upload")[:255],
        file_format=table.format, sheet=table.sheet, encoding=table.encoding, sha256=digest,
        size_bytes=len(data), headers=list(table.headers), mapping=dict(result.columns),
        template_id=template.id if template else None, create_fields=create_fields,
        duplicate_of_id=earlier, uploaded_by_id=getattr(user, "id", None), created_at=utcnow())
    session.add(batch)
    session.flush()
    files.store(session, batch.id, "upload", data)
    if create_fields and result.unmatched:
        added = create_fields_for(session, kind, result.unmatched)
        batch.mapping = {**batch.mapping, **added}
        result.columns.update(added)
        result.unmatched = [u for u in result.unmatched if u.header not in added]
    log.record("import_upload", entity="ImportBatch", entity_id=batch.id, actor=user, detail={
        "kind": kind, "file": batch.filename, "sha256": digest, "bytes": len(data),
        "duplicate_of": earlier})
    session.commit()
    return batch, result


def auto_mapping(session, headers, kind, sample, template=None) -> mapping.MappingResult:
    if template is not None:
        result = mapping.apply_template(headers, {"kind": kind, "columns": template.columns})
        inferred = mapping.auto_map([u.header for u in result.unmatched], kind,
                                    extra_labels(kind, session), sample)
        result.columns.update(inferred.columns)
        result.unmatched = inferred.unmatched
        return result
    return mapping.auto_map(headers, kind, extra_labels(kind, session), sample)


def field_key(header: str, taken: set[str]) -> str:
    """A custom-field key for a header: ``CreditScore`` -> ``credit_score``, ``年龄`` ->
    ``col_<hash>`` (no transliteration guesses), unique among ``taken``."""
    text = unicodedata.normalize("NFKC", header)
    text = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", text)
    key = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
    if not key or not key[0].isalpha():
        key = f"col_{sha256_hex(header.encode('utf-8'))[:8]}" if not key else f"f_{key}"
    key = key[:56]
    candidate, n = key, 2
    while candidate in taken:
        candidate, n = f"{key}_{n}", n + 1
    return candidate


def create_fields_for(session, kind: str, unmatched) -> dict[str, str]:
    """Custom fields for unmatched columns (types inferred), through the fields room's checks.

    Returns header -> new key for the fields created. Columns that duplicate a matched field
    are left alone (the mapping screen asks which column to use).
    """
    entity = ENTITY_OF.get(kind)
    if entity is None:
        raise ImportRefused({"create_fields": _l(
            "Only customer and interaction files can add custom fields.")})
    taken = set(session.execute(select(CustomFieldDefinition.key).where(
        CustomFieldDefinition.entity == entity)).scalars()) | set(
        registry.builtin_columns(entity))
    added = {}
    for position, column in enumerate(unmatched, start=1):
        if column.duplicate_of:
            continue
        key = field_key(column.header, taken)
        data = {"entity": entity, "key": key, "label_zh": column.header[:100],
                "label_en": column.header[:100], "field_type": column.inferred_type,
                "section": gettext("Imported"), "position": position,
                "choices": [{"value": v[:64], "label_zh": v[:64], "label_en": v[:64],
                             "order": i} for i, v in enumerate(column.choices, start=1)],
                "visible_roles": [], "editable_roles": []}
        clean, errors = field_service.validate_definition(data, session=session)
        if errors:
            raise ImportRefused({column.header: "; ".join(str(e) for e in errors.values())})
        definition = CustomFieldDefinition(entity=entity, key=key, status="active")
        field_service.save(definition, clean, session=session)
        session.add(definition)
        session.flush()
        taken.add(key)
        added[column.header] = key
    registry.invalidate()
    return added


def set_mapping(session, batch: ImportBatch, columns: dict[str, str]) -> None:
    """Replace the batch's mapping with ``columns`` (header -> key), checked."""
    from backoffice.imports.rows import RULES

    check_dry_run(batch)  # a new mapping resets the batch to a fresh dry run

    entity = ENTITY_OF.get(batch.kind)
    allowed = set(RULES[batch.kind]) | ({s.key for s in registry.field_catalog(
        entity, session=session)} if entity else set())
    errors, used = {}, {}
    for header, key in columns.items():
        if not key:
            continue
        if header not in batch.headers:
            errors[header] = _l("The file has no column %(header)s.", header=header)
        elif key not in allowed:
            errors[header] = _l("%(key)s is not a field of this kind of record.", key=key)
        elif key in used:
            errors[header] = _l("Two columns are mapped to %(key)s (%(other)s).", key=key,
                                other=used[key])
        else:
            used[key] = header
    if not errors:  # the policy, asked for the uploader: the batch writes with their rights
        from backoffice.imports import access
        from backoffice.security import policy

        errors = access.refused_columns(batch.kind, {h: k for h, k in columns.items() if k},
                                        policy.viewer_for(batch.uploaded_by))
    if errors:
        raise ImportRefused(errors)
    batch.mapping = {h: k for h, k in columns.items() if k}
    batch.dry_run, batch.status = None, "uploaded"
    batch.approved_by_id = batch.approved_at = None  # approved for another mapping


def save_template(session, kind: str, name: str, columns: dict, user=None) -> ImportTemplate:
    name = (name or "").strip()[:100]
    if not name:
        raise ImportRefused({"template": _l("Give the template a name.")})
    template = session.execute(select(ImportTemplate).where(
        ImportTemplate.kind == kind, ImportTemplate.name == name)).scalar()
    if template is None:
        template = ImportTemplate(kind=kind, name=name, created_by_id=getattr(user, "id", None))
        session.add(template)
    template.columns = dict(columns)
    return template


# --- commit, approval, cancellation ------------------------------------------------------------

def check_dry_run(batch: ImportBatch) -> None:
    """Refuse a dry run (or a new mapping) on a batch whose counts describe written rows or a
    job at work: committed, reverted, running, queued, or stopped with chunks kept."""
    refusal = states.dry_run_refusal(batch)
    if refusal is not None:
        raise ImportRefused({"status": refusal})


def may_approve(user) -> bool:
    from backoffice.security.permissions import has_permission

    return has_permission(user, "can_approve", "ImportBatch")


def request_commit(session, batch: ImportBatch, user) -> str:
    """What the commit button does: "pending_approval" or "queued" (the caller enqueues)."""
    if batch.status == "interrupted":
        raise ImportRefused({"status": _l("This batch was interrupted: resume it or abandon it.")})
    if not states.may_commit(batch):
        raise ImportRefused({"status": _l("This batch cannot be committed now.")})
    if batch.dry_run is None:
        raise ImportRefused({"status": _l("Run the dry run first.")})
    if batch.needs_approval and batch.approved_by_id is None:
        batch.status = "pending_approval"
        log.record("import_submit", entity="ImportBatch", entity_id=batch.id, actor=user,
                   detail={"reason": batch.approval_reason})
        session.commit()
        return "pending_approval"
    # The run of an earlier job (a dry run's) must not be read as this commit's.
    batch.status, batch.cancel_requested, batch.job_run_id = "queued", False, None
    session.commit()
    return "queued"


def resume(session, batch: ImportBatch, user) -> None:
    """An interrupted batch back in the queue (the caller enqueues ``jobs.imports.commit``):
    skip-bad mode carries on after its checkpoint, atomic mode runs from the start (nothing of
    it was kept)."""
    batch = liveness.refresh(session, batch)
    if not states.may_resume(batch):
        raise ImportRefused({"status": _l("Only an interrupted batch can be resumed; this one "
                                          "is %(status)s.", status=batch.status)})
    if batch.needs_approval and batch.approved_by_id is None and batch.uploaded_by_id:
        raise ImportRefused({"status": _l("This batch waits for a second person's approval.")})
    batch.status, batch.cancel_requested, batch.job_run_id = "queued", False, None
    batch.finished_at = None
    batch.message = stored_text.keep(
        _l("Resumed after row %(row)s.", row=batch.checkpoint_row)
        if batch.mode == "skip_bad" and batch.checkpoint_row else
        _l("Running again from the start (nothing of the interrupted run was kept)."))
    log.record("import_resume", entity="ImportBatch", entity_id=batch.id, actor=user,
               detail={"mode": batch.mode, "checkpoint_row": batch.checkpoint_row})
    session.commit()


def approve(session, batch: ImportBatch, user) -> None:
    if batch.status != "pending_approval":
        raise ImportRefused({"status": _l("This batch is not waiting for approval.")})
    if not may_approve(user):
        raise ImportRefused({"status": _l("You may not approve imports.")})
    if user is not None and batch.uploaded_by_id == user.id:
        raise ImportRefused({"status": _l("A second person must approve: not the uploader.")})
    _check_reviewer(session, batch, user)
    batch.status, batch.approved_by_id, batch.approved_at = "queued", user.id, utcnow()
    batch.job_run_id = None  # the commit's job is enqueued next, with its own run
    log.record("import_approve", entity="ImportBatch", entity_id=batch.id, actor=user,
               detail={"reason": batch.approval_reason})
    session.commit()


def _check_reviewer(session, batch: ImportBatch, user) -> None:
    """A batch that changes reviewed fields is the review of those changes: its approver must
    be a checker of customer changes (as for a change request on a screen) whose scope covers
    every customer whose reviewed fields it changes."""
    from backoffice.imports.pipeline import preview_of
    from backoffice.review.service import may_approve as may_review
    from backoffice.security import policy
    from models import Customer

    if not (batch.dry_run or {}).get("reviewed"):
        return
    if not may_review(user):
        raise ImportRefused({"status": _l("This batch changes reviewed fields: only a checker "
                                          "of customer changes may approve it.")})
    ids = {item["entity_id"] for item in preview_of(session, batch).get("reviewed_rows") or ()}
    viewer = policy.viewer_for(user)
    records = session.execute(select(Customer).where(Customer.id.in_(sorted(ids)))
                              .execution_options(crm_unscoped=True)).scalars().all() \
        if ids else []
    if any(not viewer.scope.permits_customer(record) for record in records):
        raise ImportRefused({"status": _l("This batch changes reviewed fields of customers "
                                          "outside your scope; a checker whose scope covers "
                                          "them must approve it.")})


def reject(session, batch: ImportBatch, user) -> None:
    if batch.status != "pending_approval":
        raise ImportRefused({"status": _l("This batch is not waiting for approval.")})
    if not may_approve(user) or (user is not None and batch.uploaded_by_id == user.id):
        raise ImportRefused({"status": _l("You may not decide on this batch.")})
    batch.status, batch.finished_at = "rejected", utcnow()
    log.record("import_reject", entity="ImportBatch", entity_id=batch.id, actor=user)
    session.commit()


def cancel(session, batch: ImportBatch, user) -> str:
    """Cancel (or, for an interrupted batch, abandon) ``batch``; returns its status after.

    A running or queued batch whose job is alive gets the flag its pipeline reads between
    chunks (it then ends "cancelled", keeping the chunks it committed in skip-bad mode, or
    nothing in atomic mode); a batch whose job is dead has no one to read it, so it ends here.
    """
    from backoffice.imports.pipeline import kept_rows

    batch = liveness.refresh(session, batch)
    if not states.may_cancel(batch):
        raise ImportRefused({"status": _l("This batch cannot be cancelled now.")})
    if batch.status in states.ACTIVE:
        batch.cancel_requested = True  # the job stops after its current chunk
    else:
        abandoned = batch.status == "interrupted"
        batch.status, batch.finished_at, batch.cancel_requested = "cancelled", utcnow(), False
        if abandoned:
            batch.message = stored_text.keep(_l("Abandoned after an interruption."),
                                             kept_rows(batch))
    log.record("import_cancel", entity="ImportBatch", entity_id=batch.id, actor=user,
               detail={"status": batch.status, "checkpoint_row": batch.checkpoint_row})
    session.commit()
    return batch.status
