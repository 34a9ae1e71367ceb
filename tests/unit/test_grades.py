"""Grades to the LMS as data (core/grades.py): the decision per student, the AGS and LTI 1.1
messages, and the details public tools got wrong; the client assertion (lti/services.py) and
the strict emulator's checks of a score (devlms/services.py)."""

import time
from datetime import datetime, timedelta, timezone
from xml.etree import ElementTree

import jwt
import pytest

from coursehub.core import grades
from coursehub.core.grades import Member, StudentScore, decide
from coursehub.core.settings import LTI13Platform
from coursehub.devlms.outcomes import read_sourcedid, sourcedid
from coursehub.devlms.services import score_problems
from coursehub.lti.services import ServiceClient
from coursehub.lti.toolkeys import SigningKey, generate_private_key_pem

DONE = StudentScore("ann", True, 2.5, False)
M13 = Member("ann", "1.3", lms_user_id="sub-1")
M11 = Member("ann", "1.1", sourcedid='{"a": 1}', outcome_url="https://lms/out", consumer_key="k")


@pytest.mark.parametrize("score,member,maximum,last,action,why", [
    (None, M13, 3, None, "skip", "nothing submitted"),
    (StudentScore("ann", True, 1, True), M13, 3, None, "skip", "manual grading"),
    (DONE, M13, 0, None, "impossible", "no points"),
    (DONE, None, 3, None, "impossible", "never told"),
    (DONE, Member("ann", "1.1"), 3, None, "impossible", "never opened the assignment's link"),
    (DONE, Member("ann", "1.3"), 3, None, "impossible", "no LMS user id"),
    (DONE, M13, 3, None, "send", ""),
    (DONE, M11, 3, None, "send", ""),
    (DONE, M13, 3, {"status": "sent", "score_given": 2.5, "score_maximum": 3}, "skip", "unchanged"),
    (DONE, M13, 3, {"status": "sent", "score_given": 2.0, "score_maximum": 3}, "send", ""),
    (DONE, M13, 4, {"status": "sent", "score_given": 2.5, "score_maximum": 3}, "send", ""),
])
def test_decide(score, member, maximum, last, action, why):
    decision = decide(score, member, maximum, last)
    assert decision.action == action and why in decision.reason


@pytest.mark.parametrize("lineitem,expected", [
    ("https://lms/mod/lti/services.php/2/lineitems/6/lineitem?type_id=1",
     "https://lms/mod/lti/services.php/2/lineitems/6/lineitem/scores?type_id=1"),
    ("https://canvas/api/lti/courses/1/line_items/9", "https://canvas/api/lti/courses/1/line_items/9/scores"),
    ("https://x/items/9/", "https://x/items/9/scores"),
])
def test_scores_go_on_the_path_and_keep_the_query(lineitem, expected):
    assert grades.scores_url(lineitem) == expected


def test_score_body_is_complete_and_zoned():
    body = grades.score_body("sub-1", 2.5, 3, datetime(2026, 12, 2, 12, 0, tzinfo=timezone(timedelta(hours=1))))
    assert body == {"userId": "sub-1", "scoreGiven": 2.5, "scoreMaximum": 3, "timestamp": "2026-12-02T11:00:00.000Z",
                    "activityProgress": "Completed", "gradingProgress": "FullyGraded"}
    assert score_problems(body) == []


@pytest.mark.parametrize("change,problem", [
    ({"timestamp": "2026-12-02T11:00:00"}, "time zone"),
    ({"userId": ""}, "userId"),
    ({"scoreGiven": -1}, "scoreGiven"),
    ({"scoreMaximum": 0}, "scoreMaximum"),
    ({"activityProgress": "Done"}, "activityProgress"),
    ({"gradingProgress": "Graded"}, "gradingProgress"),
])
def test_the_emulator_refuses_what_a_careless_tool_sends(change, problem):
    body = {**grades.score_body("s", 1, 2), **change}
    assert any(problem in p for p in score_problems(body))


def test_outcome_request_escapes_moodles_json_sourcedid_and_normalises():
    sourced = '{"data":{"instanceid":"1","userid":"2"},"hash":"<&>"}'
    xml = grades.outcome_request(sourced, 2 / 3, "m-1")
    root = ElementTree.fromstring(xml)
    ns = {"x": grades.POX_NS}
    assert root.findtext(".//x:sourcedId", namespaces=ns) == sourced
    assert root.findtext(".//x:textString", namespaces=ns) == "0.6667"
    assert root.findtext(".//x:imsx_version", namespaces=ns) == "V1.0"
    assert ElementTree.fromstring(grades.outcome_request("s", 1.5, "m")).findtext(".//x:textString", namespaces=ns) == "1"
    assert ElementTree.fromstring(grades.outcome_request("s", 0, "m")).findtext(".//x:textString", namespaces=ns) == "0"


def test_outcome_answer_is_success_only_on_codemajor_success():
    ok = (f'<imsx_POXEnvelopeResponse xmlns="{grades.POX_NS}"><imsx_POXHeader><imsx_POXResponseHeaderInfo>'
          "<imsx_statusInfo><imsx_codeMajor>{}</imsx_codeMajor><imsx_description>{}</imsx_description>"
          "</imsx_statusInfo></imsx_POXResponseHeaderInfo></imsx_POXHeader></imsx_POXEnvelopeResponse>")
    assert grades.outcome_answer(ok.format("success", "fine").encode()) == (True, "success: fine")
    assert grades.outcome_answer(ok.format("failure", "bad id").encode())[0] is False
    assert grades.outcome_answer(b"<html>500</html>")[0] is False
    assert grades.outcome_answer(b"not xml")[0] is False


@pytest.mark.parametrize("header,url", [
    ('<https://x/items?page=2>; rel="next", <https://x/items?page=9>; rel="last"', "https://x/items?page=2"),
    ('<https://x/a>; rel="prev"', ""),
    ("", ""),
    ("<https://x/b>;rel=next", "https://x/b"),
])
def test_next_page(header, url):
    assert grades.next_page(header) == url


def test_client_assertion_claims_and_header():
    key = SigningKey.from_pem(generate_private_key_pem())
    platform = LTI13Platform("https://lms", ("client-9",), ("d",), "https://lms/a", "https://lms/j",
                             token_url="https://lms/token")
    client = ServiceClient(key)
    first, second = client.client_assertion(platform), client.client_assertion(platform)
    assert jwt.get_unverified_header(first)["kid"] == key.kid
    claims = jwt.decode(first, key.private_key.public_key(), algorithms=["RS256"], audience="https://lms/token")
    assert claims["iss"] == claims["sub"] == "client-9"
    assert 0 < claims["exp"] - time.time() <= 300 and claims["iat"] <= time.time()
    assert claims["jti"] != jwt.decode(second, options={"verify_signature": False})["jti"]


def test_dev_sourcedids_are_moodle_shaped_and_unforgeable():
    value = sourcedid("secret", "ctx", "link", "user")
    assert read_sourcedid("secret", value)["userid"] == "user"
    assert read_sourcedid("other", value) is None
    assert read_sourcedid("secret", "nonsense") is None
