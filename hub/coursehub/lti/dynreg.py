"""IMS LTI Dynamic Registration 1.0, the tool's side, as pure functions: what to check in the
platform's OpenID configuration, the client registration the tool posts, and the platform
registration it keeps from the answer. The handler that does the HTTP is registration.py.

Written by hand: no maintained library does the tool side of dynamic registration (pylti1p3
has none, and is unmaintained), and it is a few documents, not a protocol engine.
"""

from __future__ import annotations

from typing import Any, Mapping
from urllib.parse import urlparse

from ..core.settings import LTI13Platform
from .toolinfo import CLAIMS, CUSTOM_PARAMETERS, SCOPES, TOOL_TITLE, tool_urls

PLATFORM_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-platform-configuration"
TOOL_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-tool-configuration"
REQUIRED = ("issuer", "authorization_endpoint", "registration_endpoint", "jwks_uri", "token_endpoint")


def _is_url(value: Any, allow_http: bool) -> bool:
    if not isinstance(value, str):
        return False
    parsed = urlparse(value)
    return parsed.scheme in (("https", "http") if allow_http else ("https",)) and bool(parsed.netloc)


def configuration_url_problem(url: str, allow_http: bool) -> str:
    """Why the ``openid_configuration`` URL the LMS gave cannot be fetched ("" when fine)."""
    if not url:
        return ("the LMS sent no openid_configuration: this URL is meant to be pasted into the "
                "LMS's tool registration, not opened in a browser")
    if not _is_url(url, allow_http):
        return f"the LMS's openid_configuration {url!r} is not an https URL"
    return ""


def configuration_problem(url: str, config: Any, allow_http: bool) -> str:
    """Why a platform's OpenID configuration is not acceptable ("" when it is).

    The spec (section 3.5.1): the ``issuer`` must be an https URL and the configuration's URL
    must start with it, so that a platform cannot pass for another.
    """
    if not isinstance(config, Mapping):
        return "the platform's configuration is not a JSON object"
    missing = [key for key in REQUIRED if not config.get(key)]
    if missing:
        return f"the platform's configuration lacks {', '.join(missing)}"
    issuer = config["issuer"]
    if not _is_url(issuer, allow_http):
        return f"the platform's issuer {issuer!r} is not an https URL"
    if not url.startswith(str(issuer).rstrip("/")):
        return (f"the platform's issuer {issuer!r} does not match the configuration's URL {url!r} "
                "(the URL must start with the issuer)")
    for key in REQUIRED[1:]:
        if not _is_url(config[key], allow_http):
            return f"the platform's {key} {config[key]!r} is not an https URL"
    algorithms = config.get("id_token_signing_alg_values_supported")
    if isinstance(algorithms, list) and "RS256" not in algorithms:
        return "the platform does not sign id_tokens with RS256"
    methods = config.get("token_endpoint_auth_methods_supported")
    if isinstance(methods, list) and "private_key_jwt" not in methods:
        return "the platform's token endpoint does not accept private_key_jwt client assertions"
    if not isinstance(config.get(PLATFORM_CONFIGURATION, {}), Mapping):
        return f"the platform's {PLATFORM_CONFIGURATION} is not an object"
    return ""


def client_registration(public_url: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """The tool's client registration (OpenID Connect Dynamic Client Registration with the LTI
    tool configuration): its URLs and key, the messages it handles, the claims and scopes it
    wants. Scopes the platform does not list as supported are not asked for."""
    urls = tool_urls(public_url)
    supported = config.get("scopes_supported")
    scopes = [s for s in SCOPES if not isinstance(supported, list) or s in supported]
    return {
        "application_type": "web",
        "response_types": ["id_token"],
        "grant_types": ["implicit", "client_credentials"],
        "initiate_login_uri": urls["login_initiation"],
        "redirect_uris": [urls["redirect_uri"]],
        "client_name": TOOL_TITLE,
        "jwks_uri": urls["jwks"],
        "logo_uri": urls["icon"],
        "token_endpoint_auth_method": "private_key_jwt",
        "scope": " ".join(scopes),
        TOOL_CONFIGURATION: {
            "domain": urlparse(public_url).netloc,
            "target_link_uri": urls["target_link_uri"],
            "custom_parameters": dict(CUSTOM_PARAMETERS),
            "claims": list(CLAIMS),
            "messages": [
                {"type": "LtiResourceLinkRequest", "target_link_uri": urls["target_link_uri"],
                 "label": TOOL_TITLE},
                # Instructors pick an assignment in coursehub and the LMS gets the link back.
                {"type": "LtiDeepLinkingRequest", "target_link_uri": urls["deep_link"],
                 "label": f"{TOOL_TITLE}: add an assignment",
                 "placements": ["ContentArea", "link_selection", "assignment_selection"]},
            ],
        },
    }


def platform_name(config: Mapping[str, Any]) -> str:
    """A readable name: the product (moodle, canvas...) and the issuer's host."""
    product = str((config.get(PLATFORM_CONFIGURATION) or {}).get("product_family_code") or "lms")
    host = urlparse(str(config["issuer"])).netloc
    return f"{product}-{host}".lower()


def registered_platform(config: Mapping[str, Any], answer: Any) -> tuple[LTI13Platform | None, str]:
    """(the platform to keep, "") from the registration answer, or (None, why not)."""
    if not isinstance(answer, Mapping) or not isinstance(answer.get("client_id"), (str, int)) \
            or not str(answer.get("client_id")):
        return None, "the platform's registration answer has no client_id"
    tool = answer.get(TOOL_CONFIGURATION) or {}
    deployment = tool.get("deployment_id") if isinstance(tool, Mapping) else None
    return LTI13Platform(
        issuer=str(config["issuer"]),
        client_ids=(str(answer["client_id"]),),
        # Canvas makes the deployment when the key is installed: the first launch names it.
        deployment_ids=(str(deployment),) if deployment else (),
        authorize_url=str(config["authorization_endpoint"]),
        jwks_url=str(config["jwks_uri"]),
        name=platform_name(config),
        token_url=str(config["token_endpoint"]),
        source="dynamic",
    ), ""
