"""Unit tests of coursehub.params: every refusal, clamping, and the reference table."""

import pytest

from coursehub.core.params import (
    MAX_VOLUMES,
    PARAMETERS,
    CustomParams,
    ParamError,
    VolumeRequest,
    params_table,
    require_released,
    validate_params,
)
from coursehub.core.settingsfile import SECRET_ENV, load_settings

SETTINGS_YAML = """
roles:
  student:
    image: coursehub/student:1
    allowed_images: [coursehub/student-r:1]
    cpu: 1
    cpu_max: 2
    mem: 1G
    mem_max: 2G
  instructor:
    image: coursehub/instructor:1
    allowed_images: [coursehub/instructor-gpu:1]
    cpu: 2
    cpu_max: 4
    mem: 2G
    mem_max: 8G
"""
GiB = 1024**3


@pytest.fixture(scope="module")
def settings():
    env = {name: f"fake-{name.lower()}-0123456789abcdef" for name in SECRET_ENV}
    env["COURSEHUB_LTI11_CONSUMERS"] = "moodle:fake-secret-0123456789"
    return load_settings(env=env, settings_text=SETTINGS_YAML)


def check(settings, custom, role="student"):
    return validate_params(custom, role, settings.role_policy(role))


@pytest.mark.parametrize(
    "custom, role, param, words",
    [
        # image: allow-list per role, including another role's image
        ({"image": "coursehub/instructor:1"}, "student", "image", "not allowed for students"),
        ({"image": "coursehub/student:1"}, "ta", "image", "not allowed for tas"),
        ({"image": "evil/miner:latest"}, "instructor", "image", "not allowed"),
        ({"image": "/var/run/docker.sock"}, "student", "image", "not an image name"),
        ({"image": "Coursehub/Student:1"}, "student", "image", "not an image name"),
        ({"image": "coursehub/student:1 --privileged"}, "student", "image", "not an image name"),
        # interface
        ({"interface": "classic"}, "student", "interface", "not one of lab, notebook"),
        ({"interface": "lab; rm -rf"}, "student", "interface", "not one of"),
        # assignment
        ({"assignment": "../ps1"}, "student", "assignment", "'..'"),
        ({"assignment": "/etc/passwd"}, "student", "assignment", "host path"),
        ({"assignment": "ps1/answers"}, "student", "assignment", "path separator"),
        ({"assignment": "ps 1"}, "student", "assignment", "1-64 letters"),
        ({"assignment": "ps1;ls"}, "student", "assignment", "1-64 letters"),
        ({"assignment": "p" * 65}, "student", "assignment", "1-64 letters"),
        # volumes
        ({"volumes": "/srv/data:materials"}, "instructor", "volumes", "host path"),
        ({"volumes": "~/data:personal"}, "student", "volumes", "host path"),
        ({"volumes": "../data:materials"}, "instructor", "volumes", "'..'"),
        ({"volumes": "data/sub:materials"}, "instructor", "volumes", "path separator"),
        ({"volumes": "Data:materials"}, "instructor", "volumes", "use 1-32"),
        ({"volumes": "da ta:materials"}, "instructor", "volumes", "use 1-32"),
        ({"volumes": "d" * 33 + ":materials"}, "instructor", "volumes", "use 1-32"),
        ({"volumes": "C:\\data:materials"}, "instructor", "volumes", "use 1-32"),
        ({"volumes": "data"}, "student", "volumes", "write name:kind"),
        ({"volumes": "data:materials:ro:x"}, "student", "volumes", "write name:kind"),
        ({"volumes": "data:scratch"}, "student", "volumes", "kind must be one of"),
        ({"volumes": "data:materials:rx"}, "instructor", "volumes", "mode must be ro or rw"),
        ({"volumes": "data:materials:rw"}, "student", "volumes", "read-only"),
        ({"volumes": "data:MATERIALS:RW"}, "student", "volumes", "read-only"),
        ({"volumes": "a:personal,a:materials"}, "instructor", "volumes", "listed twice"),
        ({"volumes": ",".join(f"v{i}:personal" for i in range(MAX_VOLUMES + 1))}, "student",
         "volumes", f"at most {MAX_VOLUMES}"),
        # cpu and memory
        ({"cpu_limit": "lots"}, "student", "cpu_limit", "not a number"),
        ({"cpu_limit": "-1"}, "student", "cpu_limit", "not a number"),
        ({"cpu_limit": "1e3"}, "student", "cpu_limit", "not a number"),
        ({"cpu_limit": "nan"}, "student", "cpu_limit", "not a number"),
        ({"cpu_limit": "0"}, "student", "cpu_limit", "below the minimum"),
        ({"cpu_limit": "0.05"}, "student", "cpu_limit", "below the minimum"),
        ({"mem_limit": "lots"}, "student", "mem_limit", "not a size"),
        ({"mem_limit": "-1G"}, "student", "mem_limit", "not a size"),
        ({"mem_limit": "1M"}, "student", "mem_limit", "below the minimum"),
        ({"mem_limit": "0"}, "student", "mem_limit", "below the minimum"),
        # the same parameter twice with different values (LTI 1.3 claim keys keep their case)
        ({"image": "coursehub/student:1", "IMAGE": "coursehub/student-r:1"}, "student", "image",
         "given twice"),
    ],
)
def test_refusals_name_the_parameter(settings, custom, role, param, words):
    with pytest.raises(ParamError) as caught:
        check(settings, custom, role)
    assert caught.value.param == param
    assert words in caught.value.message
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    "custom, role, expected",
    [
        ({}, "student", CustomParams(role="student")),
        # unknown keys are ignored (LMSs send their own); empty values mean "not set"
        ({"canvas_user_id": "1234", "email": "a@b.c", "image": "", "interface": "  "}, "student",
         CustomParams(role="student")),
        ({"image": "coursehub/student:1"}, "student",
         CustomParams(role="student", image="coursehub/student:1")),
        ({"image": "coursehub/student-r:1"}, "student",
         CustomParams(role="student", image="coursehub/student-r:1")),
        ({"image": "coursehub/instructor-gpu:1"}, "instructor",
         CustomParams(role="instructor", image="coursehub/instructor-gpu:1")),
        ({"Interface": "Notebook"}, "student", CustomParams(role="student", interface="notebook")),
        ({"assignment": "PS_1-final"}, "student",
         CustomParams(role="student", assignment="PS_1-final")),
        ({"volumes": " data:materials , hw:Submissions:ro,scratch:personal "}, "student",
         CustomParams(role="student", volumes=(
             VolumeRequest("data", "materials"),
             VolumeRequest("hw", "submissions", read_only=True),
             VolumeRequest("scratch", "personal"),
         ))),
        ({"volumes": "data:materials:ro"}, "student",
         CustomParams(role="student", volumes=(VolumeRequest("data", "materials", True),))),
        ({"volumes": "data:materials:rw"}, "instructor",
         CustomParams(role="instructor", volumes=(VolumeRequest("data", "materials", False),))),
        ({"cpu_limit": "1.5", "mem_limit": "1536M"}, "student",
         CustomParams(role="student", cpu_limit=1.5, mem_limit=1536 * 1024**2)),
        ({"cpu_limit": "2", "mem_limit": "2G"}, "student",
         CustomParams(role="student", cpu_limit=2.0, mem_limit=2 * GiB)),
    ],
)
def test_valid_parameters(settings, custom, role, expected):
    assert check(settings, custom, role) == expected


@pytest.mark.parametrize(
    "role, custom, cpu, mem, clamped",
    [
        ("student", {"cpu_limit": "8"}, 2.0, None, ["cpu_limit 8 lowered to the student maximum 2"]),
        ("student", {"mem_limit": "16G"}, None, 2 * GiB, ["mem_limit 16G lowered"]),
        ("student", {"cpu_limit": "3", "mem_limit": "3G"}, 2.0, 2 * GiB, ["cpu_limit", "mem_limit"]),
        ("instructor", {"cpu_limit": "3", "mem_limit": "3G"}, 3.0, 3 * GiB, []),
        ("ta", {"cpu_limit": "64"}, 4.0, None, ["ta maximum 4"]),
    ],
)
def test_limits_are_clamped_to_the_role_maximum(settings, role, custom, cpu, mem, clamped):
    params = check(settings, custom, role)
    assert (params.cpu_limit, params.mem_limit) == (cpu, mem)
    assert len(params.notes) == len(clamped)
    for note, words in zip(params.notes, clamped):
        assert words in note


def test_near_miss_of_a_parameter_name_is_noted(settings):
    params = check(settings, {"imagee": "coursehub/student:1", "canvas_course_id": "9"})
    assert params.image is None
    assert params.notes == ("custom parameter 'imagee' ignored (did you mean 'image'?)",)


def test_require_released(settings):
    released = {("ds101", "ps1")}
    asked = []

    def is_released(course, assignment):
        asked.append((course, assignment))
        return (course, assignment) in released

    require_released(check(settings, {"assignment": "ps1"}), "ds101", is_released)
    with pytest.raises(ParamError) as caught:
        require_released(check(settings, {"assignment": "ps1"}), "ds102", is_released)
    assert caught.value.param == "assignment" and "not released in course ds102" in str(caught.value)
    require_released(check(settings, {}), "ds101", is_released)
    assert asked == [("ds101", "ps1"), ("ds102", "ps1")]


def test_params_table_lists_every_parameter_once():
    table = params_table()
    lines = table.strip().splitlines()
    assert len(lines) == len(PARAMETERS) + 2
    for spec, line in zip(PARAMETERS, lines[2:]):
        assert line.startswith(f"| `{spec.name}` | `custom_{spec.name}` |")
        # a stray '|' inside a cell would break the Markdown table
        assert line.count("|") == lines[0].count("|")
