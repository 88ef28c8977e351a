"""Account management: change one's own password, administrators reset, edit and deactivate
accounts of their clinic, and "sign out everywhere". Every change is audited; a password change,
reset or deactivation ends the account's other login sessions.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from glutemed._checks import check_option, short_repr
from glutemed.errors import InputValueError, NotFoundError, Problem
from glutemed.store._auth import Actor, UserInfo, hash_password, verify_password
from glutemed.store._errors import PermissionDeniedError
from glutemed.store._models import ROLES, AuditEvent, SessionRecord, User
from glutemed.store._passwords import check_password

__all__ = [
    "change_own_password",
    "end_user_sessions",
    "reset_password",
    "update_account",
]


def _audit(
    session: Session, actor: Actor, user: User, action: str, changes: dict[str, Any]
) -> None:
    session.add(
        AuditEvent(
            user_id=actor.user_id,
            clinic_id=user.clinic_id,
            action=action,
            entity_type="user",
            entity_id=user.id,
            entity_version=user.version,
            changes=changes,
            snapshot={"id": user.id, "username": user.username, "role": user.role},
        )
    )


def _clinic_user(session: Session, admin: Actor, user_id: int) -> User:
    admin.require_admin()
    user = session.get(User, user_id)
    if user is None or user.clinic_id != admin.clinic_id:
        raise NotFoundError(
            "user not found",
            [Problem("user_id", "an account of your clinic", short_repr(user_id))],
        )
    return user


def end_user_sessions(
    session: Session, actor: Actor, *, user_id: int | None = None, keep_session_id: str = ""
) -> int:
    """End login sessions ("sign out everywhere"); return how many ended.

    Without ``user_id`` the actor's own sessions end (all but ``keep_session_id``); an
    administrator may end those of an account of their clinic.
    """
    target = actor.user_id if user_id is None else user_id
    if target != actor.user_id:
        _clinic_user(session, actor, target)
    where = [SessionRecord.user_id == target]
    if keep_session_id:
        where.append(SessionRecord.id != keep_session_id)
    ended = session.scalar(sa.select(sa.func.count()).select_from(SessionRecord).where(*where))
    session.execute(sa.delete(SessionRecord).where(*where))
    user = session.get(User, target)
    if user is not None:
        _audit(session, actor, user, "sign_out", {"sessions_ended": [None, int(ended or 0)]})
    return int(ended or 0)


def change_own_password(
    session: Session,
    actor: Actor,
    *,
    current_password: str,
    new_password: str,
    keep_session_id: str = "",
) -> None:
    """Change the actor's password; their other sessions end.

    Raises
    ------
    InputValueError
        ``current_password`` is wrong, or ``new_password`` fails the policy (named fields).
    """
    user = session.get(User, actor.user_id)
    if user is None or not verify_password(user.password_hash, current_password or ""):
        raise InputValueError(
            "the current password is not right",
            [Problem("current_password", "your current password", "a different one")],
        )
    check_password(new_password, username=user.username, field="new_password")
    if verify_password(user.password_hash, new_password):
        raise InputValueError(
            "the new password is the current one",
            [Problem("new_password", "a password different from the current one", "the same")],
        )
    user.password_hash = hash_password(new_password)
    session.flush()
    _audit(session, actor, user, "password", {"password": [None, "changed"]})
    end_user_sessions(session, actor, keep_session_id=keep_session_id)


def reset_password(session: Session, admin: Actor, user_id: int, new_password: str) -> None:
    """Set a new password for an account of the administrator's clinic; its sessions end."""
    user = _clinic_user(session, admin, user_id)
    check_password(new_password, username=user.username, field="new_password")
    user.password_hash = hash_password(new_password)
    session.flush()
    _audit(session, admin, user, "password", {"password": [None, "reset"]})
    end_user_sessions(session, admin, user_id=user.id)


def update_account(
    session: Session,
    admin: Actor,
    user_id: int,
    *,
    role: str | None = None,
    display_name: str | None = None,
    active: bool | None = None,
) -> UserInfo:
    """Change an account's role, name or active flag (administrators, own clinic).

    A deactivated account cannot log in and its sessions end. Administrators cannot deactivate
    or demote themselves (so a clinic always keeps one).
    """
    from glutemed.store._auth import _info

    user = _clinic_user(session, admin, user_id)
    changes: dict[str, Any] = {}
    if role is not None:
        check_option("role", role, ROLES)
        if user.id == admin.user_id and role != "admin":
            raise PermissionDeniedError(
                "administrators cannot remove their own administrator role",
                [Problem("role", "another administrator to make the change", "yourself")],
            )
        if role != user.role:
            changes["role"] = [user.role, role]
            user.role = role
    if display_name is not None:
        name = display_name.strip()[:200]
        if name != user.display_name:
            changes["display_name"] = [user.display_name, name]
            user.display_name = name
    if active is not None and bool(active) != user.is_active:
        if user.id == admin.user_id:
            raise PermissionDeniedError(
                "administrators cannot deactivate their own account",
                [Problem("active", "another administrator to make the change", "yourself")],
            )
        changes["is_active"] = [user.is_active, bool(active)]
        user.is_active = bool(active)
    if not changes:
        return _info(user)
    session.flush()
    _audit(session, admin, user, "update", changes)
    if user.is_active is False:
        end_user_sessions(session, admin, user_id=user.id)
    return _info(user)
