"""Reads and sessions on record: customer pages, API gets, logins and logouts.

Reads are captured by one ``after_request`` hook keyed on endpoint names, so no view has to
remember to log: the customer 360 page (``view_360``), the show and edit pages of customer data
(``view_customer``) and the REST API's single and list GETs (``api_get``, a list with the ids it
returned and the query that asked for them, redacted like every detail). Only successful (200)
responses are logged, with the record's id from the URL. If the log cannot be written the page is not served: a read that is not on record must not happen.

Logins and logouts come from Flask-Login's signals (the login form) and from the JWT login
endpoint; failed logins and lockouts are recorded by the security manager's password check.
"""
from __future__ import annotations

import logging

from flask import current_app, request
from sqlalchemy import select

from backoffice.audit.log import record, record_at_request_end

logger = logging.getLogger(__name__)
LIST_ID_CAP = 200
READ_ENDPOINTS_KEY = "crm_audit_read_endpoints"
_extra_reads: dict[str, tuple] = {}


def audit_read_endpoint(endpoint: str, action: str, entity: str, model=None) -> None:
    """Log successful GETs of ``endpoint`` (for rooms whose screens are not found automatically).

    ``model`` (with a ``customer_id`` column, or the customer itself) lets the row name the
    customer the record belongs to.
    """
    _extra_reads[endpoint] = (action, entity, model)


def install(app) -> None:
    from flask_login import user_logged_in, user_logged_out

    user_logged_in.connect(_logged_in, app)
    user_logged_out.connect(_logged_out, app)
    app.after_request(_after_request)


def _logged_in(_sender, user=None, **_extra):
    _session_event("login", user, "form")


def _logged_out(_sender, user=None, **_extra):
    _session_event("logout", user, None)


def _session_event(action, user, via):
    if user is None or not getattr(user, "is_authenticated", False):
        return
    try:
        record(action, entity="Staff", entity_id=getattr(user, "id", None), actor=user,
               detail={"via": via} if via else None)
    except Exception:  # noqa: BLE001 - a session event must not break the login itself
        logger.exception("could not record %s in the operation log", action)


def read_endpoints(app) -> dict:
    """endpoint -> (action, entity, model, kind) for every customer-data read route."""
    cached = app.extensions.get(READ_ENDPOINTS_KEY)
    if cached is not None:
        return cached
    from flask_appbuilder import ModelRestApi

    from backoffice.security.scopes import SCOPED_ENTITIES
    from models import Customer

    endpoints = {}
    for view in app.appbuilder.baseviews:
        model = getattr(getattr(view, "datamodel", None), "obj", None)
        if model not in SCOPED_ENTITIES:
            continue
        name = view.endpoint
        entity = model.__name__
        if isinstance(view, ModelRestApi):
            endpoints[f"{name}.get"] = ("api_get", entity, model, "one")
            endpoints[f"{name}.get_list"] = ("api_get", entity, model, "list")
        else:
            endpoints[f"{name}.show"] = (
                "view_360" if model is Customer else "view_customer", entity, model, "one")
            endpoints[f"{name}.edit"] = ("view_customer", entity, model, "one")
    for endpoint, (action, entity, model) in _extra_reads.items():
        endpoints[endpoint] = (action, entity, model, "one")
    endpoints["SecurityApi.login"] = ("login", "Staff", None, "api_login")
    app.extensions[READ_ENDPOINTS_KEY] = endpoints
    return endpoints


def _after_request(response):
    if response.status_code != 200:
        return response
    endpoint = request.endpoint
    if endpoint is None:
        return response
    target = read_endpoints(current_app).get(endpoint)
    if target is None or (request.method != "GET" and target[3] != "api_login"):
        return response
    try:
        _record_read(response, *target)
    except Exception:  # noqa: BLE001 - fail closed: no record, no data
        logger.exception("could not record %s of %s; response withheld", target[0], endpoint)
        from werkzeug.exceptions import InternalServerError

        return InternalServerError().get_response()
    return response


def _record_read(response, action, entity, model, kind):
    if kind == "api_login":
        _record_api_login(response)
        return
    if kind == "list":
        payload = response.get_json(silent=True) or {}
        ids = list(payload.get("ids") or [])
        detail = ({"ids": ids[:LIST_ID_CAP], "returned": len(ids), "truncated": True}
                  if len(ids) > LIST_ID_CAP else {"ids": ids, "returned": len(ids)})
        if request.args:  # what was asked for (``q=`` filters): redacted by ``build_row``
            detail["query"] = {name: request.args.getlist(name)[0] if len(
                request.args.getlist(name)) == 1 else request.args.getlist(name)
                for name in request.args}
        record_at_request_end(action, entity=entity, detail=detail)
        return
    pk = (request.view_args or {}).get("pk")
    record_at_request_end(action, entity=entity, entity_id=pk,
                          customer_id=_customer_of(model, pk))


def _customer_of(model, pk):
    """The customer a record belongs to (its own id for a customer)."""
    if pk is None or model is None:
        return None
    try:
        pk = int(pk)
    except (TypeError, ValueError):
        return None
    from models import Customer

    if model is Customer:
        return pk
    table = model.__table__
    if "customer_id" not in table.c:
        return None
    from backoffice.extensions import db

    return db.session.execute(
        select(table.c.customer_id).where(table.c.id == pk)
    ).scalar_one_or_none()


def _record_api_login(response):
    """A JWT login: Flask-Login's signal does not fire, so the endpoint is logged instead."""
    body = request.get_json(silent=True) or {}
    username = body.get("username")
    user = current_app.appbuilder.sm.find_user(username=username) if username else None
    record("login", entity="Staff", entity_id=getattr(user, "id", None),
           actor=user if user is not None else username, detail={"via": "api"})
