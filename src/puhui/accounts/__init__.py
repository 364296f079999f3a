"""Accounts: institutions, users, roles, sessions, API keys, log-in and lock-out."""
