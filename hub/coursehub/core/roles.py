"""Maps the LTI roles of a launch (both LTI versions) to one coursehub role: student, ta or instructor.

The mapping is the data in ROLE_TABLE; ``map_roles`` only applies it. The rules, in order:

1. Context roles (the person's membership in *this* LMS course) decide when there is any.
   Precedence: instructor > ta > student.
2. A sub-role refines its principal role. LTI 1.3 says a platform sending a sub-role should
   also send the principal (Canvas sends a TA as ``membership#Instructor`` plus
   ``membership/Instructor#TeachingAssistant``), so the principal is dropped when one of its
   known sub-roles is present, otherwise every Canvas TA would become an instructor.
   NOTE: Canvas cannot tell us "TA in one section, instructor in another"; such a person is a TA.
3. Only when no context role matched do institution and system roles count: an LMS
   administrator (who can open any course in the LMS anyway) gets instructor, an institution
   Learner/Student gets student. An administrator *enrolled* in a course keeps the context role,
   so an admin testing as a student sees the student view.
4. Institution teaching roles (Faculty, Instructor, Staff) say nothing about this course and
   never grant anything: otherwise any teacher of the school could grade any course.
5. Mentor (LTI 1.3 ``membership#Mentor``; Canvas sends observers this way) gets student-level
   access: their own server for the course, listed in the nbgrader roster like a student.
   Institution Mentor/Observer roles alone grant nothing.
6. Anything else is ignored; if nothing usable is left the role is None and the caller refuses
   the launch ("no usable role").

Role strings are matched case-insensitively after trimming, and ``https://purl...`` is read as
``http://purl...``, because real LMSs are not consistent about either.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

STUDENT, TA, INSTRUCTOR = "student", "ta", "instructor"
PRECEDENCE = {STUDENT: 1, TA: 2, INSTRUCTOR: 3}

CONTEXT, INSTITUTION, SYSTEM = "context", "institution", "system"

_V2 = "http://purl.imsglobal.org/vocab/lis/v2"
_MEMBERSHIP = f"{_V2}/membership"
_INSTITUTION = f"{_V2}/institution/person"
_SYSTEM = f"{_V2}/system/person"
_LTI11_CONTEXT = "urn:lti:role:ims/lis"
_LTI11_INSTITUTION = "urn:lti:instrole:ims/lis"
_LTI11_SYSTEM = "urn:lti:sysrole:ims/lis"


@dataclass(frozen=True)
class RoleRow:
    """One LTI role string and what it grants."""

    lti_role: str
    scope: str
    role: str | None
    lms_admin: bool = False
    refines: str | None = None
    why: str = ""


def _context(lti_role: str, role: str, why: str = "", refines: str | None = None) -> RoleRow:
    return RoleRow(lti_role, CONTEXT, role, refines=refines, why=why)


ROLE_TABLE: tuple[RoleRow, ...] = (
    # LTI 1.3 / LIS v2 context roles (membership in this course)
    _context(f"{_MEMBERSHIP}#Learner", STUDENT),
    _context(f"{_MEMBERSHIP}#Instructor", INSTRUCTOR),
    _context(f"{_MEMBERSHIP}#ContentDeveloper", INSTRUCTOR, "authors course content"),
    _context(f"{_MEMBERSHIP}#Administrator", INSTRUCTOR, "administers this course"),
    _context(f"{_MEMBERSHIP}#Mentor", STUDENT, "observer/mentor: student-level access"),
    _context(f"{_MEMBERSHIP}/Instructor#TeachingAssistant", TA,
             "sub-role; refines the Instructor sent with it", refines=f"{_MEMBERSHIP}#Instructor"),
    _context(f"{_MEMBERSHIP}/Instructor#Grader", TA,
             "sub-role; grades but does not teach", refines=f"{_MEMBERSHIP}#Instructor"),
    _context(f"{_MEMBERSHIP}/Instructor#PrimaryInstructor", INSTRUCTOR,
             refines=f"{_MEMBERSHIP}#Instructor"),
    _context(f"{_MEMBERSHIP}/Instructor#Lecturer", INSTRUCTOR, refines=f"{_MEMBERSHIP}#Instructor"),
    _context(f"{_MEMBERSHIP}/Learner#Learner", STUDENT, refines=f"{_MEMBERSHIP}#Learner"),
    _context(f"{_MEMBERSHIP}/Learner#NonCreditLearner", STUDENT, refines=f"{_MEMBERSHIP}#Learner"),
    # LTI 1.1 context roles (URNs)
    _context(f"{_LTI11_CONTEXT}/Learner", STUDENT),
    _context(f"{_LTI11_CONTEXT}/Instructor", INSTRUCTOR),
    _context(f"{_LTI11_CONTEXT}/TeachingAssistant", TA, "Canvas TAs in LTI 1.1"),
    _context(f"{_LTI11_CONTEXT}/ContentDeveloper", INSTRUCTOR, "authors course content"),
    _context(f"{_LTI11_CONTEXT}/Administrator", INSTRUCTOR, "administers this course"),
    _context(f"{_LTI11_CONTEXT}/Mentor", STUDENT, "observer/mentor: student-level access"),
    _context(f"{_LTI11_CONTEXT}/Learner/NonCreditLearner", STUDENT,
             refines=f"{_LTI11_CONTEXT}/Learner"),
    # Short names: LTI 1.1 allows them for context roles and LTI 1.3 lets tools accept them
    _context("Learner", STUDENT),
    _context("Student", STUDENT, "not in the spec, sent by some LMSs"),
    _context("Instructor", INSTRUCTOR),
    _context("TeachingAssistant", TA),
    _context("ContentDeveloper", INSTRUCTOR, "authors course content"),
    _context("Administrator", INSTRUCTOR, "administers this course"),
    _context("Mentor", STUDENT, "observer/mentor: student-level access"),
    # Institution roles: only count when the launch carries no context role
    RoleRow(f"{_INSTITUTION}#Administrator", INSTITUTION, INSTRUCTOR, lms_admin=True,
            why="LMS admin; instructor only when not enrolled in the course"),
    RoleRow(f"{_INSTITUTION}#Student", INSTITUTION, STUDENT, why="no context role: student"),
    RoleRow(f"{_INSTITUTION}#Learner", INSTITUTION, STUDENT, why="no context role: student"),
    RoleRow(f"{_INSTITUTION}#Instructor", INSTITUTION, None, why="says nothing about this course"),
    RoleRow(f"{_INSTITUTION}#Faculty", INSTITUTION, None, why="says nothing about this course"),
    RoleRow(f"{_INSTITUTION}#Staff", INSTITUTION, None, why="says nothing about this course"),
    RoleRow(f"{_INSTITUTION}#Mentor", INSTITUTION, None, why="says nothing about this course"),
    RoleRow(f"{_INSTITUTION}#Observer", INSTITUTION, None, why="says nothing about this course"),
    RoleRow(f"{_LTI11_INSTITUTION}/Administrator", INSTITUTION, INSTRUCTOR, lms_admin=True,
            why="LMS admin; instructor only when not enrolled in the course"),
    RoleRow(f"{_LTI11_INSTITUTION}/Student", INSTITUTION, STUDENT, why="no context role: student"),
    RoleRow(f"{_LTI11_INSTITUTION}/Learner", INSTITUTION, STUDENT, why="no context role: student"),
    RoleRow(f"{_LTI11_INSTITUTION}/Instructor", INSTITUTION, None,
            why="says nothing about this course"),
    RoleRow(f"{_LTI11_INSTITUTION}/Faculty", INSTITUTION, None, why="says nothing about this course"),
    RoleRow(f"{_LTI11_INSTITUTION}/Observer", INSTITUTION, None,
            why="Canvas LTI 1.1 observers; says nothing about this course"),
    # System roles: the LMS installation itself
    RoleRow(f"{_SYSTEM}#Administrator", SYSTEM, INSTRUCTOR, lms_admin=True,
            why="LMS admin; instructor only when not enrolled in the course"),
    RoleRow(f"{_SYSTEM}#SysAdmin", SYSTEM, INSTRUCTOR, lms_admin=True,
            why="LMS admin; instructor only when not enrolled in the course"),
    RoleRow(f"{_SYSTEM}#AccountAdmin", SYSTEM, INSTRUCTOR, lms_admin=True,
            why="LMS admin; instructor only when not enrolled in the course"),
    RoleRow(f"{_SYSTEM}#User", SYSTEM, None, why="every LMS user has it"),
    RoleRow(f"{_LTI11_SYSTEM}/Administrator", SYSTEM, INSTRUCTOR, lms_admin=True,
            why="LMS admin; instructor only when not enrolled in the course"),
    RoleRow(f"{_LTI11_SYSTEM}/SysAdmin", SYSTEM, INSTRUCTOR, lms_admin=True,
            why="LMS admin; instructor only when not enrolled in the course"),
    RoleRow(f"{_LTI11_SYSTEM}/AccountAdmin", SYSTEM, INSTRUCTOR, lms_admin=True,
            why="LMS admin; instructor only when not enrolled in the course"),
    RoleRow(f"{_LTI11_SYSTEM}/User", SYSTEM, None, why="every LMS user has it"),
)


def _normalize(lti_role: str) -> str:
    text = lti_role.strip()
    if text.lower().startswith("https://purl.imsglobal.org/"):
        text = "http://" + text[len("https://"):]
    return text.casefold()


_BY_KEY: dict[str, RoleRow] = {_normalize(row.lti_role): row for row in ROLE_TABLE}


@dataclass(frozen=True)
class RoleDecision:
    """The coursehub role of one launch; ``matched`` lists the recognised LTI roles as sent."""

    role: str | None
    is_lms_admin: bool
    matched: tuple[str, ...]


def split_roles(roles: Iterable[str] | str) -> tuple[str, ...]:
    """LTI 1.1 sends one comma-separated string, LTI 1.3 a list; both become a tuple."""
    items = roles.split(",") if isinstance(roles, str) else roles
    return tuple(item.strip() for item in items if isinstance(item, str) and item.strip())


def _highest(roles: Iterable[str | None]) -> str | None:
    granted = [role for role in roles if role]
    return max(granted, key=PRECEDENCE.__getitem__) if granted else None


def map_roles(roles: Iterable[str] | str) -> RoleDecision:
    """Applies ROLE_TABLE (see the module docstring for the rules) to the roles of a launch."""
    sent = split_roles(roles)
    found = [(raw, _BY_KEY[_normalize(raw)]) for raw in sent if _normalize(raw) in _BY_KEY]
    refined = {_normalize(row.refines) for _, row in found if row.refines}
    effective = [row for _, row in found if _normalize(row.lti_role) not in refined]
    context = _highest(row.role for row in effective if row.scope == CONTEXT)
    fallback = _highest(row.role for row in effective if row.scope != CONTEXT)
    return RoleDecision(
        role=context or fallback,
        is_lms_admin=any(row.lms_admin for row in effective),
        matched=tuple(raw for raw, _ in found),
    )
