"""Unit tests of coursehub.courses; JupyterHub's own slug check is the oracle for course ids."""

import re

import pytest
from jupyterhub.slugs import is_valid_safe_slug

from coursehub.core.courses import (
    course_slug,
    grader_name,
    hub_username,
    instructor_group,
    resolve_course_id,
    student_group,
)

JAPANESE = "データサイエンス入門"
LONG = "Introduction to Computational Methods in Statistics and Machine Learning (Fall 2024)"


@pytest.mark.parametrize(
    "text, slug",
    [
        ("DS101", "ds101"),
        ("CS 101: Intro", "cs-101-intro"),
        ("  --CS__101--  ", "cs-101"),
        ("101", "c-101"),
        ("2024 Stats", "c-2024-stats"),
        ("Université d'Été", "universite-d-ete"),
        ("ＤＳ２０２４", "ds2024"),  # full-width forms fold to ASCII under NFKD
        ("DS入門 2024", "ds-2024"),
        (JAPANESE, ""),
        ("---", ""),
        ("", ""),
        (LONG, "introduction-to-computational"),
    ],
)
def test_course_slug(text, slug):
    assert course_slug(text) == slug
    if slug:
        assert is_valid_safe_slug(slug), slug


@pytest.mark.parametrize("length", [29, 30, 31, 45])
def test_slug_never_ends_with_dash_when_cut(length):
    text = "a" * (length - 1) + " b" * 10
    slug = course_slug(text)
    assert len(slug) <= 30 and is_valid_safe_slug(slug)


@pytest.mark.parametrize(
    "label, title, id_source, context_id, expected",
    [
        ("DS101", "Data Science", "label", "3", "ds101"),
        ("", "Data Science", "label", "3", "data-science"),
        (JAPANESE, "Intro to Data Science", "label", "3", "intro-to-data-science"),
        ("DS101", "Data Science", "id", "3", "c-3"),
        ("DS101", "", "id", "course-v1:MITx+6.00x", "course-v1-mitx-6-00x"),
    ],
)
def test_resolve_new_course(label, title, id_source, context_id, expected):
    assert resolve_course_id("moodle", context_id, label, title, {}, id_source) == expected


def test_japanese_only_falls_back_to_a_stable_hash():
    first = resolve_course_id("moodle", "17", JAPANESE, JAPANESE, {})
    again = resolve_course_id("moodle", "17", JAPANESE, JAPANESE, {})
    other = resolve_course_id("moodle", "18", JAPANESE, JAPANESE, {})
    assert re.fullmatch(r"course-[0-9a-f]{8}", first)
    assert first == again != other
    assert is_valid_safe_slug(first)


def test_very_long_label_fits_a_server_name():
    course = resolve_course_id("canvas", "99", LONG, LONG, {})
    assert len(course) <= 30 and is_valid_safe_slug(course)


def test_colliding_labels_get_distinct_stable_ids():
    registry: dict[str, str] = {}
    first = resolve_course_id("moodle", "3", "DS101", "", registry)
    registry[first] = "moodle|3"
    # the same label in another LMS, and again in the same LMS (a new term's copy)
    second = resolve_course_id("canvas", "3", "DS101", "", registry)
    registry[second] = "canvas|3"
    third = resolve_course_id("moodle", "4", "DS101", "", registry)
    registry[third] = "moodle|4"
    assert first == "ds101"
    assert len({first, second, third}) == 3
    for course in (second, third):
        assert re.fullmatch(r"ds101-[0-9a-f]{6}", course)
        assert is_valid_safe_slug(course)
    assert resolve_course_id("moodle", "3", "DS101", "", registry) == first
    assert resolve_course_id("canvas", "3", "DS101", "", registry) == second
    assert resolve_course_id("moodle", "4", "DS101", "", registry) == third


def test_collision_of_a_long_label_stays_within_30():
    registry = {course_slug(LONG): "canvas|1"}
    course = resolve_course_id("canvas", "2", LONG, "", registry)
    assert course != course_slug(LONG)
    assert len(course) <= 30 and is_valid_safe_slug(course)


def test_collision_with_the_hashed_name_too_rehashes():
    taken = resolve_course_id("canvas", "3", "DS101", "", {"ds101": "moodle|3"})
    registry = {"ds101": "moodle|3", taken: "moodle|9"}
    course = resolve_course_id("canvas", "3", "DS101", "", registry)
    assert course not in registry
    assert is_valid_safe_slug(course)


def test_known_course_keeps_its_id_after_a_relabel():
    registry = {"ds101": "moodle|3"}
    assert resolve_course_id("moodle", "3", "DS102-renamed", "New title", registry) == "ds101"


def test_same_context_id_on_another_platform_is_another_course():
    registry = {"ds101": "moodle|3"}
    assert resolve_course_id("canvas", "3", "DS101", "", registry) != "ds101"


@pytest.mark.parametrize(
    "raw, readable",
    [
        ("alice@example.edu", "alice"),
        ("Jörg.Müller@uni.de", "jorg.muller"),
        ("first_last", "first_last"),
        ("42", "42"),
        ("a..b", "a-b"),
        ("../../etc/passwd", "etc-passwd"),
        ("f3b9c1de-9a4e-4c1e-8a7b-0c1d2e3f4a5b", "f3b9c1de-9a4e-4c1e-8"),
        ("山田花子", "user"),
        ("", "user"),
        ("x" * 40 + "@example.edu", "x" * 20),
    ],
)
def test_hub_username_readable_part(raw, readable):
    username = hub_username(raw, "https://canvas.instructure.com")
    assert re.fullmatch(rf"{re.escape(readable)}-[0-9a-f]{{6}}", username), username
    assert re.fullmatch(r"[a-z0-9._-]+", username) and ".." not in username


@pytest.mark.parametrize(
    "one, other",
    [
        (("42", "moodle-a"), ("42", "moodle-b")),  # same LMS user id on two platforms
        (("alice@a.edu", "moodle"), ("alice@b.edu", "moodle")),  # same local part
        (("Alice", "moodle"), ("alice", "moodle")),  # LMS ids are case-sensitive
    ],
)
def test_hub_usernames_differ(one, other):
    assert hub_username(*one) != hub_username(*other)


def test_hub_username_is_stable():
    assert hub_username("alice@example.edu", "moodle") == hub_username("alice@example.edu", "moodle")


def test_names_follow_nbgraders_group_convention():
    # nbgrader's JupyterHubAuthPlugin reads courses from exactly these group names.
    assert (student_group("ds101"), instructor_group("ds101"), grader_name("ds101")) == (
        "nbgrader-ds101",
        "formgrade-ds101",
        "grader-ds101",
    )
