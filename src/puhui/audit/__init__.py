"""Audit log: every log-in, permission denial and state change, written in the same
transaction as the change it records."""
