"""The message channels: one module per channel, each defining one channel class.

Every module here is loaded by :mod:`backoffice.messaging.registry`; the app factory refuses to
start if a channel lacks a part of the contract described there.
"""
