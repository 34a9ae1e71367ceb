"""Builds LMS launches for `coursehub launch` and the tests: signed LTI 1.1 POSTs and LTI 1.3
login initiations against the built-in development platform.

Pure functions (no network): the caller posts or opens what they return. The LTI 1.1 fields
are the ones Moodle and Canvas send; the signature comes from oauthlib (HMAC-SHA1, body
signing), the same library that verifies it on the hub.
"""

from __future__ import annotations

import html
import json
import time
import uuid
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any, Mapping
from urllib.parse import parse_qsl, urlencode

from oauthlib.oauth1 import SIGNATURE_HMAC_SHA1, SIGNATURE_TYPE_BODY, Client

from ..core import devplatform
from ..lti.forms import auto_submit_form
from ..lti.toolkeys import SigningKey
from ..core.launch import AGS_CLAIM, DEEP_LINKING_CLAIM, NRPS_CLAIM
from .oidc import mint_login_hint
from .deeplinking import deep_linking_settings
from .outcomes import sourcedid
from .services import ags_claim, memberships_url

# Short role names of the CLI -> what an LMS sends in each version.
LTI11_ROLES = {
    "student": "Learner",
    "instructor": "Instructor",
    "ta": "urn:lti:role:ims/lis/TeachingAssistant",
    "admin": "urn:lti:sysrole:ims/lis/Administrator",
    "mentor": "Mentor",
}
_V2 = "http://purl.imsglobal.org/vocab/lis/v2"
LTI13_ROLES = {
    "student": [f"{_V2}/membership#Learner"],
    "instructor": [f"{_V2}/membership#Instructor"],
    "ta": [f"{_V2}/membership#Instructor", f"{_V2}/membership/Instructor#TeachingAssistant"],
    "admin": [f"{_V2}/system/person#Administrator", f"{_V2}/institution/person#Administrator"],
    "mentor": [f"{_V2}/membership#Mentor"],
}
CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"


@dataclass
class LaunchSpec:
    """Who launches what: the inputs of a test or `coursehub launch`."""

    user: str = "student1"
    role: str = "student"
    course: str = "demo101"  # the course label (short name)
    context_id: str = ""  # default: derived from the label
    title: str = ""
    name: str = ""
    email: str = ""
    custom: Mapping[str, str] = field(default_factory=dict)
    resource_link_id: str = "coursehub-link-1"
    # The LMS offers its services: LTI 1.3 AGS and NRPS claims; LTI 1.1 a learner's grade slot
    # (lis_outcome_service_url, lis_result_sourcedid). ``lineitem``: the AGS line item bound to
    # the link (as deep linking makes one), by the dev platform's id.
    services: bool = False
    lineitem: int | None = None
    # LTI 1.3: an instructor's deep linking request (add a link) instead of a link's launch.
    deep_linking: bool = False

    @property
    def course_context_id(self) -> str:
        return self.context_id or f"ctx-{self.course}"

    @property
    def full_name(self) -> str:
        return self.name or self.user.replace(".", " ").title()

    @property
    def email_address(self) -> str:
        return self.email or f"{self.user}@example.invalid"


def lti11_roles(role: str) -> str:
    """A role short name (student, instructor, ta, admin, mentor) or raw LTI roles, passed on."""
    return ",".join(LTI11_ROLES.get(part.strip(), part.strip()) for part in role.split(","))


def lti11_fields(spec: LaunchSpec) -> dict[str, str]:
    """The unsigned fields of an LTI 1.1 basic launch, as an LMS (Moodle) sends them."""
    given, _, family = spec.full_name.partition(" ")
    fields = {
        "lti_message_type": "basic-lti-launch-request",
        "lti_version": "LTI-1p0",
        "resource_link_id": spec.resource_link_id,
        "resource_link_title": "Notebooks",
        "user_id": spec.user,
        "roles": lti11_roles(spec.role),
        "lis_person_name_full": spec.full_name,
        "lis_person_name_given": given,
        "lis_person_name_family": family,
        "lis_person_contact_email_primary": spec.email_address,
        "context_id": spec.course_context_id,
        "context_label": spec.course,
        "context_title": spec.title or spec.course,
        "context_type": "CourseSection",
        "launch_presentation_locale": "en",
        "launch_presentation_document_target": "window",
        "tool_consumer_info_product_family_code": "moodle",
        "tool_consumer_info_version": "2024100700",
        "tool_consumer_instance_guid": "lms.example.invalid",
        "tool_consumer_instance_name": "coursehub launcher",
        "ext_lms": "moodle-2",
    }
    fields.update({f"custom_{key}": str(value) for key, value in spec.custom.items()})
    return fields


def sign_lti11(
    launch_url: str,
    fields: Mapping[str, str],
    consumer_key: str,
    secret: str,
    *,
    timestamp: int | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    """``fields`` plus the oauth_* fields of an HMAC-SHA1 body signature for ``launch_url``."""
    client = Client(
        consumer_key,
        client_secret=secret,
        signature_method=SIGNATURE_HMAC_SHA1,
        signature_type=SIGNATURE_TYPE_BODY,
        timestamp=str(timestamp if timestamp is not None else int(time.time())),
        nonce=nonce or uuid.uuid4().hex,
    )
    _, _, body = client.sign(
        launch_url,
        http_method="POST",
        body=urlencode(dict(fields)),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    return dict(parse_qsl(body, keep_blank_values=True))


def lti11_launch(
    base_url: str, spec: LaunchSpec, consumer_key: str, secret: str, **sign_kwargs: Any
) -> tuple[str, dict[str, str]]:
    """(launch URL, signed form fields) of an LTI 1.1 launch against the hub at ``base_url``."""
    url = base_url.rstrip("/") + "/hub/lti/launch"
    fields = lti11_fields(spec)
    if spec.services and "student" in spec.role.split(","):
        fields["lis_outcome_service_url"] = f"{devplatform.INTERNAL_BASE}/outcomes"
        fields["lis_result_sourcedid"] = sourcedid(secret, spec.course_context_id, spec.resource_link_id, spec.user)
    return url, sign_lti11(url, fields, consumer_key, secret, **sign_kwargs)


def lti13_message_claims(spec: LaunchSpec, target_link_uri: str, deployment_id: str = "1") -> dict[str, Any]:
    """The message claims of an LtiResourceLinkRequest (protocol claims are the platform's)."""
    given, _, family = spec.full_name.partition(" ")
    roles: list[str] = []
    for part in spec.role.split(","):
        roles += LTI13_ROLES.get(part.strip(), [part.strip()])
    return {
        "sub": spec.user,
        "name": spec.full_name,
        "given_name": given,
        "family_name": family,
        "email": spec.email_address,
        CLAIM + "version": "1.3.0",
        CLAIM + "message_type": "LtiResourceLinkRequest",
        CLAIM + "deployment_id": deployment_id,
        CLAIM + "target_link_uri": target_link_uri,
        CLAIM + "resource_link": {"id": spec.resource_link_id, "title": "Notebooks"},
        CLAIM + "roles": roles,
        CLAIM + "context": {
            "id": spec.course_context_id,
            "label": spec.course,
            "title": spec.title or spec.course,
            "type": ["http://purl.imsglobal.org/vocab/lis/v2/course#CourseOffering"],
        },
        CLAIM + "custom": {str(k): str(v) for k, v in spec.custom.items()},
        CLAIM + "tool_platform": {"name": "coursehub development platform", "guid": "coursehub-dev"},
        CLAIM + "launch_presentation": {"document_target": "window", "locale": "en"},
        **(services_claims(spec) if spec.services else {}),
    }


def services_claims(spec: LaunchSpec) -> dict[str, Any]:
    """The AGS and NRPS claims the dev platform puts in a launch of ``spec``'s context."""
    return {
        AGS_CLAIM: ags_claim(spec.course_context_id, spec.lineitem),
        NRPS_CLAIM: {"context_memberships_url": memberships_url(spec.course_context_id),
                     "service_versions": ["2.0"]},
    }


def lti13_login_url(
    base_url: str,
    dev_key: SigningKey,
    spec: LaunchSpec,
    *,
    deployment_id: str = devplatform.DEV_DEPLOYMENT_ID,
    client_id: str = devplatform.DEV_CLIENT_ID,
    issuer: str = devplatform.DEV_ISSUER,
    extra_claims: Mapping[str, Any] | None = None,
) -> str:
    """The dev platform's login-initiation URL for ``spec`` (GET it, follow the redirects)."""
    base = base_url.rstrip("/")
    target = base + ("/hub/coursehub/deep-link" if spec.deep_linking else "/hub/")
    claims = lti13_message_claims(spec, target, deployment_id)
    if spec.deep_linking:
        claims.pop(CLAIM + "resource_link", None)
        claims[CLAIM + "message_type"] = "LtiDeepLinkingRequest"
        claims[DEEP_LINKING_CLAIM] = deep_linking_settings(
            base, dev_key, spec.course_context_id, client_id, deployment_id, issuer)
    claims.update(extra_claims or {})
    params = {
        "iss": issuer,
        "login_hint": mint_login_hint(dev_key, claims),
        "target_link_uri": target,
        "client_id": client_id,
        "lti_deployment_id": deployment_id,
    }
    return f"{base}/hub/lti13/oauth_login?{urlencode(params)}"


def html_page(url: str, fields: Mapping[str, str] | None = None) -> str:
    """An auto-submitting page: a form POST of ``fields`` (1.1) or a plain link (1.3 GET)."""
    if fields is not None:
        return auto_submit_form(url, fields, title="coursehub launch")
    return (
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>coursehub launch</title>"
        f"<meta http-equiv=\"refresh\" content=\"0; url={_attr(url)}\"></head>"
        f"<body><a href=\"{_attr(url)}\">Launch</a></body></html>\n"
    )


def as_json(url: str, fields: Mapping[str, str] | None = None) -> str:
    method = "POST" if fields is not None else "GET"
    return json.dumps({"method": method, "url": url, "fields": dict(fields or {})}, indent=2)


def _attr(value: str) -> str:
    return html.escape(value, quote=True)


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.action = ""
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "form" and not self.action:
            self.action = values.get("action", "")
        elif tag == "input" and values.get("name"):
            self.fields[values["name"]] = values.get("value", "")


def parse_form(page: str) -> tuple[str, dict[str, str]]:
    """(action, fields) of the first form of an auto-submitting page, as a browser posts it."""
    parser = _FormParser()
    parser.feed(page)
    return parser.action, parser.fields
