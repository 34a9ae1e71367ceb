"""Unit tests of coursehub.policy: who mounts what, with which modes, env, limits and fingerprint."""

import dataclasses

import pytest
from jupyterhub.slugs import is_valid_safe_slug

from coursehub.core.launch import Launch
from coursehub.core.params import CustomParams, VolumeRequest, validate_params
from coursehub.core.policy import COURSE_ROOT, HOME, Ids, Mount, SpawnPlan, plan_spawn
from coursehub.core.settingsfile import SECRET_ENV, load_settings

SETTINGS_YAML = """
roles:
  student:
    image: coursehub/student:1
    allowed_images: [coursehub/student-r:1]
    cpu: 1
    cpu_max: 2
    cpu_guarantee: 0.5
    mem: 1G
    mem_max: 2G
    mem_guarantee: 512M
  instructor:
    image: coursehub/instructor:1
    interface: notebook
    cpu: 2
    cpu_max: 4
    mem: 2G
    mem_max: 8G
"""
GiB = 1024**3
EXCHANGE = "/srv/nbgrader/exchange"
STUDENT_IDS = Ids(uid=20001, gid=20001, course_gid=30001)
STAFF_IDS = Ids(uid=20002, gid=20002, course_gid=30001)


@pytest.fixture(scope="module")
def settings():
    env = {name: f"fake-{name.lower()}-0123456789abcdef" for name in SECRET_ENV}
    env["COURSEHUB_LTI11_CONSUMERS"] = "moodle:fake-secret-0123456789"
    return load_settings(env=env, settings_text=SETTINGS_YAML)


def make_launch(role="student", username="hanako-1a2b3c", course="ds101"):
    return Launch(
        version="1.1", platform="moodle", lms_user_id="2", username=username,
        display_name="Hanako Yamada", given_name="Hanako", family_name="Yamada",
        email="hanako@example.ac.jp", context_id="3", context_label="DS101",
        context_title="Data Science 101", role=role, is_lms_admin=False,
        lms_roles=("Learner",), resource_link_id="7", course_id=course,
    )


def plan(settings, role="student", custom=None, ids=None, **launch_kw):
    launch = make_launch(role=role, **launch_kw)
    params = validate_params(custom or {}, role, settings.role_policy(role))
    ids = ids or (STUDENT_IDS if role == "student" else STAFF_IDS)
    return plan_spawn(launch, params, settings, ids)


def by_target(spawn_plan: SpawnPlan) -> dict[str, Mount]:
    return {mount.target: mount for mount in spawn_plan.mounts}


def test_student_plan(settings):
    p = plan(settings)
    assert p.server_name == "ds101" and is_valid_safe_slug(p.server_name)
    assert p.image == "coursehub/student:1"
    assert (p.uid, p.gid, p.supplementary_gids) == (20001, 20001, ())
    assert p.mounts == (
        Mount("homes/ds101/hanako-1a2b3c", HOME, False, 20001, 20001, 0o700),
        Mount("exchange/ds101", f"{EXCHANGE}/ds101", False, None, None, 0o755),
    )
    assert p.environment == {
        "NBGRADER_COURSE_ID": "ds101",
        "NBGRADER_EXCHANGE_ROOT": EXCHANGE,
        "COURSEHUB_ROLE": "student",
        "HOME": HOME,
        "USER": "hanako-1a2b3c",
        "LOGNAME": "hanako-1a2b3c",
    }
    assert (p.cpu_limit, p.mem_limit, p.cpu_guarantee, p.mem_guarantee) == (
        1.0, GiB, 0.5, 512 * 1024**2)
    assert p.default_url == "/lab" and p.assignment is None


@pytest.mark.parametrize("role", ["instructor", "ta"])
def test_staff_plan_adds_the_course_directory(settings, role):
    p = plan(settings, role=role)
    assert p.image == "coursehub/instructor:1"
    assert p.supplementary_gids == (30001,)
    course = by_target(p)[COURSE_ROOT]
    assert course == Mount("courses/ds101", COURSE_ROOT, False, None, 30001, 0o2770)
    assert p.environment["NBGRADER_COURSE_ROOT"] == COURSE_ROOT
    assert p.environment["COURSEHUB_ROLE"] == role
    assert p.default_url == "/tree"  # the instructor policy says notebook


@pytest.mark.parametrize("custom", [{}, {"volumes": "data:materials,hw:submissions,me:personal"}])
def test_student_never_sees_the_course_dir_or_another_course(settings, custom):
    p = plan(settings, custom=custom)
    assert COURSE_ROOT not in by_target(p)
    assert "NBGRADER_COURSE_ROOT" not in p.environment
    assert 30001 not in p.supplementary_gids and p.gid != 30001
    for mount in p.mounts:
        assert not mount.source.startswith("courses/")
        assert mount.source.split("/")[1] == "ds101", mount
        assert not mount.source.startswith("/") and ".." not in mount.source.split("/")
    exchanges = [m for m in p.mounts if m.target.startswith(EXCHANGE)]
    assert [(m.source, m.target) for m in exchanges] == [("exchange/ds101", f"{EXCHANGE}/ds101")]


def test_two_courses_are_two_isolated_servers(settings):
    one, two = plan(settings, course="ds101"), plan(settings, course="stat-200")
    assert one.server_name != two.server_name
    assert by_target(one)[HOME].source != by_target(two)[HOME].source
    assert by_target(two)[f"{EXCHANGE}/stat-200"].source == "exchange/stat-200"
    assert f"{EXCHANGE}/ds101" not in by_target(two)


VOL = "/home/jovyan/volumes"


@pytest.mark.parametrize(
    "role, spec, source, read_only, owner_uid, owner_gid, mode",
    [
        ("student", "data:materials", "volumes/ds101/materials/data", True, None, 30001, 0o2775),
        ("student", "data:materials:ro", "volumes/ds101/materials/data", True, None, 30001, 0o2775),
        ("instructor", "data:materials", "volumes/ds101/materials/data", False, None, 30001,
         0o2775),
        ("instructor", "data:materials:ro", "volumes/ds101/materials/data", True, None, 30001,
         0o2775),
        ("student", "hw:submissions", "volumes/ds101/submissions/hw/hanako-1a2b3c", False, 20001,
         30001, 0o2770),
        ("student", "hw:submissions:ro", "volumes/ds101/submissions/hw/hanako-1a2b3c", True, 20001,
         30001, 0o2770),
        ("instructor", "hw:submissions", "volumes/ds101/submissions/hw", True, None, 30001, 0o2770),
        ("ta", "hw:submissions", "volumes/ds101/submissions/hw", True, None, 30001, 0o2770),
        ("instructor", "hw:submissions:rw", "volumes/ds101/submissions/hw", False, None, 30001,
         0o2770),
        ("student", "me:personal", "personal/ds101/me/hanako-1a2b3c", False, 20001, 20001, 0o700),
        ("instructor", "me:personal", "personal/ds101/me/hanako-1a2b3c", False, 20002, 20002,
         0o700),
        ("student", "me:personal:ro", "personal/ds101/me/hanako-1a2b3c", True, 20001, 20001, 0o700),
    ],
)
def test_volume_mounts(settings, role, spec, source, read_only, owner_uid, owner_gid, mode):
    name = spec.split(":")[0]
    mount = by_target(plan(settings, role=role, custom={"volumes": spec}))[f"{VOL}/{name}"]
    assert mount == Mount(source, f"{VOL}/{name}", read_only, owner_uid, owner_gid, mode)


def test_materials_and_submissions_of_the_same_name_are_different_folders(settings):
    materials = by_target(plan(settings, custom={"volumes": "hw:materials"}))[f"{VOL}/hw"]
    submissions = by_target(plan(settings, role="instructor", custom={"volumes": "hw:submissions"}))
    assert not submissions[f"{VOL}/hw"].source.startswith(materials.source)
    assert not materials.source.startswith(submissions[f"{VOL}/hw"].source)


@pytest.mark.parametrize(
    "role, custom, url, env",
    [
        ("student", {"assignment": "ps1"}, "/lab/tree/ds101/ps1", "ps1"),
        ("student", {"assignment": "ps1", "interface": "notebook"}, "/tree/ds101/ps1", "ps1"),
        ("student", {"interface": "notebook"}, "/tree", None),
        ("instructor", {"interface": "lab"}, "/lab", None),
        ("instructor", {"assignment": "ps2"}, "/tree/ds101/ps2", "ps2"),
    ],
)
def test_default_url_and_assignment(settings, role, custom, url, env):
    p = plan(settings, role=role, custom=custom)
    assert p.default_url == url
    assert p.environment.get("COURSEHUB_ASSIGNMENT") == env
    assert p.assignment == env


@pytest.mark.parametrize(
    "role, custom, cpu, mem, cpu_g, mem_g",
    [
        ("student", {}, 1.0, GiB, 0.5, 512 * 1024**2),
        ("student", {"cpu_limit": "1.5", "mem_limit": "1536M"}, 1.5, 1536 * 1024**2, 0.5,
         512 * 1024**2),
        ("student", {"cpu_limit": "99", "mem_limit": "99G"}, 2.0, 2 * GiB, 0.5, 512 * 1024**2),
        # a link asking less than the role's guarantee lowers the guarantee with it
        ("student", {"cpu_limit": "0.25", "mem_limit": "256M"}, 0.25, 256 * 1024**2, 0.25,
         256 * 1024**2),
        ("instructor", {"cpu_limit": "99"}, 4.0, 2 * GiB, 0.0, 0),
    ],
)
def test_limits(settings, role, custom, cpu, mem, cpu_g, mem_g):
    p = plan(settings, role=role, custom=custom)
    assert (p.cpu_limit, p.mem_limit, p.cpu_guarantee, p.mem_guarantee) == (cpu, mem, cpu_g, mem_g)


def test_plan_notes_carry_clamps(settings):
    p = plan(settings, custom={"cpu_limit": "0.25", "mem_limit": "99G"})
    assert any("mem_limit 99G lowered" in note for note in p.notes)
    assert any("guarantee lowered" in note for note in p.notes)


def test_limits_hold_even_if_params_skipped_validation(settings):
    params = CustomParams(role="student", cpu_limit=64.0, mem_limit=64 * GiB)
    p = plan_spawn(make_launch(), params, settings, STUDENT_IDS)
    assert (p.cpu_limit, p.mem_limit) == (2.0, 2 * GiB)


def test_image_from_params(settings):
    assert plan(settings, custom={"image": "coursehub/student-r:1"}).image == "coursehub/student-r:1"


@pytest.mark.parametrize(
    "launch_kw, params, error",
    [
        ({"course": ""}, CustomParams(role="student"), "course_id"),
        ({"course": "../ds101"}, CustomParams(role="student"), "course_id"),
        ({"course": "DS101"}, CustomParams(role="student"), "course_id"),
        ({"course": "ds--101"}, CustomParams(role="student"), "course_id"),
        ({}, CustomParams(role="instructor"), "validated for instructor"),
        ({}, CustomParams(role="student", image="coursehub/instructor:1"), "not allowed"),
    ],
)
def test_inconsistent_inputs_are_bugs(settings, launch_kw, params, error):
    with pytest.raises(ValueError, match=error):
        plan_spawn(make_launch(**launch_kw), params, settings, STUDENT_IDS)


@pytest.mark.parametrize("ids", [(0, 20001, 30001), (20001, 0, 30001), (20001, 20001, 0)])
def test_root_ids_are_refused(ids):
    with pytest.raises(ValueError):
        Ids(*ids)


@pytest.mark.parametrize(
    "source, target",
    [
        ("/srv/data", "/home/jovyan"),
        ("homes/../../etc", "/home/jovyan"),
        ("homes/./x", "/home/jovyan"),
        ("homes//x", "/home/jovyan"),
        ("", "/home/jovyan"),
        ("homes/x", "home/jovyan"),
        ("homes/x", "/home/../etc"),
    ],
)
def test_mount_refuses_unsafe_paths(source, target):
    with pytest.raises(ValueError):
        Mount(source, target, False, 1000, 1000, 0o700)


VOLUMES = "data:materials,hw:submissions"


@pytest.mark.parametrize(
    "change",
    [
        {"custom": {"volumes": VOLUMES, "image": "coursehub/student-r:1"}},
        {"custom": {"volumes": VOLUMES, "cpu_limit": "1.5"}},
        {"custom": {"volumes": VOLUMES, "mem_limit": "1536M"}},
        {"custom": {"volumes": VOLUMES + ",me:personal"}},
        {"custom": {"volumes": "data:materials,hw:submissions:ro"}},
        {"custom": {"volumes": "data:materials"}},
        {"custom": {"volumes": VOLUMES, "assignment": "ps1"}},
        {"custom": {"volumes": VOLUMES, "interface": "notebook"}},
        {"custom": {"volumes": VOLUMES}, "ids": Ids(20009, 20009, 30001)},
        {"custom": {"volumes": VOLUMES}, "username": "taro-9f8e7d"},
        {"custom": {"volumes": VOLUMES}, "role": "instructor", "ids": STUDENT_IDS},
    ],
)
def test_fingerprint_changes_with_the_container(settings, change):
    base = plan(settings, custom={"volumes": VOLUMES})
    assert plan(settings, **change).fingerprint() != base.fingerprint()


@pytest.mark.parametrize(
    "one, other",
    [
        ({"volumes": VOLUMES}, {"volumes": VOLUMES}),
        # the order of volumes in the link does not change the container
        ({"volumes": VOLUMES}, {"volumes": "hw:submissions, data:materials"}),
        # parameters equal to the role's defaults
        ({"volumes": VOLUMES},
         {"volumes": VOLUMES, "image": "coursehub/student:1", "cpu_limit": "1", "interface": "lab"}),
        # two asks clamped to the same maximum differ only in their notes
        ({"volumes": VOLUMES, "cpu_limit": "2"}, {"volumes": VOLUMES, "cpu_limit": "64"}),
        # custom keys that are not ours
        ({"volumes": VOLUMES}, {"volumes": VOLUMES, "canvas_course_id": "99", "imagee": "x"}),
    ],
)
def test_fingerprint_stays_equal_otherwise(settings, one, other):
    assert plan(settings, custom=one).fingerprint() == plan(settings, custom=other).fingerprint()


def test_fingerprint_ignores_notes_only():
    base = SpawnPlan(
        server_name="ds101", image="i:1", uid=1, gid=1, supplementary_gids=(), mounts=(),
        environment={"A": "1"}, cpu_limit=1.0, mem_limit=GiB, cpu_guarantee=0.0,
        mem_guarantee=0, default_url="/lab",
    )
    assert dataclasses.replace(base, notes=("x",)).fingerprint() == base.fingerprint()
    assert dataclasses.replace(base, environment={"A": "2"}).fingerprint() != base.fingerprint()
    assert len(base.fingerprint()) == 16
