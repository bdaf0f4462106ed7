"""Enqueue a job from a screen, working around inline mode losing the request's user.

Inline (no Redis) the runner executes the job in a fresh app context inside the request; the
record-scope hook then asks for ``g.user`` in that context (where it does not exist) for the
runner's own Core statements on ``job_run`` and the job fails before it starts. Jobs run
unrestricted anyway (``jobs.runner``), so the enqueue call itself is made under that scope.
"""
from __future__ import annotations

from backoffice.security import scopes


def enqueue(dotted_name: str, *args, **kwargs):
    from jobs.queue import enqueue as enqueue_job

    with scopes.as_scope(scopes.UNRESTRICTED):
        return enqueue_job(dotted_name, *args, **kwargs)
