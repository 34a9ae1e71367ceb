"""`coursehub lti-config`, `coursehub platforms [enable|disable|remove NAME]` and
`coursehub registration-url [--new]`: what the LMS admin pastes, and the platform registry."""

from __future__ import annotations

import os
import sys

from ..core.settings import Settings
from ..lti.toolkeys import SigningKey
from ..storage import runtime
from ..storage.platforms import PlatformEntry
from .common import settings_or_exit
from .lmsconfig import registration_url, render_lti_config, render_platforms


def _tool_key(settings: Settings) -> SigningKey | None:
    path = settings.lti13_key_file
    return SigningKey.from_file(path) if os.path.exists(path) else None


def lti_config_cli(args) -> int:
    settings = settings_or_exit()
    store = runtime.store(settings)
    try:
        secret, entries = store.registration_secret_sync(), store.all_platforms_sync()
    except Exception as error:  # noqa: BLE001 - the manual values are worth printing anyway
        print(f"(the platform registry is unavailable: {error})", file=sys.stderr)
        secret, entries = "", []
    print(render_lti_config(settings, args.url, secret, entries, _tool_key(settings)))
    return 0


def registration_url_cli(args) -> int:
    settings = settings_or_exit()
    secret = runtime.store(settings).registration_secret_sync(new=args.new)
    print(registration_url(args.url or settings.public_url or "https://HUB.EXAMPLE.EDU", secret))
    return 0


def platform_line(entry: PlatformEntry) -> str:
    p = entry.platform
    return (f"  [{entry.id}] {p.name}  {p.source}  {'enabled' if entry.enabled else 'DISABLED'}  "
            f"{p.issuer}  {p.client_id}  {','.join(p.deployment_ids) or '(first launch)'}")


def _one(store, name: str) -> PlatformEntry | None:
    found = store.find_platforms_sync(name)
    if len(found) == 1:
        return found[0]
    if not found:
        print(f"coursehub platforms: no platform is called {name!r} (make platforms lists them)", file=sys.stderr)
    else:
        print(f"coursehub platforms: {name!r} names {len(found)} platforms; give the name or number of one:",
              file=sys.stderr)
        print("\n".join(f"  {e.id}  {e.platform.name}" for e in found), file=sys.stderr)
    return None


def platforms_cli(args) -> int:
    settings = settings_or_exit()
    store = runtime.store(settings)
    if args.action == "list":
        entries = store.all_platforms_sync()
        print(f"{len(entries)} LTI 1.3 platform(s): [number] name, source, state, issuer, client id, deployments")
        for entry in entries:
            print(platform_line(entry))
        if settings.dev_platform:
            print("\n".join(render_platforms([], True)[1:]))
        return 0
    if not args.name:
        print(f"coursehub platforms {args.action}: give the platform's NAME (make platforms lists them)",
              file=sys.stderr)
        return 2
    entry = _one(store, args.name)
    if entry is None:
        return 1
    if args.action == "remove":
        if entry.platform.source == "settings":
            print(f"{entry.platform.name} comes from the settings file: remove it there (lti13.platforms) "
                  "and run make up", file=sys.stderr)
            return 1
        store.remove_platform_sync(entry.id)
    else:
        store.set_platform_enabled_sync(entry.id, args.action == "enable")
    print(f"platform {entry.platform.name}: {args.action}d (takes effect at the next launch)")
    return 0


def add_cli_parsers(sub) -> None:
    config = sub.add_parser("lti-config", help="print what the LMS admin enters to register coursehub")
    config.add_argument("--url", default="", help="public base URL (default: settings public_url)")
    config.set_defaults(func=lti_config_cli)
    url = sub.add_parser("registration-url", help="the one-time dynamic registration URL for the LMS")
    url.add_argument("--new", action="store_true", help="make a fresh one; unused older ones stop working")
    url.add_argument("--url", default="", help="public base URL (default: settings public_url)")
    url.set_defaults(func=registration_url_cli)
    plat = sub.add_parser("platforms", help="the LTI 1.3 platforms: list, enable, disable, remove")
    plat.add_argument("action", nargs="?", default="list", choices=("list", "enable", "disable", "remove"))
    plat.add_argument("name", nargs="?", default="", help="a platform's name, number, issuer or client id")
    plat.set_defaults(func=platforms_cli)
