"""What the LMS admin pastes into the LMS to register coursehub, for both LTI versions.

``render_lti_config(settings, public_url)`` is pure: the URLs the hub serves (authenticator.py), the
consumer keys and secrets from the settings, the registered platforms, the tool's public
JWKS URL, a Moodle "External tool" form section and a Canvas developer key JSON.
"""

from __future__ import annotations

import json
from typing import Any

from .devplatform import DEV_CLIENT_ID, DEV_DEPLOYMENT_ID, DEV_ISSUER
from ..core.settings import Settings

TOOL_TITLE = "coursehub notebooks"
TOOL_DESCRIPTION = "Jupyter notebooks and nbgrader assignments for this course"
# Custom parameters of the LMS tool link; the values are examples (documented in docs/).
CUSTOM_PARAMETERS = "interface=lab"


def tool_urls(public_url: str) -> dict[str, str]:
    base = public_url.rstrip("/")
    return {
        "lti11_launch": f"{base}/hub/lti/launch",
        "login_initiation": f"{base}/hub/lti13/oauth_login",
        "redirect_uri": f"{base}/hub/lti13/oauth_callback",
        "jwks": f"{base}/hub/lti13/jwks",
        "target_link_uri": f"{base}/hub/",
        "icon": f"{base}/hub/static/favicon.ico",
    }


def canvas_developer_key(public_url: str) -> dict[str, Any]:
    """Canvas "LTI Key" JSON (Developer Keys -> + LTI Key -> Method: Paste JSON)."""
    urls = tool_urls(public_url)
    domain = public_url.split("://", 1)[-1].rstrip("/")
    placement = {
        "placement": "link_selection",
        "message_type": "LtiResourceLinkRequest",
        "target_link_uri": urls["target_link_uri"],
        "text": TOOL_TITLE,
    }
    return {
        "title": TOOL_TITLE,
        "description": TOOL_DESCRIPTION,
        "oidc_initiation_url": urls["login_initiation"],
        "target_link_uri": urls["target_link_uri"],
        "public_jwk_url": urls["jwks"],
        "scopes": [],
        "extensions": [
            {
                "domain": domain,
                "platform": "canvas.instructure.com",
                "privacy_level": "public",
                "settings": {
                    "text": TOOL_TITLE,
                    "placements": [
                        placement,
                        {**placement, "placement": "assignment_selection"},
                        {**placement, "placement": "course_navigation", "windowTarget": "_blank"},
                    ],
                },
            }
        ],
        "custom_fields": dict(p.split("=", 1) for p in CUSTOM_PARAMETERS.split()),
    }


def render_lti_config(settings: Settings, public_url: str) -> str:
    """The full registration sheet as text."""
    public_url = (public_url or settings.public_url or "https://HUB.EXAMPLE.EDU").rstrip("/")
    urls = tool_urls(public_url)
    out: list[str] = [
        f"coursehub LTI registration for {public_url}",
        "=" * 60,
        "",
        "LTI 1.1 (any LMS)",
        "-----------------",
        f"Launch URL:           {urls['lti11_launch']}",
    ]
    if settings.lti11_consumers:
        for key, secret in sorted(settings.lti11_consumers.items()):
            out.append(f"Consumer key:         {key}")
            out.append(f"Shared secret:        {secret}")
    else:
        out.append("(no consumer keys: set COURSEHUB_LTI11_CONSUMERS=key:secret in env/)")
    out += [
        f"Custom parameters:    {CUSTOM_PARAMETERS}",
        "Username field:       " + settings.lti11_username_key,
        "",
        "LTI 1.3 (tool side, the same for every platform)",
        "------------------------------------------------",
        f"Login initiation URL: {urls['login_initiation']}",
        f"Redirect URI:         {urls['redirect_uri']}",
        f"Public keyset (JWKS): {urls['jwks']}",
        f"Target link URI:      {urls['target_link_uri']}",
        f"Custom parameters:    {CUSTOM_PARAMETERS}",
        "",
        "Registered platforms (settings file, lti13.platforms):",
    ]
    for platform in settings.lti13_platforms:
        out += [
            f"  - {platform.name or platform.issuer}",
            f"    issuer:         {platform.issuer}",
            f"    client ids:     {', '.join(platform.client_ids)}",
            f"    deployment ids: {', '.join(platform.deployment_ids)}",
            f"    authorize URL:  {platform.authorize_url}",
            f"    JWKS URL:       {platform.jwks_url}",
        ]
    if not settings.lti13_platforms:
        out.append("  (none yet: add the values the LMS shows after registration)")
    if settings.dev_platform:
        out.append(
            f"  - development platform (dev only): issuer {DEV_ISSUER}, client {DEV_CLIENT_ID}, "
            f"deployment {DEV_DEPLOYMENT_ID}"
        )
    out += [
        "",
        "Moodle: Site administration > Plugins > Activity modules > External tool > Manage tools",
        "  > configure a tool manually",
        "------------------------------------------------------------------------------------",
        f"Tool name:                    {TOOL_TITLE}",
        f"Tool URL:                     {urls['target_link_uri']}",
        f"Tool description:             {TOOL_DESCRIPTION}",
        "LTI version:                  LTI 1.3",
        "Public key type:              Keyset URL",
        f"Public keyset:                {urls['jwks']}",
        f"Initiate login URL:           {urls['login_initiation']}",
        f"Redirection URI(s):           {urls['redirect_uri']}",
        f"Custom parameters:            {CUSTOM_PARAMETERS}",
        "Tool configuration usage:     Show as preconfigured tool when adding an external tool",
        "Default launch container:     New window",
        "Privacy > Share launcher's name with tool:   Always",
        "Privacy > Share launcher's email with tool:  Always",
        "Then: View configuration details (the list icon) and copy Platform ID (issuer),",
        "Client ID, Deployment ID, Authentication request URL and Public keyset URL into",
        "lti13.platforms of the settings file (authorize_url, jwks_url).",
        "For LTI 1.1 in Moodle choose LTI version: LTI 1.0/1.1 with the consumer key and",
        "shared secret above and Tool URL = the LTI 1.1 launch URL.",
        "",
        "Canvas: Admin > Developer Keys > + Developer Key > + LTI Key > Method: Paste JSON",
        "---------------------------------------------------------------------------------",
        f"Redirect URIs:                {urls['redirect_uri']}",
        json.dumps(canvas_developer_key(public_url), indent=2),
        "Then: turn the key ON, add the app by Client ID (Settings > Apps), and put issuer",
        "https://canvas.instructure.com (or your instance's), the client id, the deployment id,",
        "authorize_url https://<canvas>/api/lti/authorize_redirect and jwks_url",
        "https://<canvas>/api/lti/security/jwks into lti13.platforms.",
        "",
    ]
    return "\n".join(out)
