"""The LMS's roster as the hub knows people (core/roster.py): a roster member's username is
exactly the one their own launch gets, for every username key a roster can know."""

import pytest

from coursehub.core.launch import launch_from_lti13
from coursehub.core.roster import departed, roster, roster_member
from coursehub.devlms.launcher import LaunchSpec, lti13_message_claims

V2 = "http://purl.imsglobal.org/vocab/lis/v2/membership#"
ISSUER = "https://lms.example"


@pytest.mark.parametrize("key", ["sub", "email", "given_name", ""])
@pytest.mark.parametrize("user,email", [("42", "ann@example.edu"), ("Ánn Ō", "a.b@example.edu"), ("x", "")])
def test_a_roster_row_and_its_members_launch_give_one_username(key, user, email):
    claims = lti13_message_claims(LaunchSpec(user=user, email=email, course="C1"), "https://hub/hub/")
    claims.update({"iss": ISSUER, "aud": "client"})
    # The LMS lists the same person in its roster as in their launch.
    member = {"user_id": claims["sub"], "roles": [V2 + "Learner"], "email": claims["email"],
              "given_name": claims["given_name"]}
    assert roster_member(member, ISSUER, key).username == launch_from_lti13(claims, key).username


def test_members_the_hub_cannot_map_are_counted_not_guessed():
    members = [
        {"user_id": "a", "roles": ["Learner"]},  # short names work as at launches
        {"user_id": "b", "roles": [V2 + "Instructor"]},
        {"user_id": "c", "roles": [V2 + "Learner"], "status": "Inactive"},
        {"roles": [V2 + "Learner"]},  # no user id
        {"user_id": "d", "roles": ["urn:lti:role:ims/lis/Guest"]},  # no usable role
        "not a member",
    ]
    mapped, skipped = roster(members, ISSUER, "sub")
    assert [(m.lms_user_id, m.role, m.status) for m in mapped] == [
        ("a", "student", "active"), ("b", "instructor", "active"), ("c", "student", "inactive")]
    assert skipped == 3
    # A username key only launches carry (custom_*) cannot be mapped from a roster.
    assert roster([{"user_id": "a", "roles": ["Learner"]}], ISSUER, "custom_login") == ([], 1)


def test_who_left_is_whoever_the_lms_no_longer_lists():
    mapped, _ = roster([{"user_id": "a", "roles": ["Learner"]}], ISSUER, "sub")
    assert departed({mapped[0].username, "gone-1"}, mapped) == {"gone-1"}
