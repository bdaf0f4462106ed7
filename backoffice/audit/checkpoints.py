"""Signed checkpoints: the chain's head, written outside the database, checked by ``verify``.

A keyed chain still lets someone who can write the database cut rows off its end (see the
threat model in ``backoffice.audit.chain``). A checkpoint pins the head as it was: one small JSON
file per checkpoint (row id, row hash, time, and an HMAC over them under the chain key) in the
checkpoint folder (``CRM_AUDIT_CHECKPOINT_DIR``, or ``--out``), which should live where the
database's administrators cannot write. ``verify`` then fails when a checkpointed row's hash
differs, when a checkpointed row has vanished, or when a checkpoint file has been altered (its
signature no longer holds). Rows purged behind an archive are not vanished: the chain records
their purge, which ``chain.verify`` checks.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from backoffice.audit import chain
from models.base import utcnow

SETTING = "CRM_AUDIT_CHECKPOINT_DIR"
PREFIX = "audit-checkpoint-"
DOMAIN = "crm-audit-checkpoint-v1"  # signatures cannot be mistaken for row hashes


class CheckpointError(Exception):
    """No checkpoint could be written (no folder configured, an empty or broken log)."""


@dataclass
class Checkpoint:
    row_id: int
    row_hash: str
    created_at: str
    signature: str
    path: Path | None = None


def configured_dir(config) -> Path | None:
    value = config.get(SETTING)
    return Path(value) if value else None


def sign(key: bytes, row_id: int, row_hash: str, created_at: str) -> str:
    message = json.dumps([DOMAIN, int(row_id), row_hash, created_at], separators=(",", ":"))
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).hexdigest()


def write(connection, directory: Path, key: bytes) -> Checkpoint:
    """Verify the chain, then write its head as a signed checkpoint file into ``directory``.

    Refused when the chain does not verify: a checkpoint must never bless a tampered log.
    """
    checked = chain.verify(connection, hash_row=chain.hasher(key))
    if not checked.ok:
        raise CheckpointError(f"the log does not verify at row {checked.bad_id} "
                              f"({checked.reason}); no checkpoint written")
    if not checked.count:
        raise CheckpointError("the log is empty: there is no head to checkpoint")
    row_hash = connection.execute(
        select(chain.log_table.c.row_hash).where(chain.log_table.c.id == checked.last_id)
    ).scalar_one()
    connection.rollback()
    created = utcnow().replace(tzinfo=None).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    point = Checkpoint(int(checked.last_id), row_hash, created,
                       sign(key, checked.last_id, row_hash, created))
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    stamp = created.replace("-", "").replace(":", "").replace(".", "")
    path = directory / f"{PREFIX}{point.row_id:012d}-{stamp}.json"
    partial = path.with_name(path.name + ".partial")
    with open(partial, "w", encoding="utf-8") as handle:
        json.dump({"row_id": point.row_id, "row_hash": point.row_hash,
                   "created_at": point.created_at, "signature": point.signature},
                  handle, sort_keys=True)
        handle.write("\n")
    os.replace(partial, path)
    point.path = path
    return point


def load(directory: Path, key: bytes) -> tuple[list[Checkpoint], list[tuple[str, str]]]:
    """The folder's checkpoints whose signatures hold, and (file, why) for those that do not."""
    good, bad = [], []
    directory = Path(directory)
    if not directory.is_dir():
        return good, bad
    for path in sorted(directory.glob(f"{PREFIX}*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            point = Checkpoint(int(data["row_id"]), str(data["row_hash"]),
                               str(data["created_at"]), str(data["signature"]), path)
        except (OSError, ValueError, KeyError, TypeError):
            bad.append((path.name, "unreadable"))
            continue
        expected = sign(key, point.row_id, point.row_hash, point.created_at)
        if not hmac.compare_digest(expected, point.signature):
            bad.append((path.name, "its signature does not hold (altered, or another key)"))
            continue
        good.append(point)
    return good, bad


def verify(connection, directory: Path | None, key: bytes) -> chain.VerifyResult:
    """``chain.verify`` with the key, then every checkpoint of ``directory`` against the rows."""
    result = chain.verify(connection, hash_row=chain.hasher(key))
    if not result.ok or directory is None:
        return result
    points, broken = load(directory, key)
    if broken:
        name, why = broken[0]
        bad_id = _row_id_in_name(name)
        return chain.VerifyResult(False, result.count, bad_id,
                                  f"checkpoint {name}: {why}", result.first_id, result.last_id)
    first_live = result.first_id
    for point in sorted(points, key=lambda p: p.row_id):
        if first_live is not None and point.row_id < first_live:
            continue  # purged behind an archive, whose purge the chain has on record
        stored = connection.execute(
            select(chain.log_table.c.row_hash).where(chain.log_table.c.id == point.row_id)
        ).scalar_one_or_none()
        if stored is None:
            return chain.VerifyResult(
                False, result.count, point.row_id,
                f"row {point.row_id} is missing: checkpoint {point.path.name} of "
                f"{point.created_at} recorded it", result.first_id, result.last_id)
        if stored != point.row_hash:
            return chain.VerifyResult(
                False, result.count, point.row_id,
                f"row {point.row_id} differs from checkpoint {point.path.name} of "
                f"{point.created_at}: the log was rewritten up to there", result.first_id,
                result.last_id)
    result.reason = f"{len(points)} checkpoint(s) hold" if points else None
    return result


def _row_id_in_name(name: str) -> int | None:
    try:
        return int(name[len(PREFIX):].split("-", 1)[0])
    except ValueError:
        return None


def newest(directory: Path | None, key: bytes) -> dt.datetime | None:
    """When the newest valid checkpoint was taken (for ``verify``'s report)."""
    if directory is None:
        return None
    points, _broken = load(directory, key)
    if not points:
        return None
    return max(dt.datetime.strptime(p.created_at, "%Y-%m-%dT%H:%M:%S.%fZ") for p in points)
