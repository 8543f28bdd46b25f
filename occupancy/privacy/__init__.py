"""Visitors' personal data: sealed at rest (only the health office's private key opens it), found
by a blind index of the phone number, and purged after the retention period."""
