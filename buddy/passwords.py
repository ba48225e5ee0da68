"""Password hashing: argon2id, behind this one module."""

from __future__ import annotations

import secrets
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app

MIN_LENGTH = 10


def _hasher() -> PasswordHasher:
    cfg = current_app.config
    return PasswordHasher(
        time_cost=cfg["BUDDY_ARGON2_TIME_COST"],
        memory_cost=cfg["BUDDY_ARGON2_MEMORY_KIB"],
        parallelism=cfg["BUDDY_ARGON2_PARALLELISM"],
    )


def hash_password(password: str) -> str:
    """Return an argon2id hash of `password`."""
    return _hasher().hash(password)


@lru_cache(maxsize=4)
def _stand_in_hash(time_cost: int, memory_kib: int, parallelism: int) -> str:
    """A hash of a random secret, made once per set of parameters (per process)."""
    hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib,
                            parallelism=parallelism)
    return hasher.hash(secrets.token_urlsafe(32))


def verify_password(stored_hash: str | None, password: str) -> tuple[bool, str | None]:
    """Check `password`; return (ok, new_hash) where new_hash is set when parameters changed.

    With no stored hash (no such account) a stand-in hash of the same cost is checked and
    the answer is always False: an unknown address takes as long as a wrong password.
    """
    hasher = _hasher()
    if stored_hash is None:
        stored_hash = _stand_in_hash(hasher.time_cost, hasher.memory_cost, hasher.parallelism)
        try:
            hasher.verify(stored_hash, password)
        except (VerificationError, InvalidHashError):
            pass
        return False, None
    try:
        hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False, None
    if hasher.check_needs_rehash(stored_hash):
        return True, hasher.hash(password)
    return True, None


def password_problem(password: str) -> str | None:
    """A plain-English reason the password is too weak, or None."""
    if len(password) < MIN_LENGTH:
        return f"Password must be at least {MIN_LENGTH} characters"
    if len(password) > 256:
        return "Password must be 256 characters or fewer"
    if len(set(password)) < 4:
        return "Password is too easy to guess: use a mix of letters, numbers or words"
    return None
