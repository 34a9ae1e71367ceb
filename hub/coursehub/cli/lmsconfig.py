"""What the LMS admin pastes into the LMS to register coursehub, for both LTI versions.

``render_lti_config`` is pure: first the one URL of dynamic registration (nothing to copy
back), then the manual values - LTI 1.1 keys and secrets, the tool's LTI 1.3 URLs and JWKS, the
registered platforms, a Moodle "External tool" form section and a Canvas developer key JSON.
"""

from __future__ import annotations

import json
from typing import Sequence

from ..core.devplatform import DEV_CLIENT_ID, DEV_DEPLOYMENT_ID, DEV_ISSUER
from ..core.settings import Settings
from ..lti.toolinfo import CUSTOM_PARAMETERS, TOOL_DESCRIPTION, TOOL_TITLE, canvas_developer_key, tool_urls
from ..lti.toolkeys import SigningKey
from ..storage.platforms import PlatformEntry


def registration_url(public_url: str, secret: str) -> str:
    return f"{tool_urls(public_url)['register']}?secret={secret}"


def custom_lines() -> str:
    return " ".join(f"{k}={v}" for k, v in CUSTOM_PARAMETERS.items())


def render_platforms(entries: Sequence[PlatformEntry], dev_platform: bool) -> list[str]:
    out = []
    for entry in entries:
        p = entry.platform
        state = "enabled" if entry.enabled else "DISABLED"
        out += [
            f"  - {p.name}  [{p.source}, {state}]",
            f"    issuer:         {p.issuer}",
            f"    client id:      {p.client_id}",
            f"    deployment ids: {', '.join(p.deployment_ids) or '(the first launch sets it)'}",
            f"    authorize URL:  {p.authorize_url}",
            f"    JWKS URL:       {p.jwks_url}",
            f"    token URL:      {p.token_url or '(none: grades and roster cannot be sent)'}",
        ]
    if not entries:
        out.append("  (none yet: register one with the URL above, or add it under lti13.platforms)")
    if dev_platform:
        out.append(
            f"  - development platform (dev only): issuer {DEV_ISSUER}, client {DEV_CLIENT_ID}, "
            f"deployment {DEV_DEPLOYMENT_ID}"
        )
    return out


def render_lti_config(
    settings: Settings,
    public_url: str,
    registration_secret: str = "",
    entries: Sequence[PlatformEntry] = (),
    tool_key: SigningKey | None = None,
) -> str:
    """The full registration sheet as text."""
    public_url = (public_url or settings.public_url or "https://HUB.EXAMPLE.EDU").rstrip("/")
    urls = tool_urls(public_url)
    custom = custom_lines()
    out: list[str] = [
        f"coursehub LTI registration for {public_url}",
        "=" * 60,
        "",
        "LTI 1.3 in one step (Moodle 4.x, Canvas, Brightspace, Sakai): dynamic registration",
        "-----------------------------------------------------------------------------------",
        "Paste this URL into the LMS; the tool registers itself and nothing is copied back.",
        "It works once (make lti-config again shows a fresh one after it was used).",
        f"Registration URL:     {registration_url(public_url, registration_secret) if registration_secret else '(needs the running hub: make lti-config)'}",
        "Moodle: Site administration > Plugins > Activity modules > External tool > Manage tools",
        "        > Tool URL... > Add LTI Advantage; then Activate the new tool.",
        "Canvas: Admin > Developer Keys > + Developer Key > + LTI Registration > paste the URL",
        "        > Install; then turn the key ON and add the app by its Client ID.",
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
        f"Custom parameters:    {custom}",
        "Username field:       " + settings.lti11_username_key,
        "",
        "LTI 1.3 by hand (tool side, the same for every platform)",
        "--------------------------------------------------------",
        f"Login initiation URL: {urls['login_initiation']}",
        f"Redirect URI:         {urls['redirect_uri']}",
        f"Public keyset (JWKS): {urls['jwks']}",
        f"Target link URI:      {urls['target_link_uri']}",
        f"Deep linking URL:     {urls['deep_link']}",
        f"Custom parameters:    {custom}",
        "",
        "Registered platforms (make platforms; source settings = lti13.platforms of the settings file):",
        *render_platforms(entries, settings.dev_platform),
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
        f"Custom parameters:            {custom}",
        "Supports Deep Linking (Content-Item Message): yes",
        f"Content Selection URL:        {urls['deep_link']}",
        "Tool configuration usage:     Show as preconfigured tool when adding an external tool",
        "Default launch container:     New window",
        "Services > IMS LTI Assignment and Grade Services:  Use this service for grade sync and column management",
        "Services > IMS LTI Names and Role Provisioning:    Use this service to retrieve members' information",
        "Privacy > Share launcher's name with tool:   Always",
        "Privacy > Share launcher's email with tool:  Always",
        "Then: View configuration details (the list icon) and copy Platform ID (issuer),",
        "Client ID, Deployment ID, Authentication request URL, Access token URL and Public",
        "keyset URL into lti13.platforms of the settings file (authorize_url, token_url,",
        "jwks_url), and run make up.",
        "For LTI 1.1 in Moodle choose LTI version: LTI 1.0/1.1 with the consumer key and",
        "shared secret above and Tool URL = the LTI 1.1 launch URL.",
        "",
        "Canvas: Admin > Developer Keys > + Developer Key > + LTI Key > Method: Paste JSON",
        "---------------------------------------------------------------------------------",
        f"Redirect URIs:                {urls['redirect_uri']}",
        json.dumps(canvas_developer_key(public_url, tool_key), indent=2),
        "Then: turn the key ON, add the app by Client ID (Settings > Apps), and put issuer",
        "https://canvas.instructure.com (or your instance's), the client id, the deployment id,",
        "authorize_url https://sso.canvaslms.com/api/lti/authorize_redirect, token_url",
        "https://sso.canvaslms.com/login/oauth2/token and jwks_url",
        "https://sso.canvaslms.com/api/lti/security/jwks into lti13.platforms (self-hosted",
        "Canvas: your instance's host instead of sso.canvaslms.com).",
        "",
    ]
    return "\n".join(out)
