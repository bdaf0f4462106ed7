"""The FAB data interface every back-office screen reads and writes through.

Two gaps of FAB are closed here, below the views: values are passed through the presentation
rules (masking, deep profile) before any list or show widget sees them, and database errors
become a plain message instead of FAB flashing the exception text (SQL and parameters, which
would show sensitive values to the user).
"""
from __future__ import annotations

import logging

from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from backoffice.errors import WriteRefused
from backoffice.security.encrypted_fields import EncryptedFieldsMixin  # field encryption
from backoffice.security.presentation import present

log = logging.getLogger(__name__)


def database_refusal(error: SQLAlchemyError) -> WriteRefused:
    """A user-facing refusal for a database error (details go to the log, not the screen)."""
    log.warning("write refused by the database: %s", type(error).__name__)
    if isinstance(error, IntegrityError):
        return WriteRefused({"_": _l(
            "The database refused this record: a value that must be unique is already used, "
            "or a required or coded field holds something it does not accept.")})
    return WriteRefused({"_": _l("The database could not save this record; nothing was changed.")})


class CrmInterface(EncryptedFieldsMixin, SQLAInterface):
    """SQLAInterface with presentation on read and plain messages on refused writes."""

    def _get_attr_value(self, item, col):
        value = present(item, col, super()._get_attr_value(item, col))
        return "" if value is None else value  # FAB's widgets would print "None"

    def add(self, item, commit: bool = True) -> None:
        self._write(super().add, item, commit)

    def edit(self, item, commit: bool = True) -> None:
        self._write(super().edit, item, commit)

    def delete(self, item, commit: bool = True) -> None:
        self._write(super().delete, item, commit)

    def _write(self, operation, item, commit):
        try:
            operation(item, commit)
        except SQLAlchemyError as error:
            raise database_refusal(error) from None
        except Exception as error:  # FAB wraps edit/delete errors in DatabaseException
            cause = error.__cause__
            if isinstance(cause, SQLAlchemyError):
                raise database_refusal(cause) from None
            raise
