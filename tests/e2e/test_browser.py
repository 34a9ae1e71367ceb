"""What people see in a real browser after clicking the tool link in their LMS: the browser
opens the LMS's auto-submitting launch page (file://), posts the signed launch itself, follows
the hub's redirects through the spawn page and lands where a student, an instructor or a
forged launch should. One course per module: an instructor provisions it and releases `ps1`
through the formgrader's API (as in the integration tests); every test launches a fresh user.
"""

from __future__ import annotations

import time

import pytest
from selenium.webdriver.common.by import By

from coursehub.core import devplatform
from coursehub.devlms.launcher import LaunchSpec, lti11_launch, lti13_login_url
from coursehub.lti.toolkeys import SigningKey
from harness import consumer, lti11_login, lti13_login, unique, wait_until

SPAWN_TIMEOUT = 180
ASSIGNMENT = "ps1"
NOTEBOOK = {
    "cells": [{"cell_type": "markdown", "metadata": {}, "source": "Square some numbers."}],
    "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
    "nbformat": 4, "nbformat_minor": 5,
}


# -- helpers ------------------------------------------------------------------------------
def visible(browser, by: str, selector: str, timeout: float, what: str):
    """The first displayed element matching, waited for (bounded); fails naming `what`."""

    def found():
        return [element for element in browser.find_elements(by, selector) if element.is_displayed()]

    return wait_until(found, timeout, 0.5, what, logs=lambda: f"at {browser.current_url}")[0]


def launch_lti11(browser, lms_page, stack, spec: LaunchSpec, **sign_kwargs) -> float:
    """Opens the LMS page that posts ``spec``'s signed LTI 1.1 launch; returns the start time."""
    key, secret = consumer(stack)
    url, fields = lti11_launch(stack.url, spec, key, secret, **sign_kwargs)
    started = time.monotonic()
    browser.get(lms_page(url, fields))
    return started


def wait_for_lab(browser, user_prefix: str) -> None:
    """JupyterLab's shell, loaded from the user's own course server."""
    visible(browser, By.ID, "jp-main-dock-panel", SPAWN_TIMEOUT, "the JupyterLab shell")
    assert f"/user/{user_prefix}" in browser.current_url, browser.current_url
    visible(browser, By.CSS_SELECTOR, ".jp-DirListing", 60, "the file browser")


def menu(browser, bar_label: str, item_label: str) -> None:
    visible(browser, By.XPATH, f"//div[contains(@class,'lm-MenuBar-itemLabel') and text()='{bar_label}']",
            30, f"the {bar_label} menu").click()
    visible(browser, By.XPATH, f"//div[contains(@class,'lm-Menu-itemLabel') and text()='{item_label}']",
            10, f"{bar_label} > {item_label}").click()


def release(stack, session, course: str) -> None:
    """Authors and releases ps1 through the course's formgrader, as its instructor."""
    prefix = f"{stack.url}/services/{course}/"

    def formgrader_up():
        return session.get(prefix + "formgrader/api/status", timeout=30).json().get("status") is True

    wait_until(formgrader_up, 120, 1, "the course's formgrader", logs=lambda: stack.logs("hub", 60))
    assert session.get(prefix + "lab", timeout=60).status_code == 200  # sets the service's _xsrf
    token = next(c.value for c in session.cookies
                 if c.name == "_xsrf" and c.path.rstrip("/") == f"/services/{course}")
    for method, path, body in (
        ("PUT", f"formgrader/api/assignment/{ASSIGNMENT}", {"json": {}}),
        ("PUT", f"api/contents/source/{ASSIGNMENT}/{ASSIGNMENT}.ipynb",
         {"json": {"type": "notebook", "format": "json", "content": NOTEBOOK}}),
        ("POST", f"formgrader/api/assignment/{ASSIGNMENT}/assign", {}),
        ("POST", f"formgrader/api/assignment/{ASSIGNMENT}/release", {}),
    ):
        answer = session.request(method, prefix + path, headers={"X-XSRFToken": token}, timeout=120, **body)
        assert answer.status_code < 300 and '"success": false' not in answer.text, (path, answer.text[:1000])


@pytest.fixture(scope="module")
def released_course(stack):
    """(label, course id): a course provisioned by its first instructor, `ps1` released."""
    label = unique("e2e")
    session, response = lti11_login(stack, user=unique("ins"), role="instructor", course=label)
    assert response.status_code == 302, response.text[:500]
    location = response.headers["Location"]
    course = location.rstrip("/").rsplit("/", 1)[-1]
    opened = session.get(stack.url + location, allow_redirects=False, timeout=180)
    assert opened.status_code == 302, opened.text[:1000]
    release(stack, session, course)
    return label, course


# -- tests --------------------------------------------------------------------------------
def test_student_lands_in_lab_with_the_released_assignment(stack, browser, lms_page, released_course):
    label, course = released_course
    user = unique("stu")
    started = launch_lti11(browser, lms_page, stack, LaunchSpec(user=user, role="student", course=label))
    wait_for_lab(browser, user)
    assert browser.current_url.split("?")[0].endswith(f"/{course}/lab"), browser.current_url
    print(f"\nfigure: student LTI 1.1 launch -> JupyterLab shown in {time.monotonic() - started:.1f} s")

    menu(browser, "Nbgrader", "Assignment List")
    row = visible(browser, By.XPATH,
                  f"//div[@id='released_assignments_list']//div[contains(@class,'list_item')]"
                  f"[.//span[contains(@class,'item_name')]/span[text()='{ASSIGNMENT}']]",
                  60, f"{ASSIGNMENT} among the released assignments")
    assert course in row.text
    assert course in browser.find_element(By.ID, "assignments_toolbar").text  # the course picker

    # Fetching through the course's exchange puts it among the downloaded assignments.
    row.find_element(By.XPATH, ".//button[text()='Fetch']").click()
    visible(browser, By.XPATH,
            f"//div[@id='fetched_assignments_list']//*[contains(@class,'item_name')][contains(., '{ASSIGNMENT}')]",
            60, f"{ASSIGNMENT} among the downloaded assignments")


def test_instructor_reaches_the_course_formgrader(stack, browser, lms_page, released_course):
    label, course = released_course
    user = unique("ins")
    launch_lti11(browser, lms_page, stack, LaunchSpec(user=user, role="instructor", course=label))
    wait_for_lab(browser, user)

    browser.get(f"{stack.url}/services/{course}/formgrader")
    visible(browser, By.XPATH, f"//td[normalize-space()='{ASSIGNMENT}'] | //a[normalize-space()='{ASSIGNMENT}']",
            60, f"{ASSIGNMENT} in the formgrader's assignment table")
    assert f"/services/{course}/formgrader" in browser.current_url, browser.current_url
    assert "Manage Assignments" in browser.page_source


def test_student_lands_in_lab_through_lti13(stack, browser, lms_page):
    user = unique("stu")
    key = SigningKey.from_file(stack.secrets_dir / devplatform.DEV_KEY_FILENAME)
    url = lti13_login_url(stack.url, key, LaunchSpec(user=user, role="student", course=unique("e2e")))
    browser.get(lms_page(url))
    wait_for_lab(browser, user)


def test_forged_launch_shows_the_refusal(stack, browser, lms_page):
    user = unique("stu")
    spec = LaunchSpec(user=user, role="student", course=unique("e2e"))
    key, _ = consumer(stack)
    url, fields = lti11_launch(stack.url, spec, key, "not-the-shared-secret-of-this-key")
    browser.get(lms_page(url, fields))
    message = visible(browser, By.XPATH, "//*[contains(., 'signature is invalid')][not(*[contains(., 'signature is invalid')])]",
                      30, "the refusal message")
    assert "401" in browser.page_source, browser.page_source[:2000]
    assert "/hub/lti/launch" in browser.current_url
    assert message.is_displayed()
    # No login cookie: the hub refused before logging anyone in.
    assert not [c for c in browser.get_cookies() if c["name"] == "jupyterhub-hub-login"]
    names = [entry["name"] for entry in stack.api("GET", "/users").json()]
    assert not [name for name in names if name.startswith(user)], names


def test_instructor_picks_an_assignment_in_the_deep_linking_page(stack, browser, lms_page):
    # An LTI 1.3 course with ps1 released (its instructor's launch provisions it).
    label = unique("e2edl")
    session, response = lti13_login(stack, LaunchSpec(user=unique("ins"), role="instructor", course=label))
    location = response.headers["Location"]
    course = location.rstrip("/").rsplit("/", 1)[-1]
    assert session.get(stack.url + location, allow_redirects=False, timeout=180).status_code == 302
    release(stack, session, course)
    # The LMS's "Select content": a deep linking request, in the browser.
    key = SigningKey.from_file(stack.secrets_dir / devplatform.DEV_KEY_FILENAME)
    spec = LaunchSpec(user=unique("ins"), role="instructor", course=label, deep_linking=True)
    browser.get(lms_page(lti13_login_url(stack.url, key, spec)))
    visible(browser, By.ID, f"a-{ASSIGNMENT}", 90, f"{ASSIGNMENT} in the link picker").click()
    browser.find_element(By.ID, "title").send_keys("Problem set 1")
    browser.find_element(By.ID, "add-link").click()
    # The tool's answer goes back to the LMS, which checks it and makes the link.
    created = visible(browser, By.ID, "created", 60, "the LMS's new link")
    assert ASSIGNMENT in created.text and "Problem set 1" in browser.page_source
