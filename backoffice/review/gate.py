"""The review gate in the customer write paths (screens and REST API).

FAB's write paths populate the record and then call ``pre_add``/``pre_update``; the gate, called
last there, either lets the write go ahead or files a change request and raises
``SubmittedForReview`` so that FAB writes nothing. The screens then land on the request page
with an informational message; the API answers 202 Accepted with the request's id.
"""
from __future__ import annotations

from flask import g, jsonify, session

from backoffice.review import service
from backoffice.review.service import SubmittedForReview

__all__ = ["SubmittedForReview", "accepted_for_review", "redirect_after_submission",
           "review_gate"]


def review_gate(item) -> None:
    """Call at the end of ``pre_add``/``pre_update``: raises ``SubmittedForReview`` when the
    write became a change request (the live record is left as it was)."""
    change = service.submit_customer_change(item)
    if change is not None:
        submitted = SubmittedForReview(change)
        g.crm_review_submitted = (submitted.request_id, str(submitted))
        raise submitted


def redirect_after_submission():
    """For a screen's ``post_add_redirect``/``post_edit_redirect``: after a submission, the
    request's page (FAB flashed our message as an error: shown as information instead)."""
    from flask import redirect, url_for

    submitted = g.pop("crm_review_submitted", None)
    if submitted is None:
        return None
    change_id, message = submitted
    flashes = session.get("_flashes") or []
    session["_flashes"] = [("info" if text == message else category, text)
                           for category, text in flashes]
    return redirect(url_for("ReviewView.show", pk=change_id))


def accepted_for_review(write):
    """Run an API write; a write that became a change request answers 202 with its id."""
    from backoffice.extensions import db

    try:
        return write()
    except SubmittedForReview as submitted:
        g.pop("crm_review_submitted", None)
        db.session.rollback()  # drop the populated record; the request is already committed
        response = jsonify(change_request=submitted.request_id, status="pending",
                           message=str(submitted))
        response.status_code = 202
        return response
