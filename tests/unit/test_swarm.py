"""Unit tests of coursehub.spawners.swarm: service names, a SpawnPlan applied by CoursehubSwarmSpawner
and a GraderPlan as swarm service specs, and the mode setting. No Docker: the one call to the
engine (the hub's swarm node id) is replaced, and specs are checked with docker-py's own
argument handling."""

from types import SimpleNamespace
from unittest import mock

import pytest
from docker.models.services import _get_create_service_kwargs
from jupyterhub import orm
from traitlets.config import Config

from coursehub.core import graderplan
from coursehub.grading import provision
from coursehub.spawners import hardening
from coursehub.storage import runtime
from coursehub.spawners import swarm
from coursehub.config import apply_spawner
from coursehub.core.launch import Launch
from coursehub.core.params import validate_params
from coursehub.core.policy import Ids, plan_spawn
from coursehub.core.settings import SettingsError
from coursehub.core.settingsfile import SECRET_ENV, load_settings
from coursehub.spawners.docker import CoursehubSpawner

SETTINGS_YAML = """
roles:
  student: {image: coursehub/student:1, cpu: 1.5, cpu_max: 2, cpu_guarantee: 0.5, mem: 1G, mem_max: 2G, mem_guarantee: 512M}
  instructor: {image: coursehub/instructor:1, cpu: 2, cpu_max: 2, mem: 2G, mem_max: 4G}
grader: {image: coursehub/grader:1}
"""
DATA = "/var/lib/docker/volumes/ch-data/_data"
STORE = SimpleNamespace(host=lambda source: f"{DATA}/{source}")


def make_settings(mode=None):
    env = {name: f"fake-{name.lower()}-0123456789abcdef" for name in SECRET_ENV}
    env.update(COURSEHUB_LTI11_CONSUMERS="moodle:fake-secret-0123456789", COURSEHUB_STACK="ch",
               COURSEHUB_NETWORK="ch")
    if mode:
        env["COURSEHUB_MODE"] = mode
    return load_settings(env=env, settings_text=SETTINGS_YAML)


@pytest.fixture(scope="module")
def settings():
    return make_settings("swarm")


def make_plan(settings, role):
    launch = Launch(
        version="1.1", platform="moodle", lms_user_id="2", username="hanako-1a2b3c",
        display_name="Hanako", given_name="Hanako", family_name="Y", email="h@example.ac.jp",
        context_id="3", context_label="DS101", context_title="DS", role=role,
        is_lms_admin=False, lms_roles=(), resource_link_id="7", course_id="ds101",
    )
    params = validate_params({}, role, settings.role_policy(role))
    return plan_spawn(launch, params, settings, Ids(uid=20001, gid=20001, course_gid=30001))


def make_spawner(cls, settings, **traits):
    user = mock.Mock()
    user.name = user.escaped_name = "hanako-1a2b3c"
    return cls(user=user, orm_spawner=orm.Spawner(name="ds101"), settings=settings, prefix="ch",
               **traits)


@pytest.mark.parametrize("user, server, expected", [
    ("hanako-1a2b3c", "ds101", "ch-hanako-1a2b3c--ds101"),
    ("hanako-1a2b3c", "", "ch-hanako-1a2b3c"),
])
def test_service_name_keeps_a_valid_name(user, server, expected):
    assert swarm.service_name("ch", user, server) == expected


@pytest.mark.parametrize("user, server", [
    ("first.last_x-1a2b3c4d", "ds101"),                      # '.' and '_' are not DNS
    ("a" * 20 + "-1a2b3c4d", "course-with-a-long-label-ab1"),  # longer than 63
])
def test_service_name_is_a_dns_label_and_unique(user, server):
    name = swarm.service_name("coursehub-swarm", user, server)
    assert len(name) <= swarm.SERVICE_NAME_MAX and swarm._SERVICE_NAME.match(name), name
    assert name == swarm.service_name("coursehub-swarm", user, server)
    assert name != swarm.service_name("coursehub-swarm", user, server + "x")


def test_resources_in_nano_cpus_and_bytes_with_pids():
    assert swarm.resources(1.5, 2**30, 0.5, 2**29, 512) == {
        "Limits": {"NanoCPUs": 1_500_000_000, "MemoryBytes": 2**30, "Pids": 512},
        "Reservations": {"NanoCPUs": 500_000_000, "MemoryBytes": 2**29},
    }
    assert swarm.resources(0, 0, 0, 0, 1024) == {"Limits": {"Pids": 1024}}


@pytest.fixture
def node_id(monkeypatch):
    monkeypatch.setattr(runtime, "swarm_node_id", lambda: "node-1")


@pytest.mark.parametrize("role, groups", [("student", []), ("instructor", ["30001"])])
def test_swarm_spawner_applies_the_same_plan_as_the_container_spawner(settings, node_id, role, groups):
    plan = make_plan(settings, role)
    service = make_spawner(swarm.CoursehubSwarmSpawner, settings)
    service.apply_plan(plan, STORE)
    container = make_spawner(CoursehubSpawner, settings)
    container.apply_plan(plan, STORE)

    assert service.object_name == "ch-hanako-1a2b3c--ds101"
    assert service.image == container.image == plan.image
    assert service.plan_fingerprint == plan.fingerprint()
    assert service.environment == container.environment
    spec = service.extra_container_spec
    assert spec["user"] == container.extra_create_kwargs["user"] == "20001:20001"
    assert spec["groups"] == container.extra_host_config["group_add"] == groups
    assert spec["cap_drop"] == ["ALL"]
    assert spec["labels"] == service.extra_create_kwargs["labels"] == container.extra_create_kwargs["labels"]
    # create_service takes no `user`: only the service labels stay in the create kwargs.
    assert set(service.extra_create_kwargs) == {"labels"}
    limits = service.extra_task_spec["resources"]["Limits"]
    assert limits == {"NanoCPUs": int(plan.cpu_limit * 1e9), "MemoryBytes": plan.mem_limit,
                      "Pids": container.extra_host_config["pids_limit"]}
    assert service.extra_task_spec["restart_policy"]["Condition"] == "none"
    assert service.extra_placement_spec == {"constraints": ["node.id == node-1"]}
    assert service.extra_endpoint_spec == {"mode": "dnsrr"}
    mounts = {m["Target"]: m for m in service.mounts}
    assert mounts.keys() == {m.target for m in plan.mounts}
    for mount in plan.mounts:
        assert mounts[mount.target]["Source"] == f"{DATA}/{mount.source}"
        assert mounts[mount.target]["Type"] == "bind"
        assert mounts[mount.target]["ReadOnly"] == mount.read_only


def test_guarantees_are_swarm_reservations(settings, node_id):
    plan = make_plan(settings, "student")
    service = make_spawner(swarm.CoursehubSwarmSpawner, settings)
    service.apply_plan(plan, STORE)
    assert service.extra_task_spec["resources"]["Reservations"] == {
        "NanoCPUs": 500_000_000, "MemoryBytes": 512 * 2**20,
    }


def test_unpinned_servers_have_no_placement(settings):
    service = make_spawner(swarm.CoursehubSwarmSpawner, settings, pin_to_hub_node=False)
    service.apply_plan(make_plan(settings, "student"), STORE)
    assert service.extra_placement_spec == {}


def test_grader_service_spec(settings):
    plan = provision.grader_plan(settings, graderplan.GraderRecord("ds101", 20010, 20011, "t" * 64, "pw"))
    spec = swarm.grader_service(plan, STORE.host, "node-1")
    # docker-py's own translation into the engine's request accepts every key.
    create = _get_create_service_kwargs("create", dict(spec))
    task = create["task_template"]
    container = task["ContainerSpec"]
    assert create["name"] == container["Hostname"] == "ch-grader-ds101"
    assert container["User"] == "20010:20011"
    assert container["Labels"] == create["labels"] == dict(plan.labels)
    assert container["CapabilityDrop"] == ["ALL"]
    read_only = {m["Target"]: m["ReadOnly"] for m in container["Mounts"]}
    assert read_only == {target: target == graderplan.ROSTER_DIR for _, target in plan.mounts}
    assert task["Resources"] == {"Limits": {"Pids": hardening.GRADER_PIDS_LIMIT}}
    assert task["RestartPolicy"]["Condition"] == "any"
    assert task["Placement"]["Constraints"] == ["node.id == node-1"]
    assert create["endpoint_spec"]["Mode"] == "dnsrr"


def test_mode_setting_picks_the_spawner():
    assert make_settings().mode == "compose"
    for mode, cls in (("compose", "coursehub.spawners.docker.CoursehubSpawner"),
                      ("swarm", "coursehub.spawners.swarm.CoursehubSwarmSpawner")):
        c = Config()
        apply_spawner(c, make_settings(mode))
        assert c.JupyterHub.spawner_class == cls
    with pytest.raises(SettingsError, match="COURSEHUB_MODE"):
        make_settings("kubernetes")
