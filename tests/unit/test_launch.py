"""Unit tests of coursehub.launch with Moodle- and Canvas-style LTI 1.1 and 1.3 payloads."""

import dataclasses
import json

import pytest

from coursehub.core.courses import hub_username
from coursehub.core.launch import (
    AGS_CLAIM,
    NRPS_CLAIM,
    Launch,
    LaunchError,
    launch_from_lti11,
    launch_from_lti13,
)

CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"
MEMBER = "http://purl.imsglobal.org/vocab/lis/v2/membership"


def moodle_lti11(**overrides):
    """The fields Moodle 4 posts for a learner on a gradable link (oauth_* removed)."""
    args = {
        "lti_message_type": "basic-lti-launch-request",
        "lti_version": "LTI-1p0",
        "resource_link_id": "7",
        "resource_link_title": "Notebook",
        "user_id": "2",
        "roles": "Learner",
        "context_id": "3",
        "context_label": "DS101",
        "context_title": "Data Science 101",
        "context_type": "CourseSection",
        "lis_person_name_given": "Hanako",
        "lis_person_name_family": "Yamada",
        "lis_person_name_full": "Hanako Yamada",
        "lis_person_contact_email_primary": "hanako@example.ac.jp",
        "lis_outcome_service_url": "https://moodle.example.ac.jp/mod/lti/service.php",
        "lis_result_sourcedid": '{"data":{"instanceid":"7","userid":"2","launchid":1}}',
        "ext_user_username": "hanako",
        "tool_consumer_info_product_family_code": "moodle",
        "launch_presentation_locale": "ja",
        "custom_image": "coursehub/student:1",
        "custom_assignment": "ps1",
    }
    args.update(overrides)
    return {key: value for key, value in args.items() if value is not None}


def canvas_lti13(**overrides):
    """A decoded Canvas LTI 1.3 id_token of a TA."""
    token = {
        "iss": "https://canvas.instructure.com",
        "aud": "10000000000042",
        "azp": "10000000000042",
        "sub": "535fa085-f7d5-4b0d-9d4c-3b5a6d3f2e11",
        "exp": 1_900_000_000,
        "iat": 1_899_999_700,
        "nonce": "n-0S6_WzA2Mj",
        "name": "Taro Suzuki",
        "given_name": "Taro",
        "family_name": "Suzuki",
        "email": "taro@example.edu",
        CLAIM + "message_type": "LtiResourceLinkRequest",
        CLAIM + "version": "1.3.0",
        CLAIM + "deployment_id": "12:8865aa05b4b79b64a91a86042e43af5ea8ae79eb",
        CLAIM + "target_link_uri": "https://hub.example.edu/hub/lti13/oauth_callback",
        CLAIM + "roles": [
            f"{MEMBER}#Instructor",
            f"{MEMBER}/Instructor#TeachingAssistant",
            "http://purl.imsglobal.org/vocab/lis/v2/system/person#User",
        ],
        CLAIM + "context": {
            "id": "4dde05e8ca1973bcca9bffc13e1548820eee93a3",
            "label": "STAT 200",
            "title": "Statistics",
            "type": ["http://purl.imsglobal.org/vocab/lis/v2/course#CourseOffering"],
        },
        CLAIM + "resource_link": {"id": "6a8a4d4f-1e7c", "title": "Week 1 notebook"},
        CLAIM + "custom": {"interface": "notebook", "canvas_user_id": 1234, "graded": True,
                           "nested": {"a": 1}},
        AGS_CLAIM: {
            "scope": ["https://purl.imsglobal.org/spec/lti-ags/scope/score"],
            "lineitems": "https://canvas.example.edu/api/lti/courses/1/line_items",
        },
        NRPS_CLAIM: {
            "context_memberships_url": "https://canvas.example.edu/api/lti/courses/1/names_and_roles",
            "service_versions": ["2.0"],
        },
    }
    token.update(overrides)
    return {key: value for key, value in token.items() if value is not None}


def test_moodle_lti11_learner():
    launch = launch_from_lti11(moodle_lti11(), "moodle-key", "user_id")
    assert launch.version == "1.1"
    assert launch.platform == "moodle-key"
    assert launch.lms_user_id == "2"
    assert launch.username == hub_username("2", "moodle-key")
    assert (launch.display_name, launch.given_name, launch.family_name) == (
        "Hanako Yamada", "Hanako", "Yamada")
    assert launch.email == "hanako@example.ac.jp"
    assert (launch.context_id, launch.context_label, launch.context_title) == (
        "3", "DS101", "Data Science 101")
    assert (launch.role, launch.is_lms_admin, launch.lms_roles) == ("student", False, ("Learner",))
    assert launch.resource_link_id == "7"
    assert launch.custom == {"image": "coursehub/student:1", "assignment": "ps1"}
    assert launch.outcomes == {
        "lis_outcome_service_url": "https://moodle.example.ac.jp/mod/lti/service.php",
        "lis_result_sourcedid": '{"data":{"instanceid":"7","userid":"2","launchid":1}}',
    }
    assert launch.deployment_id == "" and launch.course_id == ""


def test_canvas_lti11_instructor_with_custom_username_key():
    args = moodle_lti11(
        user_id="f4a2b7e0c1d9",
        roles="Instructor,urn:lti:instrole:ims/lis/Administrator",
        custom_canvas_user_id="1234",
        lis_outcome_service_url=None,
        lis_result_sourcedid=None,
        lis_person_name_full=None,
    )
    launch = launch_from_lti11(args, "canvas-key", "custom_canvas_user_id")
    assert launch.username == hub_username("1234", "canvas-key")
    assert launch.lms_user_id == "f4a2b7e0c1d9"
    assert (launch.role, launch.is_lms_admin) == ("instructor", True)
    assert launch.display_name == "Hanako Yamada"  # from given + family
    assert launch.outcomes == {}
    assert launch.custom["canvas_user_id"] == "1234"


def test_lti11_username_key_missing_falls_back_to_user_id():
    launch = launch_from_lti11(moodle_lti11(), "moodle-key", "custom_canvas_user_id")
    assert launch.username == hub_username("2", "moodle-key")


def test_canvas_lti13_ta():
    launch = launch_from_lti13(canvas_lti13(), "sub")
    sub = "535fa085-f7d5-4b0d-9d4c-3b5a6d3f2e11"
    assert launch.version == "1.3"
    assert launch.platform == "https://canvas.instructure.com"
    assert launch.lms_user_id == sub
    assert launch.username == hub_username(sub, "https://canvas.instructure.com")
    assert launch.display_name == "Taro Suzuki" and launch.email == "taro@example.edu"
    assert launch.context_id == "4dde05e8ca1973bcca9bffc13e1548820eee93a3"
    assert (launch.context_label, launch.context_title) == ("STAT 200", "Statistics")
    assert launch.role == "ta" and not launch.is_lms_admin
    assert len(launch.lms_roles) == 3
    assert launch.resource_link_id == "6a8a4d4f-1e7c"
    # JSON numbers and booleans become strings; objects are not parameters
    assert launch.custom == {"interface": "notebook", "canvas_user_id": "1234", "graded": "true"}
    assert set(launch.outcomes) == {AGS_CLAIM, NRPS_CLAIM}
    assert launch.outcomes[AGS_CLAIM]["lineitems"].endswith("/line_items")
    assert launch.deployment_id == "12:8865aa05b4b79b64a91a86042e43af5ea8ae79eb"


def test_moodle_lti13_learner_without_services():
    token = canvas_lti13(
        iss="https://moodle.example.ac.jp",
        sub="2",
        name=None,
        **{
            CLAIM + "roles": [f"{MEMBER}#Learner"],
            CLAIM + "context": {"id": "3", "label": "DS101", "title": "Data Science 101"},
            CLAIM + "custom": None,
            AGS_CLAIM: None,
            NRPS_CLAIM: None,
        },
    )
    launch = launch_from_lti13(token, "sub")
    assert launch.role == "student"
    assert launch.display_name == "Taro Suzuki"
    assert launch.custom == {} and launch.outcomes == {}


@pytest.mark.parametrize(
    "username_key, source",
    [
        ("sub", "535fa085-f7d5-4b0d-9d4c-3b5a6d3f2e11"),
        ("email", "taro@example.edu"),
        ("custom_canvas_user_id", "1234"),
        ("custom_not_sent", "535fa085-f7d5-4b0d-9d4c-3b5a6d3f2e11"),
        ("", "535fa085-f7d5-4b0d-9d4c-3b5a6d3f2e11"),
    ],
)
def test_lti13_username_key(username_key, source):
    launch = launch_from_lti13(canvas_lti13(), username_key)
    assert launch.username == hub_username(source, "https://canvas.instructure.com")


def test_same_sub_on_two_platforms_is_two_users():
    one = launch_from_lti13(canvas_lti13(), "sub")
    two = launch_from_lti13(canvas_lti13(iss="https://moodle.example.ac.jp"), "sub")
    assert one.username != two.username


@pytest.mark.parametrize(
    "build, status, words",
    [
        (lambda: launch_from_lti11(moodle_lti11(user_id=None), "k", "user_id"), 400, "no user id"),
        (lambda: launch_from_lti11(moodle_lti11(user_id=""), "k", "user_id"), 400, "no user id"),
        # the LMS's own id is required even when the username comes from elsewhere
        (lambda: launch_from_lti11(moodle_lti11(user_id=None, custom_canvas_user_id="1234"), "k",
                                   "custom_canvas_user_id"), 400, "no user id"),
        (lambda: launch_from_lti13(canvas_lti13(sub=None), "email"), 400, "no user id"),
        (lambda: launch_from_lti11(moodle_lti11(context_id=None), "k", "user_id"), 400,
         "outside a course"),
        (lambda: launch_from_lti13(canvas_lti13(**{CLAIM + "context": None}), "sub"), 400,
         "outside a course"),
        (lambda: launch_from_lti11(moodle_lti11(roles="urn:lti:instrole:ims/lis/Observer"), "k",
                                   "user_id"), 403, "No usable role"),
        (lambda: launch_from_lti11(moodle_lti11(roles=None), "k", "user_id"), 403,
         "No usable role"),
        (lambda: launch_from_lti13(canvas_lti13(**{CLAIM + "roles": "not-a-list-role"}), "sub"),
         403, "No usable role"),
    ],
)
def test_unusable_launches_are_refused(build, status, words):
    with pytest.raises(LaunchError) as caught:
        build()
    assert caught.value.status == status
    assert words in caught.value.message


def test_refusal_names_the_roles_sent():
    with pytest.raises(LaunchError) as caught:
        launch_from_lti11(moodle_lti11(roles="urn:lti:instrole:ims/lis/Observer"), "k", "user_id")
    assert "urn:lti:instrole:ims/lis/Observer" in caught.value.message


@pytest.mark.parametrize(
    "launch",
    [
        launch_from_lti11(moodle_lti11(), "moodle-key", "user_id"),
        dataclasses.replace(launch_from_lti13(canvas_lti13(), "sub"), course_id="stat-200"),
    ],
    ids=["lti11", "lti13-with-course"],
)
def test_round_trip_through_json(launch):
    stored = json.loads(json.dumps(launch.to_dict()))
    assert Launch.from_dict(stored) == launch


def test_from_dict_ignores_newer_keys_and_names_missing_ones():
    data = launch_from_lti11(moodle_lti11(), "moodle-key", "user_id").to_dict()
    assert Launch.from_dict({**data, "added_later": 1}).username == data["username"]
    del data["role"], data["username"]
    with pytest.raises(ValueError, match="role, username"):
        Launch.from_dict(data)


def test_launch_does_not_share_the_callers_dicts():
    custom = {"image": "a"}
    launch = dataclasses.replace(launch_from_lti11(moodle_lti11(), "k", "user_id"), custom=custom)
    custom["image"] = "b"
    assert launch.custom == {"image": "a"}
