"""Notifications: an outbox of messages delivered by jobs through channels.

This first cut has the outbox and the development ``log`` channel (it writes messages to
the console and shows them to operators). SMS gateways, e-mail, templates and the in-app
inbox build on the same outbox.
"""
