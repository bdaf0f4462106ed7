"""A job run's result as the job-run page shows it: labels in the reader's language, not keys.

A job returns a JSON dict (``{"created": 3, "skipped": 1}``), stored on its ``job_run`` row and
read later by anyone, in either language. Its keys are names in code; the page shows each under
a label from this registry, looked up when the page is drawn, and each value formatted (counts
with separators, fractions rounded, yes/no, stored messages in the reader's language, nested
figures as their own small table).

The registry holds the keys the jobs of this application return. A room whose job returns a key
of its own registers its label at start-up (``results.register({"kept": _l("Kept")})``); a key
nobody registered is shown with its underscores as spaces, never as a bare code, and named in the
application log so that its label gets added.
"""
from __future__ import annotations

import logging
import numbers

from flask_babel import lazy_pgettext, pgettext
from markupsafe import Markup

from backoffice import stored_text
from backoffice.formatting import yes_no

log = logging.getLogger(__name__)

# Keys that several jobs return mean the same in each (a count of records of that outcome).
LABELS: dict[str, object] = {
    # counts of outcomes
    "created": lazy_pgettext("job result", "Created"),
    "updated": lazy_pgettext("job result", "Updated"),
    "unchanged": lazy_pgettext("job result", "Unchanged"),
    "rejected": lazy_pgettext("job result", "Rejected"),
    "skipped": lazy_pgettext("job result", "Skipped"),
    "failed": lazy_pgettext("job result", "Failed"),
    "sent": lazy_pgettext("job result", "Sent"),
    "delivered": lazy_pgettext("job result", "Delivered"),
    "deferred": lazy_pgettext("job result", "Deferred"),
    "cancelled": lazy_pgettext("job result", "Cancelled"),
    "retrying": lazy_pgettext("job result", "To be retried"),
    "unconfirmed": lazy_pgettext("job result", "Not confirmed"),
    "lost_claim": lazy_pgettext("job result", "Taken over by another worker"),
    "handled": lazy_pgettext("job result", "Handled"),
    "matched": lazy_pgettext("job result", "Matched"),
    "acted": lazy_pgettext("job result", "Acted on"),
    "refused": lazy_pgettext("job result", "Refused"),
    "converted": lazy_pgettext("job result", "Conversions found"),
    "escalated": lazy_pgettext("job result", "Escalated"),
    "interrupted": lazy_pgettext("job result", "Interrupted"),
    "started": lazy_pgettext("job result", "Started"),
    "messages": lazy_pgettext("job result", "Messages"),
    "tasks": lazy_pgettext("job result", "Tasks"),
    "tasks_created": lazy_pgettext("job result", "Tasks created"),
    "selected": lazy_pgettext("job result", "Selected"),
    "scheduled": lazy_pgettext("job result", "Scheduled"),
    "empty": lazy_pgettext("job result", "Nothing to send"),
    "digests_sent": lazy_pgettext("job result", "Digests sent"),
    "digest_failures": lazy_pgettext("job result", "Digests not sent"),
    # what was counted or written
    "customers": lazy_pgettext("job result", "Customers"),
    "by_status": lazy_pgettext("job result", "By status"),
    "rows": lazy_pgettext("job result", "Rows"),
    "rows_per_second": lazy_pgettext("job result", "Rows per second"),
    "tiers": lazy_pgettext("job result", "Tiers"),
    "tier_changes": lazy_pgettext("job result", "Tier changes"),
    "segments": lazy_pgettext("job result", "Segments"),
    "pinned": lazy_pgettext("job result", "Pinned"),
    "metrics": lazy_pgettext("job result", "Figures"),
    "baseline_metrics": lazy_pgettext("job result", "Baseline figures"),
    "groups": lazy_pgettext("job result", "Groups"),
    "target": lazy_pgettext("job result", "Target group"),
    "control": lazy_pgettext("job result", "Control group"),
    "candidates": lazy_pgettext("job result", "Candidates"),
    "passed": lazy_pgettext("job result", "Passed"),
    "dropped": lazy_pgettext("job result", "Left out"),
    "dropped_total": lazy_pgettext("job result", "Left out in all"),
    "occasions": lazy_pgettext("job result", "Occasions"),
    "psi": lazy_pgettext("job result", "Population stability (PSI)"),
    # what the run was about
    "day": lazy_pgettext("job result", "Day"),
    "date": lazy_pgettext("job result", "Date"),
    "occasion_date": lazy_pgettext("job result", "Occasion date"),
    "as_of": lazy_pgettext("job result", "As of"),
    "batch_id": lazy_pgettext("job result", "Import batch"),
    "duplicate_of": lazy_pgettext("job result", "Same file as batch"),
    "status": lazy_pgettext("job result", "Status"),
    "kind": lazy_pgettext("job result", "Kind"),
    "mode": lazy_pgettext("job result", "Mode"),
    "needs_approval": lazy_pgettext("job result", "Needs approval"),
    "error_report": lazy_pgettext("job result", "Error report"),
    "message": lazy_pgettext("job result", "Message"),
    "model_id": lazy_pgettext("job result", "Model"),
    "model_version": lazy_pgettext("job result", "Model version"),
    "version": lazy_pgettext("job result", "Version"),
    "ran_in": lazy_pgettext("job result", "Ran in"),
    "pid": lazy_pgettext("job result", "Process"),
    "host": lazy_pgettext("job result", "Host"),
}

# Numbers that name something (a process, a batch, a model version): no thousands separators.
IDENTIFIERS = {"pid", "batch_id", "duplicate_of", "model_id", "version", "model_version"}

_UNLABELLED_SEEN: set[str] = set()


def register(labels: dict) -> None:
    """Labels (lazy translations) for result keys a room's jobs return."""
    LABELS.update(labels)


def label(key, nested: bool = False) -> str:
    """The key's label in the current language; an unregistered key in words, not as a code.

    Keys inside a nested dict are usually data (a status code, a metric's name, a tier): they
    are labelled when registered and otherwise shown as they are."""
    found = LABELS.get(key)
    if found is not None:
        return str(found)
    text = str(key)
    if nested:
        return text
    if text not in _UNLABELLED_SEEN:
        _UNLABELLED_SEEN.add(text)
        log.warning("job result key %r has no label: register one in backoffice.jobs_ui.results",
                    text)
    words = text.replace("_", " ").strip()
    return words[:1].upper() + words[1:]


def value(item) -> str | Markup:
    """One result value as text (or, for a nested dict, a small table)."""
    if item is None:
        return "—"
    if isinstance(item, bool):
        return yes_no(item)
    if isinstance(item, numbers.Integral):
        return f"{item:,}"
    if isinstance(item, numbers.Real):
        if float(item).is_integer():
            return f"{int(item):,}"
        return f"{item:,.4f}".rstrip("0").rstrip(".")
    if isinstance(item, dict):
        return table(item, nested=True)
    if isinstance(item, (list, tuple)):
        if not item:
            return "—"
        if all(not isinstance(part, (dict, list, tuple)) for part in item):
            return pgettext("list separator", ", ").join(str(value(part)) for part in item)
        return Markup("").join(Markup("<div>%s</div>") % value(part) for part in item)
    return stored_text.show(item)


def rows(result: dict, nested: bool = False) -> list[tuple[str, str | Markup]]:
    """(label, formatted value) per key, in the job's order."""
    return [(label(key, nested),
             str(item) if key in IDENTIFIERS and isinstance(item, int) else value(item))
            for key, item in result.items()]


def table(result, nested: bool = False) -> Markup | str:
    """The result as an HTML table (escaped); a result that is not a dict as one value."""
    if not isinstance(result, dict):
        return value(result) if result is not None else ""
    if not result:
        return "—"
    body = Markup("").join(Markup('<tr><th scope="row">%s</th><td>%s</td></tr>') % (name, shown)
                           for name, shown in rows(result, nested))
    return Markup('<table class="table table-condensed crm-job-result">%s</table>') % body

