"""Unit tests of coursehub.logline: one line per event, and no LMS-provided value can break
the line, forge a field or hide in an escape sequence. Pure strings."""

from __future__ import annotations

import pytest

from coursehub.core.logline import duration_ms, logline, parse, quote


def test_plain_values_stay_bare_in_the_order_given():
    line = logline("launch", user="stu42", course="cs101", role="student", decision="start",
                   duration_ms=12)
    assert line == "coursehub.launch user=stu42 course=cs101 role=student decision=start duration_ms=12"


@pytest.mark.parametrize("value,expected", [
    (None, "-"),
    ("", '""'),
    (0, "0"),
    ("10.0.0.7", "10.0.0.7"),
    ("coursehub/student:0.1.0", "coursehub/student:0.1.0"),
    ("José", "José"),
    ("two words", '"two words"'),
    ('say "hi"', r'"say \"hi\""'),
    ("a=b", '"a=b"'),
    ("back\\slash", r'"back\\slash"'),
    ("it's", '"it\'s"'),
])
def test_quote(value, expected):
    assert quote(value) == expected


@pytest.mark.parametrize("evil", [
    "moodle\ncoursehub.launch user=admin decision=start",
    "moodle\r\ncoursehub.refused kind=lti",
    "x\u2028coursehub.launch user=admin",
    "x\u0085y",
    "\x1b[2Jcleared",
    "x\tkind=forged",
    'x" kind="forged',
    "x kind=forged",
    "\U000e0001tag",
])
def test_an_lms_value_cannot_forge_a_line_or_a_field(evil):
    line = logline("refused", kind="lti", platform=evil, ip="10.0.0.1")
    assert len(line.splitlines()) == 1 and line.isprintable()
    event, fields = parse("[W 2027-01-15 hub] " + line)
    assert event == "refused"
    assert fields == {"kind": "lti", "platform": evil, "ip": "10.0.0.1"}


def test_parse_reads_back_every_value():
    fields = {"user": "stu42", "course": "cs-101", "reason": "bad_signature", "empty": "",
              "message": "The launch's OAuth signature does not match: check the secret."}
    assert parse(logline("refused", **fields)) == ("refused", fields)


def test_event_names_are_fixed_strings():
    with pytest.raises(AssertionError):
        logline("launch user=x")


def test_duration_in_milliseconds():
    assert duration_ms(10.0, 10.2506) == 251
