"""Passwords (argon2id), session tokens (only their SHA-256 is stored) and CSRF tokens (an HMAC of the
browser's session or pre-session cookie under the server's secret: a page of another site can neither
read the cookie nor forge the token)."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_HASHER = PasswordHasher()
# Checked against when the e-mail has no account, so a wrong e-mail takes as long as a wrong password.
_DUMMY = _HASHER.hash(secrets.token_urlsafe(16))

MIN_PASSWORD = 10
MAX_PASSWORD = 256


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def check_password(stored: str | None, password: str) -> bool:
    try:
        return _HASHER.verify(stored or _DUMMY, password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def password_problem(password: str) -> str | None:
    if len(password) < MIN_PASSWORD:
        return f"the password must be at least {MIN_PASSWORD} characters"
    if len(password) > MAX_PASSWORD:
        return f"the password must be at most {MAX_PASSWORD} characters"
    return None


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def csrf_token(secret: str, basis: str) -> str:
    return hmac.new(secret.encode(), b"csrf:" + basis.encode(), hashlib.sha256).hexdigest()


def csrf_ok(secret: str, basis: str | None, sent: str | None) -> bool:
    return bool(basis and sent) and hmac.compare_digest(csrf_token(secret, basis or ""), sent or "")
