"""Unit tests of coursehub.roles: every table row alone, and real LMS role sets together."""

import pytest

from coursehub.core.roles import (
    CONTEXT,
    INSTITUTION,
    PRECEDENCE,
    ROLE_TABLE,
    SYSTEM,
    map_roles,
)

V2 = "http://purl.imsglobal.org/vocab/lis/v2"
MEMBER = f"{V2}/membership"
INST = f"{V2}/institution/person"
SYS = f"{V2}/system/person"


def test_table_is_consistent():
    keys = [row.lti_role.casefold() for row in ROLE_TABLE]
    assert len(keys) == len(set(keys)), "a role string is listed twice"
    for row in ROLE_TABLE:
        assert row.scope in (CONTEXT, INSTITUTION, SYSTEM)
        assert row.role is None or row.role in PRECEDENCE
        assert not row.lms_admin or row.scope != CONTEXT, "course admins are not LMS admins"
        if row.refines:
            assert row.refines.casefold() in keys, f"{row.lti_role} refines an unknown role"


@pytest.mark.parametrize("row", ROLE_TABLE, ids=lambda row: row.lti_role)
def test_every_row_alone(row):
    decision = map_roles([row.lti_role])
    assert decision.role == row.role
    assert decision.is_lms_admin == row.lms_admin
    assert decision.matched == (row.lti_role,)


@pytest.mark.parametrize(
    "roles, role, admin",
    [
        # Canvas LTI 1.3 TA: principal + sub-role (spec best practice) -> the sub-role decides
        ([f"{MEMBER}#Instructor", f"{MEMBER}/Instructor#TeachingAssistant"], "ta", False),
        # an Instructor sub-role that is itself an instructor keeps instructor over a TA one
        ([f"{MEMBER}#Instructor", f"{MEMBER}/Instructor#TeachingAssistant",
          f"{MEMBER}/Instructor#PrimaryInstructor"], "instructor", False),
        # an unknown sub-role does not refine the principal away
        ([f"{MEMBER}#Instructor", f"{MEMBER}/Instructor#Astronaut"], "instructor", False),
        # Canvas admin who teaches this course (from the Canvas community thread)
        ([f"{INST}#Administrator", f"{INST}#Instructor", f"{INST}#Student",
          f"{MEMBER}#Instructor", f"{SYS}#User"], "instructor", True),
        # LMS admin enrolled as a learner keeps the student view
        ([f"{MEMBER}#Learner", f"{SYS}#Administrator"], "student", True),
        # LMS admin not enrolled in the course
        ([f"{INST}#Administrator", f"{SYS}#User"], "instructor", True),
        # institution-only learner
        ([f"{INST}#Student", f"{SYS}#User"], "student", False),
        # institution teaching roles never grant a course role
        ([f"{INST}#Instructor", f"{INST}#Faculty", f"{SYS}#User"], None, False),
        # a teacher of other courses who is a learner here
        ([f"{INST}#Instructor", f"{MEMBER}#Learner"], "student", False),
        # context role beats the institution Student fallback
        ([f"{INST}#Student", f"{MEMBER}#Mentor"], "student", False),
        ([f"{MEMBER}#Learner", f"{MEMBER}#Instructor"], "instructor", False),
        ([f"{MEMBER}#Mentor"], "student", False),
        ([f"{MEMBER}#ContentDeveloper", f"{MEMBER}#Learner"], "instructor", False),
        # Moodle LTI 1.1 site admin: short context role + URNs in one comma-separated string
        ("Instructor,urn:lti:sysrole:ims/lis/Administrator,urn:lti:instrole:ims/lis/Administrator",
         "instructor", True),
        ("Learner", "student", False),
        # Canvas LTI 1.1 TA, teacher and observer
        ("urn:lti:role:ims/lis/TeachingAssistant", "ta", False),
        ("Instructor,urn:lti:instrole:ims/lis/Student", "instructor", False),
        ("urn:lti:instrole:ims/lis/Observer", None, False),
        ("Learner,TeachingAssistant", "ta", False),
        ("urn:lti:sysrole:ims/lis/User,urn:lti:instrole:ims/lis/Student", "student", False),
        # sloppy spellings real LMSs send
        (" learner , ", "student", False),
        ("INSTRUCTOR", "instructor", False),
        ([f"https://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"], "instructor", False),
        # nothing usable
        ("", None, False),
        ([], None, False),
        ("Guest,urn:lti:role:ims/lis/Member,Astronaut", None, False),
        ([f"{SYS}#User"], None, False),
    ],
)
def test_role_sets(roles, role, admin):
    decision = map_roles(roles)
    assert (decision.role, decision.is_lms_admin) == (role, admin)


def test_matched_keeps_sent_spelling_and_drops_unknown():
    decision = map_roles(" learner ,Astronaut,urn:lti:instrole:ims/lis/Administrator")
    assert decision.matched == ("learner", "urn:lti:instrole:ims/lis/Administrator")


def test_lti11_string_and_lti13_list_agree():
    as_string = map_roles("Learner,urn:lti:instrole:ims/lis/Administrator")
    as_list = map_roles(["Learner", "urn:lti:instrole:ims/lis/Administrator"])
    assert as_string == as_list
    assert as_string.role == "student"
