"""Messaging: the one room that reaches customers, used by greetings, campaigns and notices.

* ``channels/`` and :mod:`~backoffice.messaging.registry`: e-mail, SMS, WeChat and phone tasks,
  each one module (code, label, settings, quiet hours, the SQL of "reachable", the address, the
  send); the app factory refuses to start with an incomplete one;
* :mod:`~backoffice.messaging.delivery`: the two-phase send protocol and its errors;
* :mod:`~backoffice.messaging.ledger`: the exactly-once send ledger (claims);
* :mod:`~backoffice.messaging.consent`: the consent ledger;
* :mod:`~backoffice.messaging.quiet`: quiet hours and the local clock.

Features import this package, never each other's messaging code.

Adding a channel: one module in ``channels/`` that sets ``CHANNEL`` (the contract is in
``registry``), its ``CRM_*`` settings declared in ``config/settings.py``, and, for a code the
consent ledger does not know yet, a migration widening ``ck_consent_channel`` (with
``models.consent.CONSENT_CHANNELS``). Senders open channels from the registry.
"""
