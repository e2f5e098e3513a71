"""Who may do what in the console: accounts, passwords (argon2), sign-in throttling and permissions.

Every console route declares one permission with :func:`permission`; a request to a route without
one is refused (deny by default), so a new page cannot be forgotten. The same rules as replies/
apply whatever the page sends: the library's own checks (an author never approves their own
version) run underneath.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from typing import Any, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from flask import Flask, abort, current_app, g
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.extensions import services
from models import ROLES, AuditEntry, User, utcnow

F = TypeVar("F", bound=Callable[..., Any])

ALL = frozenset(ROLES)
PERMISSIONS: dict[str, frozenset[str]] = {
    "console.home": ALL,
    "library.read": ALL,
    "library.draft": frozenset({"operator"}),
    "library.review": frozenset({"reviewer"}),
    "library.publish": frozenset({"reviewer", "supervisor"}),
    "library.kill_switch": frozenset({"supervisor", "admin"}),
    "library.settings": frozenset({"admin"}),
    "conversations.read": frozenset({"operator", "supervisor"}),
    # Take a thread, hand it to a colleague, mark it waiting or handled (the inbox).
    "conversations.handle": frozenset({"operator", "supervisor"}),
    "conversations.qa": frozenset({"supervisor"}),
    "conversations.unmask": frozenset({"supervisor"}),
    "audit.read": frozenset({"supervisor", "admin"}),
    "cases.read": frozenset({"operator", "supervisor"}),
    "cases.handle": frozenset({"operator"}),
    "cases.supervise": frozenset({"supervisor"}),
    "cases.export": frozenset({"supervisor", "admin"}),
    "dashboard.read": frozenset({"operator", "supervisor", "admin"}),
    # Campaigns (征集): operators read them, regroup themes and mark them adopted; supervisors run them.
    "campaigns.read": frozenset({"operator", "supervisor"}),
    "campaigns.mark": frozenset({"operator", "supervisor"}),
    "campaigns.manage": frozenset({"supervisor"}),
    # Rising-issue incidents (舆情预警): operators see them; supervisors mark the clock's steps and set the duty.
    "opinion.read": frozenset({"operator", "supervisor"}),
    "opinion.manage": frozenset({"supervisor"}),
    "users.manage": frozenset({"admin"}),
    # Keys of Open311 clients: created from the command line, listed and revoked by admins.
    "apikeys.manage": frozenset({"admin"}),
    # 12345 hotline tickets imported as cases.
    "cases.import": frozenset({"operator", "supervisor"}),
    "try.use": ALL,
}
ROLE_NAMES = {"operator": "业务员", "reviewer": "审核员", "supervisor": "督查员", "admin": "管理员"}

MAX_FAILURES_PER_USER = 5
MAX_FAILURES_PER_SOURCE = 20
LOCKOUT_SECONDS = 15 * 60
MIN_PASSWORD_LENGTH = 10

_hasher = PasswordHasher()
# Verified when the user does not exist, so a wrong username costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash("minsheng-no-such-user")


class AccountError(Exception):
    """An account action that cannot be done; ``str()`` is a Chinese message."""


def permission(name: str) -> Callable[[F], F]:
    """Declare the permission a console view needs (checked before the view runs)."""
    if name not in PERMISSIONS:
        raise KeyError(name)

    def mark(view: F) -> F:
        view.permission = name  # type: ignore[attr-defined]
        return view

    return mark


def allowed(user: User | None, name: str) -> bool:
    """True if ``user`` holds a role that grants permission ``name``."""
    return user is not None and user.is_active and bool(user.role_set & PERMISSIONS[name])


def require(name: str) -> None:
    """Abort with 403 unless the signed-in user has permission ``name`` (for checks inside a view)."""
    if not allowed(g.get("user"), name):
        abort(403)


def check_view(view: Callable[..., Any] | None) -> None:
    """Abort with 403 unless the signed-in user may open ``view`` (no declared permission → nobody may)."""
    name = getattr(view, "permission", None)
    if name is None or not allowed(g.get("user"), name):
        abort(403)


# -- passwords and accounts -----------------------------------------------------------------------


def hash_password(password: str) -> str:
    """An argon2id hash of ``password`` after checking it is long enough."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"密码至少{MIN_PASSWORD_LENGTH}位")
    return _hasher.hash(password)


def create_user(
    session: Session, username: str, password: str, roles: list[str], *, by: str, display_name: str = ""
) -> User:
    """A new console account (flushes); :class:`AccountError` for a taken name, unknown role or short password."""
    username = username.strip()
    if not username or len(username) > 80 or not all(c.isalnum() or c in "_-." for c in username):
        raise AccountError("用户名只能包含字母、数字、下划线、连字符或点")
    unknown = [r for r in roles if r not in ROLES]
    if unknown or not roles:
        raise AccountError(f"角色须为 {', '.join(ROLES)} 之一")
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise AccountError(f"用户名已存在：{username}")
    user = User(
        username=username,
        display_name=display_name.strip() or username,
        password_hash=hash_password(password),
        roles=",".join(r for r in ROLES if r in roles),
        created_by=by,
    )
    session.add(user)
    session.add(AuditEntry(actor=by, action="user.create", target=username, detail=f"roles={user.roles}"))
    session.flush()
    return user


def verify(session: Session, username: str, password: str) -> User | None:
    """The active user whose password this is, else None (timing does not reveal which part was wrong)."""
    user = session.scalar(select(User).where(User.username == username))
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if user is None or not user.is_active:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    return user


# -- throttling -----------------------------------------------------------------------------------


# Failures are counted per (account, address) and per address, never per account alone: a stranger who
# types wrong passwords for someone's account locks out only their own address, and the real user signs
# in from theirs. Argon2 and the per-address limits keep guessing slow; an admin can lift a lockout.


def _fail_keys(app: Flask, username: str, source: str) -> tuple[str, str, str]:
    ns = app.config["REDIS_NAMESPACE"]
    user = username.lower()[:80]
    return (
        f"{ns}:console:fail:pair:{user}:{source}",
        f"{ns}:console:fail:src:{source}",
        f"{ns}:console:fail:sources:{user}",  # the addresses with a pair counter, so an admin can clear them
    )


def locked_out(username: str, source: str) -> bool:
    """True while too many sign-ins failed for this account from this address, or from this address at all."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    pair_key, source_key, _ = _fail_keys(app, username, source)
    pair_fails, source_fails = services(app).redis.mget(pair_key, source_key)
    return int(pair_fails or 0) >= MAX_FAILURES_PER_USER or int(source_fails or 0) >= MAX_FAILURES_PER_SOURCE


def record_failure(username: str, source: str) -> str | None:
    """Count a failed sign-in; returns what it locked, in Chinese, when this failure starts a lockout."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    pair_key, source_key, sources_key = _fail_keys(app, username, source)
    pipe = services(app).redis.pipeline()
    # The window starts with the first failure (SET NX EX); INCR keeps the key's expiry.
    for key in (pair_key, source_key):
        pipe.set(key, 0, ex=LOCKOUT_SECONDS, nx=True)
        pipe.incr(key)
    pipe.sadd(sources_key, source)
    pipe.expire(sources_key, LOCKOUT_SECONDS)
    _, pair_fails, _, source_fails, _, _ = pipe.execute()
    minutes = LOCKOUT_SECONDS // 60
    if pair_fails == MAX_FAILURES_PER_USER:
        return f"该账号自此地址连续{MAX_FAILURES_PER_USER}次登录失败，此地址登录该账号锁定{minutes}分钟"
    if source_fails == MAX_FAILURES_PER_SOURCE:
        return f"此地址{minutes}分钟内登录失败{MAX_FAILURES_PER_SOURCE}次，此地址锁定{minutes}分钟"
    return None


def clear_failures(username: str, source: str) -> None:
    """Forget this account's failures from this address after a successful sign-in."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    services(app).redis.delete(_fail_keys(app, username, source)[0])


def _pair_counts(app: Flask, username: str) -> tuple[list[str], list[int]]:
    """The (account, address) failure keys of ``username`` and their counts (one read of the set, one MGET)."""
    redis = services(app).redis
    sources = [s.decode() if isinstance(s, bytes) else s for s in redis.smembers(_fail_keys(app, username, "")[2])]
    keys = [_fail_keys(app, username, s)[0] for s in sources]
    return keys, [int(c or 0) for c in redis.mget(keys)] if keys else []


def locked_addresses(usernames: list[str]) -> dict[str, int]:
    """For each account, how many addresses are locked out of it now (for the accounts page)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    return {name: sum(c >= MAX_FAILURES_PER_USER for c in _pair_counts(app, name)[1]) for name in usernames}


def unlock(username: str) -> int:
    """Lift every lockout of this account (an admin's decision); returns how many addresses were locked."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    keys, counts = _pair_counts(app, username)
    services(app).redis.delete(*keys, _fail_keys(app, username, "")[2])
    return sum(c >= MAX_FAILURES_PER_USER for c in counts)


def now() -> dt.datetime:
    """The current time (UTC)."""
    return utcnow()


@functools.cache
def role_choices() -> list[tuple[str, str]]:
    """(role, Chinese name) pairs for forms."""
    return [(r, ROLE_NAMES[r]) for r in ROLES]
