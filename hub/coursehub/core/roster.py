"""The LMS's roster (LTI NRPS 2.0 memberships) as data: each member as the hub will know them -
the hub username their own launch will get, their role by the same table as launches, the names
and email the LMS shares - and who left since the last sync.

The username comes from the same function a launch uses (launch.lti13_username), so a student
listed in the roster lands on their roster row at their first launch (tests/unit/test_roster.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from .courses import hub_username
from .launch import CUSTOM_PREFIX, lti13_username_source
from .roles import map_roles, split_roles

NRPS_SCOPE = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
MEMBERSHIPS_TYPE = "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"
INACTIVE = "http://purl.imsglobal.org/vocab/lis/v2/status#Inactive"


@dataclass(frozen=True)
class RosterMember:
    username: str
    lms_user_id: str
    role: str
    given_name: str
    family_name: str
    email: str
    # active, inactive (the LMS says so) - "left" is decided against the previous roster
    status: str


def _text(value: Any) -> str:
    return str(value).strip() if isinstance(value, (str, int)) else ""


def roster_member(member: Mapping[str, Any], platform: str, username_key: str) -> RosterMember | None:
    """One NRPS member as the hub knows people; None when it names nobody the hub can map (no
    user id, no usable role, or a username key the roster cannot know, such as custom_*)."""
    user_id = _text(member.get("user_id"))
    if not user_id or username_key.startswith(CUSTOM_PREFIX):
        return None
    token = {"sub": user_id, **{k: v for k, v in member.items() if isinstance(v, str)}}
    decision = map_roles(split_roles(member.get("roles") or []))
    if decision.role is None:
        return None
    status = _text(member.get("status")) or "Active"
    return RosterMember(
        username=hub_username(lti13_username_source(token, {}, username_key), platform),
        lms_user_id=user_id,
        role=decision.role,
        given_name=_text(member.get("given_name")),
        family_name=_text(member.get("family_name")),
        email=_text(member.get("email")),
        status="inactive" if status in ("Inactive", INACTIVE) else "active",
    )


def roster(members: Iterable[Mapping[str, Any]], platform: str, username_key: str) -> tuple[list[RosterMember], int]:
    """(the members the hub can map, how many it could not)."""
    mapped, skipped = [], 0
    for member in members:
        found = roster_member(member, platform, username_key) if isinstance(member, Mapping) else None
        if found is None:
            skipped += 1
        else:
            mapped.append(found)
    return mapped, skipped


def departed(previous: Iterable[str], current: Iterable[RosterMember]) -> set[str]:
    """Usernames of the last roster that the LMS no longer lists: marked, never deleted."""
    return set(previous) - {m.username for m in current}
