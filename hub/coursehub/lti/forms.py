"""Auto-submitting HTML forms: how LTI moves signed messages through the browser (an LMS's
id_token to the tool, the tool's deep linking answer back to the LMS)."""

from __future__ import annotations

import html
from typing import Mapping


def auto_submit_form(action: str, fields: Mapping[str, str], title: str = "Continuing…") -> str:
    """An HTML page that POSTs ``fields`` to ``action`` at once (with a button if JS is off)."""
    inputs = "\n".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(str(v))}">'
        for k, v in fields.items()
    )
    return (
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)}</title></head>\n"
        '<body onload="document.forms[0].submit()">\n'
        f'<form method="post" action="{html.escape(action)}">\n{inputs}\n'
        '<noscript><button type="submit">Continue</button></noscript>\n</form>\n</body></html>\n'
    )
