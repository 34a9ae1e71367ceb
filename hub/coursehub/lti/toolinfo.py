"""What the tool says about itself to an LMS: its name, URLs, the messages and claims it wants,
the services it uses. The registration sheet (cli/lmsconfig.py), the Canvas JSON and dynamic
registration (dynreg.py) all read it from here, so the three never disagree."""

from __future__ import annotations

from typing import Any

from .toolkeys import SigningKey

TOOL_TITLE = "coursehub notebooks"
TOOL_DESCRIPTION = "Jupyter notebooks and nbgrader assignments for this course"
# Custom parameters of the LMS tool link; the values are examples (docs/parameters.md).
CUSTOM_PARAMETERS = {"interface": "lab"}
# The services the tool calls (IMS LTI AGS 2.0, NRPS 2.0).
SCOPES = (
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly",
    "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly",
    "https://purl.imsglobal.org/spec/lti-ags/scope/score",
    "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly",
)
# What the tool needs to know of a user: rosters and grades are keyed on sub; names for people.
CLAIMS = ("iss", "sub", "name", "given_name", "family_name", "email")


def tool_urls(public_url: str) -> dict[str, str]:
    base = public_url.rstrip("/")
    return {
        "lti11_launch": f"{base}/hub/lti/launch",
        "login_initiation": f"{base}/hub/lti13/oauth_login",
        "redirect_uri": f"{base}/hub/lti13/oauth_callback",
        "jwks": f"{base}/hub/lti13/jwks",
        "target_link_uri": f"{base}/hub/",
        "deep_link": f"{base}/hub/coursehub/deep-link",
        "register": f"{base}/hub/lti13/register",
        "icon": f"{base}/hub/static/favicon.ico",
    }


def canvas_developer_key(public_url: str, tool_key: SigningKey | None = None) -> dict[str, Any]:
    """Canvas "LTI Key" JSON (Developer Keys -> + LTI Key -> Method: Paste JSON). Carries the
    tool's key itself beside its URL: Canvas began refusing keys without ``public_jwk``
    (ltiauthenticator #213)."""
    urls = tool_urls(public_url)
    domain = public_url.split("://", 1)[-1].rstrip("/")
    link = {
        "placement": "link_selection",
        "message_type": "LtiResourceLinkRequest",
        "target_link_uri": urls["target_link_uri"],
        "text": TOOL_TITLE,
    }
    # Instructors pick an assignment in coursehub and Canvas gets the link back (Deep Linking).
    picker = {**link, "message_type": "LtiDeepLinkingRequest", "target_link_uri": urls["deep_link"]}
    config: dict[str, Any] = {
        "title": TOOL_TITLE,
        "description": TOOL_DESCRIPTION,
        "oidc_initiation_url": urls["login_initiation"],
        "target_link_uri": urls["target_link_uri"],
        "public_jwk_url": urls["jwks"],
        "scopes": list(SCOPES),
        "extensions": [
            {
                "domain": domain,
                "platform": "canvas.instructure.com",
                "privacy_level": "public",
                "settings": {
                    "text": TOOL_TITLE,
                    "placements": [
                        picker,
                        {**picker, "placement": "assignment_selection"},
                        {**link, "placement": "course_navigation", "windowTarget": "_blank"},
                    ],
                },
            }
        ],
        "custom_fields": dict(CUSTOM_PARAMETERS),
    }
    if tool_key is not None:
        config["public_jwk"] = tool_key.jwk
    return config
