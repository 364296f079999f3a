"""Notifications: an outbox of messages to the in-app inbox, SMS (SMPP 3.4) and e-mail
(SMTP), rendered from templates in Chinese or English and delivered by jobs.

Other domains use ``service`` (``notify``, ``send_sms``, ``register_template``), ``schemas``
and ``errors`` only. The delivery guarantee is stated in ``service``'s docstring.
"""
