"""``GET /hub/lti13/register``: IMS LTI Dynamic Registration 1.0, the tool's initiation URL.

The LMS admin pastes the URL that ``make lti-config`` prints (it carries a one-time
registration secret: registering a platform is an admin's act). The LMS opens it with
``openid_configuration`` and ``registration_token``; the hub fetches the platform's
configuration, checks it (dynreg.py), posts its client registration, keeps the answer in the
platform registry and closes the LMS's dialog. Every LMS call is async with a timeout; any
failure is a page saying what failed, and leaves the registry and the secret as they were.
"""

from __future__ import annotations

import asyncio
import json

from jupyterhub.handlers import BaseHandler

from ..core.logline import logline
from ..storage.platforms import RegistrationRefused
from .dynreg import client_registration, configuration_problem, configuration_url_problem, registered_platform
from .lmshttp import LMSError, bearer, call

SECRET_PROBLEMS = {
    "unknown": "This registration link is not valid here.",
    "used": "This registration link was used already: each works once.",
    "expired": "This registration link has expired.",
}
FRESH_LINK = "An admin of coursehub gets a fresh one with `make lti-config` (or `make registration-url`)."


class RegistrationHandler(BaseHandler):
    def check_xsrf_cookie(self) -> None:
        # Opened by the LMS (a GET from its registration dialog), never by a form of ours.
        return

    def refused(self, status: int, reason: str, message: str, **fields):
        auth = self.authenticator
        return auth.refuse(self, status, reason, "1.3-registration", fields.pop("platform", ""), message)

    async def get(self) -> None:
        auth = self.authenticator
        store = auth.store
        secret = self.get_argument("secret", "")
        config_url = self.get_argument("openid_configuration", "")
        token = self.get_argument("registration_token", "")
        problem = await asyncio.to_thread(store.registration_secret_problem_sync, secret) if secret else "unknown"
        if problem:
            raise self.refused(403, f"registration_secret_{problem}", f"{SECRET_PROBLEMS[problem]} {FRESH_LINK}")
        allow_http = auth.settings.dev_platform
        problem = configuration_url_problem(config_url, allow_http)
        if problem:
            raise self.refused(400, "bad_registration_request", f"Registration refused: {problem}.")
        try:
            # Canvas wants the registration token on this GET as well.
            answer = await call("GET", config_url, "The LMS's OpenID configuration",
                                headers={"Accept": "application/json", **bearer(token)})
            config = answer.json("The LMS's OpenID configuration")
        except LMSError as error:
            raise self.refused(502, "platform_configuration_unavailable",
                               f"Registration failed: {error}. Nothing was registered; try again.") from None
        problem = configuration_problem(config_url, config, allow_http)
        if problem:
            raise self.refused(400, "bad_platform_configuration",
                               f"Registration refused: {problem}. Nothing was registered.",
                               platform=str(config.get("issuer", "")) if isinstance(config, dict) else "")
        issuer = config["issuer"]
        body = client_registration(auth.public_base(self.request), config)
        try:
            answer = await call(
                "POST", config["registration_endpoint"], "The LMS's registration endpoint",
                headers={"Content-Type": "application/json", "Accept": "application/json", **bearer(token)},
                body=json.dumps(body),
            )
            platform, problem = registered_platform(config, answer.json("The LMS's registration endpoint"))
        except LMSError as error:
            raise self.refused(502, "registration_failed",
                               f"Registration failed: {error}. Nothing was registered; try again "
                               "from the LMS.", platform=issuer) from None
        if platform is None:
            raise self.refused(502, "registration_failed", f"Registration failed: {problem}.", platform=issuer)
        try:
            entry = await asyncio.to_thread(store.register_dynamic_sync, secret, platform)
        except RegistrationRefused as error:
            raise self.refused(409, "registration_conflict", f"Registration not kept: {error}. {FRESH_LINK}",
                               platform=issuer) from None
        self.log.info(logline("platform", action="registered", platform=entry.platform.name, issuer=issuer,
                              client=platform.client_id, deployment=",".join(platform.deployment_ids) or None))
        next_step = ("Moodle: activate the tool under Manage tools. Canvas: turn the developer key ON and "
                     "add the app by its client id. Then add coursehub to a course.")
        self.finish(await self.render_template(
            "coursehub-registered.html", platform=entry.platform, entry_name=entry.platform.name,
            next_step=next_step,
        ))
