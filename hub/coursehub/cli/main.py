"""The ``coursehub`` command: a small dispatcher; each subcommand lives in its own function.

Add a subcommand with a ``_cmd_<name>(args) -> int`` function and one ``_add_<name>`` parser
builder listed in ``SUBCOMMANDS`` (or a module of this folder with an ``add_cli_parser``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable

from ..core.params import params_table
from ..core.devplatform import dev_key_path
from ..devlms import launcher
from ..lti.toolkeys import SigningKey
from . import check, courses, grades, platforms, roster, status
from .common import settings_or_exit


# -- lti-config -----------------------------------------------------------------------------
# -- launch ---------------------------------------------------------------------------------
def _custom_pair(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"--custom wants key=value, got {text!r}")
    return key, value


def _add_launch(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "launch",
        help="build a signed LMS launch (LTI 1.1 POST or LTI 1.3 dev-platform login) for testing",
        description="Prints the launch as JSON (method, url, fields) or writes an "
        "auto-submitting HTML page to open in a browser.",
    )
    parser.add_argument("--lti", choices=("1.1", "1.3"), default="1.1")
    parser.add_argument("--role", default="student",
                        help="student, instructor, ta, admin, mentor or raw LTI role(s), comma-separated")
    parser.add_argument("--course", default="demo101", help="course label (short name)")
    parser.add_argument("--context-id", default="", help="LMS course id (default: ctx-<course>)")
    parser.add_argument("--title", default="", help="course title (default: the label)")
    parser.add_argument("--user", default="student1", help="LMS user id")
    parser.add_argument("--name", default="", help="full name")
    parser.add_argument("--email", default="")
    parser.add_argument("--custom", action="append", type=_custom_pair, default=[], metavar="K=V",
                        help="custom parameter (repeatable)")
    parser.add_argument("--url", default="", help="hub base URL (default: settings public_url)")
    parser.add_argument("--consumer-key", default="", help="LTI 1.1 key (default: the first configured)")
    parser.add_argument("--secret", default="", help="LTI 1.1 secret (default: the key's configured secret)")
    parser.add_argument("--dev-key", default="", help="dev platform key PEM (default: beside lti13_key_file)")
    parser.add_argument("--html", metavar="FILE", help="write an auto-submitting HTML page instead of JSON")
    parser.set_defaults(func=_cmd_launch)


def _cmd_launch(args: argparse.Namespace) -> int:
    spec = launcher.LaunchSpec(
        user=args.user, role=args.role, course=args.course, context_id=args.context_id,
        title=args.title, name=args.name, email=args.email, custom=dict(args.custom),
    )
    needs_settings = not args.url or (args.lti == "1.1" and not (args.consumer_key and args.secret)) or (
        args.lti == "1.3" and not args.dev_key
    )
    settings = settings_or_exit() if needs_settings else None
    base = args.url or (settings.public_url if settings else "")
    if not base:
        print("coursehub launch: give --url or set the public URL in the settings", file=sys.stderr)
        return 2
    fields: dict[str, str] | None
    if args.lti == "1.1":
        consumers = dict(settings.lti11_consumers) if settings else {}
        key = args.consumer_key or next(iter(consumers), "")
        secret = args.secret or consumers.get(key, "")
        if not key or not secret:
            print("coursehub launch: no LTI 1.1 consumer key/secret configured", file=sys.stderr)
            return 2
        url, fields = launcher.lti11_launch(base, spec, key, secret)
    else:
        key_file = Path(args.dev_key) if args.dev_key else dev_key_path(settings.lti13_key_file)
        url, fields = launcher.lti13_login_url(base, SigningKey.from_file(key_file), spec), None
    if args.html:
        Path(args.html).write_text(launcher.html_page(url, fields))
        print(f"wrote {args.html}: open it in a browser within 2 minutes (the launch expires)")
    else:
        print(launcher.as_json(url, fields))
    return 0


# -- params ---------------------------------------------------------------------------------
def _add_params(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "params", help="print the LTI custom parameter reference (Markdown) for the LMS admin",
    )
    parser.set_defaults(func=_cmd_params)


def _cmd_params(args: argparse.Namespace) -> int:
    # Needs no settings: the table is the same on every hub, so it also works before setup.
    print(params_table(), end="")
    return 0


def _add_check_settings(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("check-settings", help="validate the env and settings file as the hub will")
    parser.set_defaults(func=lambda args: check.check_settings())


SUBCOMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [
    platforms.add_cli_parsers, _add_launch, _add_params, status.add_cli_parser, courses.add_cli_parsers, grades.add_cli_parsers,
    roster.add_cli_parsers,
    _add_check_settings,
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="coursehub", description="coursehub administration")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in SUBCOMMANDS:
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
