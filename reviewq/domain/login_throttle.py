"""Login throttling: per account *and* source, per source, and a longer account lock a lead can clear.

- An account and source pair gets `per_pair` attempts a minute: someone guessing from one
  address cannot lock the real user out from theirs.
- A source gets `per_source` attempts a minute over all accounts (password spraying).
- An account with `lock_failures` failures within `lock_window` from anywhere is locked for a
  whole `lock_window` after the last of them, until it passes or a lead clears it.

Attempts are counted before the password is checked, atomically (rate_counters), so parallel
guesses cannot all slip under the limit; a successful login gives its attempt back. The caller
commits right after `reserve_attempt`, before the (slow) password hash.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session

from reviewq.config import SecuritySettings
from reviewq.domain import rate_counters
from reviewq.domain.audit import record_event

MINUTE = timedelta(minutes=1)
PAIR, SOURCE, ACCOUNT = "login:pair:", "login:source:", "login:account:"
# Each failure is an audit event: actor "ip:<address>", object_id the attempted name.
LOGIN_FAILED, LOGIN_LOCKED = "user.login_failed", "user.login_locked"


@dataclass(frozen=True)
class LoginLimits:
    per_pair: int = 5
    per_source: int = 20
    lock_failures: int = 50
    lock_window: timedelta = timedelta(minutes=60)

    @classmethod
    def from_settings(cls, security: SecuritySettings) -> LoginLimits:
        return cls(
            per_pair=security.max_failed_logins_per_minute,
            per_source=security.max_failed_logins_per_source_per_minute,
            lock_failures=security.account_lock_failures,
            lock_window=timedelta(minutes=security.account_lock_minutes),
        )


@dataclass(frozen=True)
class Refusal:
    scope: str  # "pair", "source" or "account"
    retry_after_s: int


def _name(name: str) -> str:
    return name[:64]


def _pair(name: str, source: str) -> str:
    return f"{PAIR}{_name(name)}|{source[:100]}"


def reserve_attempt(*, session: Session, name: str, source: str, now: datetime, limits: LoginLimits) -> Refusal | None:
    """Count this attempt; a Refusal (with the seconds to wait) if it is over a limit."""
    lock = rate_counters.peek(session=session, key=ACCOUNT + _name(name), now=now, window=limits.lock_window)
    if lock is not None and lock.count >= limits.lock_failures:
        return Refusal("account", _seconds(lock.resets_in(now=now, window=limits.lock_window)))
    pair = rate_counters.hit(session=session, key=_pair(name, source), now=now, window=MINUTE)
    if pair.count > limits.per_pair:
        return Refusal("pair", _seconds(pair.resets_in(now=now, window=MINUTE)))
    by_source = rate_counters.hit(session=session, key=SOURCE + source[:100], now=now, window=MINUTE)
    if by_source.count > limits.per_source:
        return Refusal("source", _seconds(by_source.resets_in(now=now, window=MINUTE)))
    return None


def attempt_failed(*, session: Session, name: str, now: datetime, limits: LoginLimits) -> bool:
    """Count a failure against the account; True if this one locked it."""
    key = ACCOUNT + _name(name)
    failures = rate_counters.hit(session=session, key=key, now=now, window=limits.lock_window)
    if failures.count >= limits.lock_failures:
        rate_counters.restart(session=session, key=key, now=now)  # locked a whole window from now
        return failures.count == limits.lock_failures
    return False


def login_failed(*, session: Session, name: str, source: str, now: datetime, limits: LoginLimits) -> None:
    """A wrong password: audited (and the lock, if this failure set it), and counted against the account."""
    record_event(session=session, actor=f"ip:{source}"[:100], action=LOGIN_FAILED, object_type="user",
                 object_id=_name(name), now=now)
    if attempt_failed(session=session, name=name, now=now, limits=limits):
        record_event(session=session, actor="system", action=LOGIN_LOCKED, object_type="user",
                     object_id=_name(name), now=now, details={"failures": limits.lock_failures})


def attempt_succeeded(*, session: Session, name: str, source: str) -> None:
    """A right password: this pair starts afresh and the source gets its attempt back."""
    rate_counters.reset(session=session, key=_pair(name, source))
    rate_counters.undo(session=session, key=SOURCE + source[:100])


def locked_accounts(*, session: Session, now: datetime, limits: LoginLimits) -> dict[str, datetime]:
    """Names of locked accounts and when each lock ends."""
    counts = rate_counters.peek_prefix(session=session, prefix=ACCOUNT, now=now, window=limits.lock_window)
    return {name: c.window_start + limits.lock_window for name, c in counts.items() if c.count >= limits.lock_failures}


def clear_lock(*, session: Session, name: str, now: datetime, actor: str) -> bool:
    """A lead lets the account log in again. False if it was not locked or failing."""
    cleared = rate_counters.reset(session=session, key=ACCOUNT + _name(name))
    if cleared:
        record_event(session=session, actor=actor, action="user.login_unlocked", object_type="user",
                     object_id=_name(name), now=now)
    return cleared


def _seconds(value: float) -> int:
    return max(1, int(value + 0.999))
