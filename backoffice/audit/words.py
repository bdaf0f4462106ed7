"""The operation log in words: action codes, record types, roles and details as labels.

The log stores codes (``view_360``, ``config_change``, ``Customer``, role names) and a JSON
detail, because they are hashed and filtered on; a person reading the log or its export sees
labels in their language, and the detail as "label: value" lines, never a raw dict or a Python
``True``/``None``. A code without a label (a new action) is spelled from its parts.
"""
from __future__ import annotations

import json
import re

from flask_babel import gettext
from flask_babel import lazy_gettext as _l

ACTION_LABELS = {
    "view_360": _l("Opened the customer's 360 page"),
    "view_customer": _l("Opened a customer record"),
    "api_get": _l("Read through the API"),
    "create": _l("Created"), "update": _l("Changed"), "delete": _l("Deleted"),
    "config_change": _l("Changed the configuration"),
    "login": _l("Signed in"), "logout": _l("Signed out"), "login_failed": _l("Failed sign-in"),
    "lockout": _l("Account locked"), "user_unlocked": _l("Account unlocked"),
    "session_expired": _l("Session ended"), "agreement_accepted": _l("Accepted the agreement"),
    "set_password": _l("Set a password"),
    "set_password_refused": _l("Password link refused"),
    "set_password_links_delivered": _l("Password links sent"),
    "search": _l("Searched customers"), "reveal": _l("Revealed a masked value"),
    "export": _l("Exported a list"), "audit_export": _l("Exported the operation log"),
    "audit_checkpoint": _l("Sealed a log checkpoint"), "audit_archive": _l("Archived the log"),
    "audit_purge": _l("Purged archived log rows"),
    "export_request": _l("Asked to export above the limit"),
    "export_approve": _l("Approved an export"), "export_reject": _l("Refused an export"),
    "export_request_used": _l("Used an approved export"),
    "import": _l("Imported"), "import_upload": _l("Uploaded an import file"),
    "import_submit": _l("Started an import"), "import_resume": _l("Resumed an import"),
    "import_approve": _l("Approved an import"), "import_reject": _l("Refused an import"),
    "import_cancel": _l("Cancelled an import"), "import_failed": _l("Import failed"),
    "import_interrupted": _l("Import interrupted"), "import_revert": _l("Undid an import"),
    "import_revert_blocked": _l("Undo of an import refused"),
    "import_report_download": _l("Downloaded an import report"),
    "import_mapping_refused": _l("Import mapping refused"),
    "import_action_refused": _l("Import action refused"),
    "import_files_purge": _l("Purged import files"),
    "propose": _l("Proposed a change"), "approve": _l("Approved a change"),
    "reject": _l("Refused a change"),
    "churn_model_train": _l("Trained a churn model"),
    "churn_model_activate": _l("Activated a churn model"),
    "churn_model_activate_refused": _l("Churn model activation refused"),
    "churn_score": _l("Scored churn risk"),
    "dashboard_refresh": _l("Refreshed the dashboard"),
    "bad_request": _l("Refused a malformed request"),
    "keys.rotate": _l("Rotated the encryption keys"),
    "segment.unpin": _l("Removed a pinned segment member"),
    "convert_custom_field": _l("Converted a custom field to another type"),
}
ENTITY_LABELS = {
    "Customer": _l("Customer"), "customer": _l("Customer"), "Account": _l("Account"),
    "Transaction": _l("Transaction"), "Interaction": _l("Interaction"),
    "FollowUp": _l("Follow-up"), "Campaign": _l("Campaign"), "Segment": _l("Segment"),
    "ChangeRequest": _l("Change request"), "Consent": _l("Consent"), "Staff": _l("Staff"),
    "CustomField": _l("Custom field"), "FieldSet": _l("Field set"),
    "ImportBatch": _l("Import batch"), "ExportRequest": _l("Export request"),
    "ChurnModel": _l("Churn model"), "ChurnSetting": _l("Churn settings"),
    "AuditLog": _l("Operation log"), "AuditArchive": _l("Operation log archive"),
    "SetPasswordToken": _l("Password link"), "JobRun": _l("Background job"),
    "Branch": _l("Branch"), "Product": _l("Product"),
    "Role": _l("Role"), "Group": _l("Group"), "Complaint": _l("Complaint"),
    "LoanApplication": _l("Loan application"), "CampaignTarget": _l("Campaign target"),
    "CampaignMessage": _l("Campaign message"), "ChurnScore": _l("Churn score"),
    "ChurnSignalRule": _l("Churn signal rule"), "Occasion": _l("Occasion"),
    "GreetingTemplate": _l("Greeting template"), "GreetingDispatch": _l("Greeting sent"),
    "Offer": _l("Offer"), "Webhook": _l("Webhook"), "AutomationRule": _l("Automation rule"),
    "Notification": _l("Notification"), "ServiceFlagType": _l("Special service"),
    "CustomerServiceFlag": _l("Customer's special service"), "Comment": _l("Comment"),
    "SegmentMembership": _l("Segment membership"), "TierChange": _l("Tier change"),
    "ImportTemplate": _l("Import template"), "ConfigVersion": _l("Configuration version"),
    "encryption_keys": _l("Encryption keys"), "CustomFieldDefinition": _l("Custom field"),
}
# Words of codes without a label of their own (``segment.update``, ``campaign_launch``).
WORDS = {
    "create": _l("Created"), "update": _l("Changed"), "delete": _l("Deleted"),
    "approve": _l("Approved"), "reject": _l("Refused"), "submit": _l("Submitted"),
    "launch": _l("Launched"), "close": _l("Closed"), "view": _l("Viewed"),
    "record_flags": _l("Recorded consent flags"), "refused": _l("Refused"),
    "segment": _l("Segment"), "campaign": _l("Campaign"), "consent": _l("Consent"),
    "counter": _l("Counter"), "keys": _l("Encryption keys"),
}
DETAIL_LABELS = {
    "export_request": _l("Export request"),
    "via": _l("Via"), "format": _l("Format"), "count": _l("Count"), "ids": _l("Records"),
    "filters": _l("Filters"), "returned": _l("Returned"), "truncated": _l("Cut short"),
    "query": _l("Query"), "fields": _l("Fields"), "kind": _l("Kind"), "op": _l("Operation"),
    "reason": _l("Reason"), "username": _l("Username"), "version": _l("Version"),
    "changes": _l("Changes"), "old": _l("Before"), "new": _l("After"), "field": _l("Field"),
    "status": _l("Status"), "channel": _l("Channel"), "purpose": _l("Purpose"),
    "granted": _l("Granted"), "error": _l("Error"), "message": _l("Message"),
    "rows": _l("Rows"), "batch": _l("Batch"), "model": _l("Model"), "name": _l("Name"),
    "values": _l("Values"), "custom_fields": _l("Custom fields"), "permissions": _l("Permissions"), "roles": _l("Roles"),
    "first_name": _l("Given name"), "last_name": _l("Family name"), "groups": _l("Groups"),
    "password": _l("Password"), "session_epoch": _l("Session generation"),
    "active": _l("Active"), "employee_no": _l("Employee number"), "branch_id": _l("Branch"),
    "before": _l("Before"), "after": _l("After"), "added": _l("Added"), "removed": _l("Removed"),
    "bulk": _l("Many records at once"), "columns": _l("Columns"),
}


def _spelled(code: str) -> str:
    parts = [part for chunk in code.split(".") for part in chunk.split("_") if part]
    joined = code.replace(".", "_")
    for size in range(len(parts), 0, -1):  # the longest known tail: "record_flags"
        tail = "_".join(parts[-size:])
        if tail in WORDS and joined.endswith(tail):
            head = [str(WORDS.get(p, p)) for p in parts[:-size]]
            return " · ".join([*head, str(WORDS[tail])])
    return " ".join(str(WORDS.get(p, p)) for p in parts)


def action_label(code) -> str:
    if not code:
        return ""
    label = ACTION_LABELS.get(code)
    return str(label) if label is not None else _spelled(str(code))


def entity_label(name) -> str:
    if not name:
        return ""
    label = ENTITY_LABELS.get(name)
    return str(label) if label is not None else str(name)


def roles_label(roles) -> str:
    """``"RelationshipManager,Teller"`` (as logged) as the roles' labels."""
    from config.roles import ROLES

    if not roles:
        return ""
    names = roles if isinstance(roles, list) else str(roles).replace(";", ",").split(",")
    return "、".join(str(ROLES[n.strip()]["label"]) if n.strip() in ROLES else n.strip()
                    for n in names if n.strip())


def value_text(value, vocabulary=None, key=None) -> str:
    """One detail value as a person reads it: a code of the field ``key`` as its label (when
    the record type's ``vocabulary`` knows it), yes/no, "—" for nothing, lists joined."""
    if vocabulary is not None and key is not None:
        shown = vocabulary.value(key, value)
        if key == "field" and isinstance(value, str):  # a field named by the row ("mobile")
            shown = vocabulary.label(value)
        if shown is not None:
            return shown
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return gettext("Yes") if value else gettext("No")
    if isinstance(value, list):
        return "、".join(value_text(item, vocabulary, key) for item in value) if value else "—"
    if isinstance(value, dict):
        return "; ".join(f"{key_label(k, vocabulary)}: {value_text(v, vocabulary, k)}"
                         for k, v in value.items())
    from config.roles import ROLES

    if value in ROLES:  # a role written to the log (a user's roles, a role record's name)
        return str(ROLES[value]["label"])
    return str(value)


def key_label(key, vocabulary=None) -> str:
    filtered = re.fullmatch(r"_flt_\d+_(\w+)", key) if isinstance(key, str) else None
    if filtered:  # a list filter as the request carried it (``_flt_0_name``): its column
        key = filtered.group(1)
    if vocabulary is not None and isinstance(key, str):
        own = vocabulary.label(key)  # the record type's own words come first
        if own is not None:
            return own
    label = DETAIL_LABELS.get(key)
    if label is not None:
        return str(label)
    from backoffice.customers.labels import CUSTOMER_LABELS

    def labelled(name):
        found = CUSTOMER_LABELS.get(name)
        # FAB fills a view's label dict with made-up English ("Owner Id") for unlabelled
        # columns, and the customer screens share this dict: those are no labels.
        if found is None or str(found) == re.sub(r"[._]", " ", name).title():
            return None
        return found

    label = labelled(key)
    if label is None and isinstance(key, str) and key.endswith("_id"):
        label = labelled(key[:-3]) or DETAIL_LABELS.get(key[:-3])
    return str(label) if label is not None else str(key)


def _change_text(key, change, vocabulary) -> str:
    """One field's change: "before → after", what a collection gained and lost."""
    if change == "changed":  # a secret (a password): that it changed, never the value
        return gettext("Changed")
    if isinstance(change, dict) and set(change) <= {"before", "after"}:
        return (f"{value_text(change.get('before'), vocabulary, key)} → "
                f"{value_text(change.get('after'), vocabulary, key)}")
    if isinstance(change, dict) and set(change) <= {"added", "removed"}:
        parts = [f"{DETAIL_LABELS[name]}: {value_text(change[name], vocabulary, key)}"
                 for name in ("added", "removed") if change.get(name)]
        return "; ".join(parts) or "—"
    return value_text(change, vocabulary, key)


def _filter_text(item, vocabulary) -> str | None:
    """A list filter as an export logged it (``[column, operator, value]``) in words."""
    if not (isinstance(item, list) and len(item) == 3 and isinstance(item[0], str)):
        return None
    column, _operator, value = item
    shown = {"action": action_label, "entity": entity_label}.get(column)
    text = shown(value) if shown and isinstance(value, str) else value_text(value, vocabulary,
                                                                          column)
    return f"{key_label(column, vocabulary)}: {text}"


def detail_lines(detail, entity=None) -> list[tuple[str, str]]:
    """The detail JSON as ``(label, text)`` lines (a text that is not JSON as one line).

    ``entity`` (the row's record type) gives field names and coded values their labels; the
    changed or written fields of a record each get a line of their own."""
    if not detail:
        return []
    try:
        document = json.loads(detail) if isinstance(detail, str) else detail
    except ValueError:
        return [("", str(detail))]
    from backoffice.audit.detail_words import vocabulary as vocabulary_of

    vocabulary = vocabulary_of(entity)
    if not isinstance(document, dict):
        return [("", value_text(document, vocabulary))]
    lines = []
    for key, value in sorted(document.items()):
        if key == "changes" and isinstance(value, dict):
            lines += [(key_label(name, vocabulary), _change_text(name, change, vocabulary))
                      for name, change in value.items()]
        elif key == "values" and isinstance(value, dict):
            for name, item in value.items():
                if name == "custom_fields" and isinstance(item, dict):
                    lines += [(key_label(f"custom_fields.{inner}", vocabulary),
                               value_text(inner_value, vocabulary, f"custom_fields.{inner}"))
                              for inner, inner_value in item.items()]
                else:
                    lines.append((key_label(name, vocabulary),
                                  value_text(item, vocabulary, name)))
        elif key == "op" and isinstance(value, str):
            lines.append((key_label(key), action_label(value)))
        elif key == "filters" and isinstance(value, list) and value and all(
                _filter_text(item, vocabulary) for item in value):
            lines.append((key_label(key), "; ".join(_filter_text(item, vocabulary)
                                                    for item in value)))
        else:
            lines.append((key_label(key, vocabulary), value_text(value, vocabulary, key)))
    return lines


def detail_text(detail, entity=None) -> str:
    """The detail as plain text lines (exports)."""
    return "\n".join(f"{label}: {text}" if label else text
                     for label, text in detail_lines(detail, entity))
