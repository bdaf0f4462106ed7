"""``/api/v1/changerequest/``: the review queue and decisions for machine clients.

The same use cases as the screens (``backoffice.review.service``), so the same rules: no
self-approval, no stale approval, nothing out of scope (404), every decision logged. Refusals
answer 403 (who you are), 409 (the state of the request or record) or 422 (the values), with a
message per problem.
"""
from __future__ import annotations

import functools

from flask import request
from flask_appbuilder.api import BaseApi, expose, safe
from flask_appbuilder.security.decorators import protect

from backoffice.formatting import local_time
from backoffice.review import service
from backoffice.review.diff import diff_rows

API_PERMISSIONS = {"get_list": "read", "get": "read", "approve": "approve", "reject": "approve",
                   "withdraw": "propose"}


def not_found_if_forbidden(method):
    """A record route refused for lack of permission answers 404, as for every record."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        response = method(self, *args, **kwargs)
        if response.status_code == 403 and (response.get_json(silent=True) or {}).get(
                "message") == "Forbidden":
            return self.response_404()
        return response

    return wrapper


class ChangeRequestApi(BaseApi):
    resource_name = "changerequest"
    class_permission_name = "ChangeRequest"
    method_permission_name = API_PERMISSIONS
    allow_browser_login = True
    openapi_spec_tag = "Change requests"

    @expose("/", methods=["GET"])
    @protect()
    @safe
    def get_list(self):
        """Pending requests for a reviewer; the caller's own requests with ``?mine=1``.
        ---
        get:
          responses:
            200:
              description: Change requests
        """
        user = service.current_user()
        if request.args.get("mine") or not service.may_approve(user):
            changes = service.requests_of(user)
        else:
            changes = service.pending_for(user)
        result = [serialise(change) for change in changes]
        return self.response(200, count=len(result), ids=[c["id"] for c in result],
                             result=result)

    @expose("/<int:pk>", methods=["GET"])
    @not_found_if_forbidden
    @protect()
    @safe
    def get(self, pk):
        """One request with its field-by-field diff (masked as the caller's role requires).
        ---
        get:
          parameters:
          - in: path
            schema:
              type: integer
            name: pk
          responses:
            200:
              description: The change request
            404:
              $ref: '#/components/responses/404'
        """
        user = service.current_user()
        try:
            change = service.get_request(user, pk)
        except service.NotVisible:
            return self.response_404()
        live = service.visible_customer(user, change.customer_id)
        return self.response(200, id=change.id, result={
            **serialise(change),
            "diff": [row.as_dict() for row in diff_rows(change, user, live)],
        })

    @expose("/<int:pk>/approve", methods=["POST"])
    @not_found_if_forbidden
    @protect()
    @safe
    def approve(self, pk):
        """Approve and apply a pending request (not one's own; not a stale one).
        ---
        post:
          parameters:
          - in: path
            schema:
              type: integer
            name: pk
          responses:
            200:
              description: Approved and applied
            403:
              $ref: '#/components/responses/403'
            404:
              $ref: '#/components/responses/404'
            409:
              description: Already decided, or the record changed since (stale)
            422:
              $ref: '#/components/responses/422'
        """
        return self._decide(lambda user: service.approve(user, pk))

    @expose("/<int:pk>/reject", methods=["POST"])
    @not_found_if_forbidden
    @protect()
    @safe
    def reject(self, pk):
        """Reject a pending request; JSON body ``{"reason": "..."}``.
        ---
        post:
          parameters:
          - in: path
            schema:
              type: integer
            name: pk
          responses:
            200:
              description: Rejected
            403:
              $ref: '#/components/responses/403'
            404:
              $ref: '#/components/responses/404'
            409:
              description: Already decided
            422:
              $ref: '#/components/responses/422'
        """
        body = request.get_json(silent=True) or {}
        return self._decide(lambda user: service.reject(user, pk, str(body.get("reason") or "")))

    @expose("/<int:pk>/withdraw", methods=["POST"])
    @not_found_if_forbidden
    @protect()
    @safe
    def withdraw(self, pk):
        """The maker withdraws their own pending request.
        ---
        post:
          parameters:
          - in: path
            schema:
              type: integer
            name: pk
          responses:
            200:
              description: Withdrawn
            403:
              $ref: '#/components/responses/403'
            404:
              $ref: '#/components/responses/404'
            409:
              description: Already decided
        """
        return self._decide(lambda user: service.withdraw(user, pk))

    def _decide(self, decision):
        user = service.current_user()
        try:
            change = decision(user)
        except service.NotVisible:
            return self.response_404()
        except service.ReviewRefused as refused:
            return self.response(refused.status, message=refused.errors)
        return self.response(200, id=change.id, result=serialise(change))


def serialise(change) -> dict:
    """A request's bookkeeping (no proposed values: those are in the masked diff)."""
    return {
        "id": change.id,
        "kind": change.kind,
        "status": change.status,
        "customer_id": change.customer_id,
        "branch_id": change.branch_id,
        "base_version": change.base_version,
        "fields": list(change.fields or []),
        "maker": change.maker.username if change.maker else None,
        "checker": change.checker.username if change.checker else None,
        "reason": change.reason,
        "created_at": local_time(change.created_at),
        "decided_at": local_time(change.decided_at),
        "stale": service.is_stale(change),
    }
