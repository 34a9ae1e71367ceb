"""Turns a validated LTI 1.1 or 1.3 launch into a Launch record, the only input of the spawn policy.

The launch has already been authenticated (signature, nonce, issuer...) by the time it gets
here; this module only reads fields, picks the username and the role, and refuses launches
that cannot lead to a course server, with a message a person can act on.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping

from .courses import hub_username
from .roles import map_roles, split_roles

LTI13_CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"
ROLES_CLAIM = LTI13_CLAIM + "roles"
CONTEXT_CLAIM = LTI13_CLAIM + "context"
RESOURCE_LINK_CLAIM = LTI13_CLAIM + "resource_link"
CUSTOM_CLAIM = LTI13_CLAIM + "custom"
DEPLOYMENT_CLAIM = LTI13_CLAIM + "deployment_id"
AGS_CLAIM = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
NRPS_CLAIM = "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"
MESSAGE_TYPE_CLAIM = LTI13_CLAIM + "message_type"
DEEP_LINKING_CLAIM = "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"
DEEP_LINKING_REQUEST = "LtiDeepLinkingRequest"
LTI11_OUTCOME_FIELDS = ("lis_outcome_service_url", "lis_result_sourcedid")
CUSTOM_PREFIX = "custom_"


class LaunchError(Exception):
    """A launch that cannot go on; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str):
        self.status = status
        self.message = message
        super().__init__(f"{status}: {message}")


@dataclass(frozen=True)
class Launch:
    """What coursehub knows about one launch; stored (encrypted) in JupyterHub's auth_state."""

    version: str
    platform: str
    lms_user_id: str
    username: str
    display_name: str
    given_name: str
    family_name: str
    email: str
    context_id: str
    context_label: str
    context_title: str
    role: str
    is_lms_admin: bool
    lms_roles: tuple[str, ...]
    resource_link_id: str
    custom: Mapping[str, str] = field(default_factory=dict)
    outcomes: Mapping[str, Any] = field(default_factory=dict)
    deployment_id: str = ""
    # LTI 1.3: the client id the launch was for (services are called as that client).
    client_id: str = ""
    # LTI 1.3: LtiResourceLinkRequest (a link was opened) or LtiDeepLinkingRequest (an
    # instructor picks what a new link opens; ``deep_linking`` is the request's settings claim).
    message_type: str = "LtiResourceLinkRequest"
    deep_linking: Mapping[str, Any] = field(default_factory=dict)
    # Empty until the caller resolves it against the course registry (dataclasses.replace).
    course_id: str = ""

    def __post_init__(self) -> None:
        # Copies, so that a caller mutating its own dicts cannot change a frozen record.
        object.__setattr__(self, "lms_roles", tuple(self.lms_roles))
        object.__setattr__(self, "custom", dict(self.custom))
        object.__setattr__(self, "outcomes", dict(self.outcomes))
        object.__setattr__(self, "deep_linking", dict(self.deep_linking))

    @property
    def is_deep_linking(self) -> bool:
        return self.message_type == DEEP_LINKING_REQUEST

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict; ``from_dict`` reads it back into an equal Launch."""
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["lms_roles"] = list(self.lms_roles)
        data["custom"] = dict(self.custom)
        data["outcomes"] = dict(self.outcomes)
        data["deep_linking"] = dict(self.deep_linking)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Launch":
        """Reads ``to_dict`` output; keys added by newer versions are ignored."""
        names = {f.name for f in dataclasses.fields(cls)}
        required = {
            f.name for f in dataclasses.fields(cls)
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        }
        missing = sorted(required - set(data))
        if missing:
            raise ValueError(f"stored launch lacks {', '.join(missing)}")
        return cls(**{key: value for key, value in data.items() if key in names})


def _text(value: Any) -> str:
    if value is None or isinstance(value, (dict, list)):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).strip()


def _require_user(user_id: str, key_hint: str) -> None:
    """The LMS's own user id is required: rosters and grade passback are keyed on it."""
    if not user_id:
        raise LaunchError(
            400,
            f"The LMS sent no user id ({key_hint}). Ask the LMS admin to let this tool receive "
            "the user's identity (privacy settings of the tool).",
        )


def _require_context(context_id: str) -> None:
    if not context_id:
        raise LaunchError(
            400,
            "This link was opened outside a course (no LTI context). Add the tool to a course "
            "in the LMS and open it from there.",
        )


def _require_role(roles: tuple[str, ...]) -> tuple[str, bool]:
    decision = map_roles(roles)
    if decision.role is None:
        sent = ", ".join(roles) or "none"
        raise LaunchError(
            403,
            f"No usable role in this course (the LMS sent: {sent}). Learners, teaching "
            "assistants and instructors of the course can open this tool; ask the course's "
            "instructor to enrol you.",
        )
    return decision.role, decision.is_lms_admin


def _display_name(full: str, given: str, family: str, fallback: str) -> str:
    return full or " ".join(part for part in (given, family) if part) or fallback


def launch_from_lti11(args: Mapping[str, str], consumer_key: str, username_key: str) -> Launch:
    """A Launch from the LTI 1.1 POST fields (oauth_* already removed) of consumer ``consumer_key``."""
    fields = {key: _text(value) for key, value in args.items()}
    user_id = fields.get("user_id", "")
    _require_user(user_id, "user_id")
    source = fields.get(username_key, "") or user_id
    context_id = fields.get("context_id", "")
    _require_context(context_id)
    lms_roles = split_roles(fields.get("roles", ""))
    role, is_admin = _require_role(lms_roles)
    username = hub_username(source, consumer_key)
    given = fields.get("lis_person_name_given", "")
    family = fields.get("lis_person_name_family", "")
    return Launch(
        version="1.1",
        platform=consumer_key,
        lms_user_id=user_id,
        username=username,
        display_name=_display_name(fields.get("lis_person_name_full", ""), given, family, username),
        given_name=given,
        family_name=family,
        email=fields.get("lis_person_contact_email_primary", ""),
        context_id=context_id,
        context_label=fields.get("context_label", ""),
        context_title=fields.get("context_title", ""),
        role=role,
        is_lms_admin=is_admin,
        lms_roles=lms_roles,
        resource_link_id=fields.get("resource_link_id", ""),
        custom={
            key[len(CUSTOM_PREFIX):]: value
            for key, value in fields.items()
            if key.startswith(CUSTOM_PREFIX) and len(key) > len(CUSTOM_PREFIX)
        },
        outcomes={key: fields[key] for key in LTI11_OUTCOME_FIELDS if fields.get(key)},
    )


def _claim(token: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = token.get(name)
    return value if isinstance(value, Mapping) else {}


def lti13_username_source(token: Mapping[str, Any], custom: Mapping[str, str], key: str) -> str:
    """Like ltiauthenticator: ``custom_x`` reads x from the custom claim; ``sub`` is the fallback."""
    if key.startswith(CUSTOM_PREFIX):
        value = custom.get(key[len(CUSTOM_PREFIX):], "")
    else:
        value = _text(token.get(key or "sub"))
    return value or _text(token.get("sub"))


def launch_from_lti13(id_token: Mapping[str, Any], username_key: str) -> Launch:
    """A Launch from a decoded, validated LTI 1.3 id_token."""
    platform = _text(id_token.get("iss"))
    # The spec allows non-string custom values in JSON; nested objects are not parameters.
    custom = {
        str(key): _text(value)
        for key, value in _claim(id_token, CUSTOM_CLAIM).items()
        if not isinstance(value, (dict, list)) and value is not None
    }
    sub = _text(id_token.get("sub"))
    # Anonymous launches (no sub) have no stable identity to own a server or receive a grade.
    _require_user(sub, "sub")
    source = lti13_username_source(id_token, custom, username_key)
    context = _claim(id_token, CONTEXT_CLAIM)
    context_id = _text(context.get("id"))
    _require_context(context_id)
    raw_roles = id_token.get(ROLES_CLAIM) or []
    lms_roles = split_roles(raw_roles if isinstance(raw_roles, (list, tuple, str)) else [])
    role, is_admin = _require_role(lms_roles)
    username = hub_username(source, platform)
    given = _text(id_token.get("given_name"))
    family = _text(id_token.get("family_name"))
    return Launch(
        version="1.3",
        platform=platform,
        lms_user_id=sub,
        username=username,
        display_name=_display_name(_text(id_token.get("name")), given, family, username),
        given_name=given,
        family_name=family,
        email=_text(id_token.get("email")),
        context_id=context_id,
        context_label=_text(context.get("label")),
        context_title=_text(context.get("title")),
        role=role,
        is_lms_admin=is_admin,
        lms_roles=lms_roles,
        resource_link_id=_text(_claim(id_token, RESOURCE_LINK_CLAIM).get("id")),
        custom=custom,
        outcomes={
            claim: dict(id_token[claim])
            for claim in (AGS_CLAIM, NRPS_CLAIM)
            if isinstance(id_token.get(claim), Mapping)
        },
        deployment_id=_text(id_token.get(DEPLOYMENT_CLAIM)),
        client_id=_client_id(id_token),
        message_type=_text(id_token.get(MESSAGE_TYPE_CLAIM)) or "LtiResourceLinkRequest",
        deep_linking=dict(_claim(id_token, DEEP_LINKING_CLAIM)),
    )


def _client_id(id_token: Mapping[str, Any]) -> str:
    """The client an id_token is for: ``azp``, else its one audience."""
    aud = id_token.get("aud")
    if isinstance(aud, list):
        return _text(id_token.get("azp")) or (_text(aud[0]) if len(aud) == 1 else "")
    return _text(id_token.get("azp")) or _text(aud)
