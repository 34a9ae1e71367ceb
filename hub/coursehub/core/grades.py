"""Grades going back to the LMS, as data: what each student's send is (or why there is none),
and the exact messages of LTI 1.3 AGS and LTI 1.1 Basic Outcomes.

Where public tools went wrong (DESIGN 10) is decided here once and table-tested: timestamps
carry a zone; ``/scores`` goes on the line item's *path*, keeping its query (Moodle's line
item URLs end in ``?type_id=N``); LTI 1.1 scores are normalised to 0..1 and the sourcedid is
XML-escaped (Moodle's is JSON); nbgrader's score is sent with nbgrader's maximum, never
against the LMS's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Mapping
from urllib.parse import urlsplit, urlunsplit
from xml.etree import ElementTree
from xml.sax.saxutils import escape

AGS_SCOPES = (
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
    "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly",
    "https://purl.imsglobal.org/spec/lti-ags/scope/score",
)
LINEITEM_TYPE = "application/vnd.ims.lis.v2.lineitem+json"
LINEITEMS_TYPE = "application/vnd.ims.lis.v2.lineitemcontainer+json"
SCORE_TYPE = "application/vnd.ims.lis.v1.score+json"
POX_NS = "http://www.imsglobal.org/services/ltiv1p1/xsd/imsoms_v1p0"


def resource_id(course: str, assignment: str) -> str:
    """The line item's resourceId: how coursehub finds its own line item again."""
    return f"coursehub:{course}:{assignment}"


def scores_url(lineitem_url: str) -> str:
    """The scores endpoint of a line item: ``/scores`` on its path, its query kept."""
    parts = urlsplit(lineitem_url)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/scores"))


def iso_now(now: datetime | None = None) -> str:
    """ISO 8601 with a time zone, to the millisecond (platforms refuse a zoneless one)."""
    moment = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def score_body(user_id: str, given: float, maximum: float, now: datetime | None = None) -> dict[str, Any]:
    """AGS score (section 3.4) of a fully graded, completed assignment."""
    return {
        "userId": user_id,
        "scoreGiven": round(given, 6),
        "scoreMaximum": round(maximum, 6),
        "timestamp": iso_now(now),
        "activityProgress": "Completed",
        "gradingProgress": "FullyGraded",
    }


def lineitem_body(course: str, assignment: str, maximum: float, resource_link_id: str = "") -> dict[str, Any]:
    body = {"scoreMaximum": maximum, "label": assignment, "resourceId": resource_id(course, assignment),
            "tag": "coursehub"}
    if resource_link_id:
        body["resourceLinkId"] = resource_link_id
    return body


_NEXT = re.compile(r'<([^>]*)>\s*;\s*rel="?next"?', re.IGNORECASE)


def next_page(link_header: str) -> str:
    """The URL of ``rel="next"`` in a Link header, or ""."""
    match = _NEXT.search(link_header or "")
    return match.group(1) if match else ""


def outcome_request(sourcedid: str, score01: float, message_id: str) -> bytes:
    """The LTI 1.1 Basic Outcomes replaceResult request (POX), the sourcedid XML-escaped."""
    value = f"{min(1.0, max(0.0, score01)):.4f}".rstrip("0").rstrip(".") if score01 else "0"
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<imsx_POXEnvelopeRequest xmlns="{POX_NS}">\n'
        "  <imsx_POXHeader><imsx_POXRequestHeaderInfo>\n"
        "    <imsx_version>V1.0</imsx_version>\n"
        f"    <imsx_messageIdentifier>{escape(message_id)}</imsx_messageIdentifier>\n"
        "  </imsx_POXRequestHeaderInfo></imsx_POXHeader>\n"
        "  <imsx_POXBody><replaceResultRequest><resultRecord>\n"
        f"    <sourcedGUID><sourcedId>{escape(sourcedid)}</sourcedId></sourcedGUID>\n"
        "    <result><resultScore><language>en</language>"
        f"<textString>{value}</textString></resultScore></result>\n"
        "  </resultRecord></replaceResultRequest></imsx_POXBody>\n"
        "</imsx_POXEnvelopeRequest>\n"
    ).encode("utf-8")


def outcome_answer(body: bytes) -> tuple[bool, str]:
    """(success, the LMS's words) of an imsx_POXEnvelopeResponse: success only on codeMajor
    success; anything else, or no XML at all, is a failure with what the LMS said."""
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        return False, f"not an outcomes answer: {body[:200]!r}"
    ns = {"x": POX_NS}
    major = root.findtext(".//x:imsx_statusInfo/x:imsx_codeMajor", default="", namespaces=ns)
    words = root.findtext(".//x:imsx_statusInfo/x:imsx_description", default="", namespaces=ns)
    return major == "success", f"{major or 'no codeMajor'}{': ' + words if words else ''}"


@dataclass(frozen=True)
class StudentScore:
    """A student's result for one assignment, from nbgrader's gradebook."""

    student: str
    submitted: bool
    score: float
    needs_manual_grade: bool


@dataclass(frozen=True)
class Member:
    """What coursehub knows of a student from launches and the roster: their LMS ids."""

    student: str
    version: str  # "1.1" or "1.3"
    lms_user_id: str = ""
    # LTI 1.1: the grade slot of this student on the assignment's link (lis_result_sourcedid).
    sourcedid: str = ""
    outcome_url: str = ""
    consumer_key: str = ""


@dataclass(frozen=True)
class Decision:
    """One student's send: ``action`` send, skip (nothing to send yet) or impossible (and why)."""

    student: str
    action: str
    reason: str = ""
    score: float = 0.0
    maximum: float = 0.0
    member: Member | None = None


def decide(
    score: StudentScore | None, member: Member | None, maximum: float,
    last_sent: Mapping[str, Any] | None,
) -> Decision:
    """What to do for one student: the table of cases is tests/unit/test_grades.py."""
    student = (score or member).student  # type: ignore[union-attr]
    if score is None or not score.submitted:
        return Decision(student, "skip", "nothing submitted")
    if score.needs_manual_grade:
        return Decision(student, "skip", "waits for manual grading in formgrader")
    if maximum <= 0:
        return Decision(student, "impossible", "the assignment has no points (max score 0)")
    if member is None:
        return Decision(student, "impossible", "the LMS never told coursehub who this student is "
                        "(no launch, not in the LMS roster)")
    if member.version == "1.1" and not member.sourcedid:
        return Decision(student, "impossible", "the student never opened the assignment's link in the LMS "
                        "(LTI 1.1 gives a grade slot only at a launch of that link)")
    if member.version == "1.3" and not member.lms_user_id:
        return Decision(student, "impossible", "no LMS user id for this student")
    if last_sent and last_sent.get("status") == "sent" and \
            abs(float(last_sent.get("score_given") or 0) - score.score) < 1e-9 and \
            abs(float(last_sent.get("score_maximum") or 0) - maximum) < 1e-9:
        return Decision(student, "skip", "unchanged since the last send", score.score, maximum, member)
    return Decision(student, "send", "", score.score, maximum, member)
