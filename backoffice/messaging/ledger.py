"""The exactly-once send ledger (claims) that greetings and campaign messages send through.

A sender claims due rows (one UPDATE stamping a claim token and a lease), marks a message
``sent`` in an autocommitted UPDATE of its own just before the last byte leaves (so a killed
worker never sends twice), gives a refused message back to its claim, and releases rows for a
retry, a deferral or for good. The rows are any model with the columns ``status``,
``claim_token``, ``claimed_at``, ``attempts``, ``next_attempt_at``, ``sent_at`` and
``last_error`` (``GreetingDispatch``, ``CampaignMessage``); the sender supplies ``session``,
``clock`` and ``opts`` (``batch``, ``retry``, ``max_attempts``).
"""
from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import select, update


class ClaimedSends:
    """Mixin: the ledger operations on ``model`` rows; a message's wording stays the sender's."""

    model = None  # the ledger's ORM class
    _ledger = None

    def ledger(self):
        """A connection of its own in autocommit mode, for the per-message ``sent`` UPDATE."""
        if self._ledger is None:
            self._ledger = self.session.get_bind().connect().execution_options(
                isolation_level="AUTOCOMMIT")
        return self._ledger

    def close_ledger(self) -> None:
        if self._ledger is not None:
            self._ledger.close()
            self._ledger = None

    def claim_ids(self, due) -> tuple[str, list[int]]:
        """Take up to a batch of the rows ``due`` selects (one UPDATE ... RETURNING), committed."""
        m = self.model
        token = uuid.uuid4().hex
        ids = select(m.id).where(due).order_by(m.id).limit(self.opts["batch"])
        claimed = self.session.scalars(
            update(m).where(m.id.in_(ids.scalar_subquery()), due)
            .values(status="sending", claim_token=token, claimed_at=self.clock(),
                    attempts=m.attempts + 1).returning(m.id),
            execution_options={"synchronize_session": False}).all()
        self.session.commit()
        return token, list(claimed)

    def _commit_sent(self, token, row_id, now, **values) -> bool:
        """``sent`` only under our claim: one autocommitted UPDATE, before the last byte."""
        m = self.model
        changed = self.ledger().execute(
            update(m).where(m.id == row_id, m.claim_token == token, m.status == "sending")
            .values(status="sent", sent_at=now, last_error=None, **values)).rowcount
        return changed == 1

    def _undo_sent(self, row_id: int) -> None:
        """The server refused the complete message: not delivered, so back to our claim (it is
        not logged either: interactions are written after the batch)."""
        m = self.model
        self.ledger().execute(update(m).where(m.id == row_id, m.status == "sent")
                              .values(status="sending", sent_at=None))

    def _fail(self, token, row_id, attempts, error, *, final) -> str:
        """Failed for good (``final`` or out of attempts), else retried with backoff."""
        if final or attempts >= self.opts["max_attempts"]:
            return self._release(token, row_id, "failed", self.clock(), error)
        wait = dt.timedelta(seconds=self.opts["retry"] * 2 ** max(0, attempts - 1))
        return self._release(token, row_id, "retry", self.clock() + wait, error,
                             outcome="retrying")

    def _release(self, token, row_id, status, when, error, *, undo_attempt=False,
                 outcome=None) -> str:
        """Give the row up (under our claim when ``token`` is given); "lost_claim" if another
        sender took it meanwhile."""
        m = self.model
        conditions = [m.id == row_id]
        if token is not None:
            conditions += [m.claim_token == token, m.status == "sending"]
        values = {"status": status, "next_attempt_at": when, "claim_token": None,
                  "last_error": error[:2000] if error else None}
        if undo_attempt:
            values["attempts"] = m.attempts - 1
        changed = self.session.execute(update(m).where(*conditions).values(**values),
                                       execution_options={"synchronize_session": False})
        self.session.commit()
        if changed.rowcount != 1:
            return "lost_claim"
        return outcome or status

    def _note(self, row_id: int, error: str) -> None:
        m = self.model
        self.session.execute(update(m).where(m.id == row_id).values(last_error=error[:2000]),
                             execution_options={"synchronize_session": False})
        self.session.commit()
