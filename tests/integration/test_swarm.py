"""coursehub on Docker Swarm (`make up MODE=swarm`) on this host: a one-node swarm (made here
and left again when the engine was not in one), the stack coursehub-swarm on port 18500 with
its own files under build/coursehub-swarm, real signed LTI 1.1 launches through the proxy, and
the services the hub makes for them inspected through Docker's API."""

from __future__ import annotations

import os
import subprocess
import time

import docker
import pytest
import requests

from harness import ROOT, Stack, lti11_login, prepare_files, read_env, stack_env, unique, wait_until

SWARM_STACK = "coursehub-swarm"
SWARM_PORT = 18500
SWARM_WORK = ROOT / "build" / SWARM_STACK
TAG = (ROOT / "VERSION").read_text().strip()


def run(*args: str, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def swarm_state() -> str:
    return run("docker", "info", "--format", "{{.Swarm.LocalNodeState}}").stdout.strip()


def script_env() -> dict:
    return stack_env(SWARM_STACK, SWARM_WORK)


def remove_stack() -> None:
    """The stack, its services and its volumes, so a run starts (and ends) with nothing."""
    if swarm_state() == "active":
        down = run("scripts/swarm-down.sh", env=script_env(), timeout=180)
        assert down.returncode == 0, down.stdout + down.stderr
    run("docker", "volume", "rm", f"{SWARM_STACK}-data", f"{SWARM_STACK}-pgdata")


LOCAL_ONLY = {"ingress", "docker_gwbridge", "host", "none"}


def bridge_attachments() -> dict:
    """{container id: {network: aliases}} of every running container on a local network."""
    found = {}
    for container in docker.from_env().containers.list():
        networks = container.attrs["NetworkSettings"]["Networks"] or {}
        found[container.id] = {
            name: [a for a in (config.get("Aliases") or []) if not container.id.startswith(a)]
            for name, config in networks.items() if name not in LOCAL_ONLY
        }
    return found


def reattach(before: dict) -> list[str]:
    """Connects containers again to the networks `swarm leave` took from them."""
    client = docker.from_env()
    again = []
    for container_id, networks in before.items():
        try:
            container = client.containers.get(container_id)
        except docker.errors.NotFound:
            continue
        have = container.attrs["NetworkSettings"]["Networks"] or {}
        for name, aliases in networks.items():
            if name not in have:
                client.networks.get(name).connect(container, aliases=(aliases or None) if name != "bridge" else None)
                again.append(f"{container.name}@{name}")
    return again


def leave_swarm() -> None:
    """Leaves the swarm this test made and the networks swarm mode leaves behind.

    NOTE: on Docker Engine 20.10 `docker swarm leave --force` detaches every running container
    from its local bridge networks too (seen here: a compose stack's hub could no longer resolve
    `postgres`). scripts/test.sh runs this module after the compose tests for that reason, and
    the containers that were attached before are connected again, with their aliases, so a
    developer's stack that was up meanwhile keeps working.
    """
    before = bridge_attachments()
    left = run("docker", "swarm", "leave", "--force")
    assert left.returncode == 0, left.stderr
    again = reattach(before)
    if again:
        print(f"\nreattached after swarm leave: {', '.join(again)}")
    # NOTE: `swarm leave` keeps docker_gwbridge (made when the first container joined an
    # overlay network); it is unused now, and a later `swarm init` makes it again.
    wait_until(lambda: run("docker", "network", "rm", "docker_gwbridge").returncode == 0
               or "docker_gwbridge" not in run("docker", "network", "ls").stdout,
               30, 1, "docker_gwbridge to go")


@pytest.fixture(scope="module")
def swarm():
    """A healthy coursehub stack on a swarm; everything it made is removed afterwards."""
    initialised = swarm_state() != "active"
    if initialised:
        made = run("docker", "swarm", "init", "--advertise-addr", "127.0.0.1")
        assert made.returncode == 0, made.stderr
    try:
        remove_stack()
        SWARM_WORK.mkdir(parents=True, exist_ok=True)
        for name in ("coursehub.env", "settings.yaml"):
            (SWARM_WORK / name).unlink(missing_ok=True)
        prepare_files(work=SWARM_WORK, env={
            "COURSEHUB_PORT": SWARM_PORT, "COURSEHUB_PUBLIC_URL": f"http://127.0.0.1:{SWARM_PORT}",
        })
        started = time.monotonic()
        up = run("scripts/swarm-up.sh", env=script_env(), timeout=900)
        assert up.returncode == 0, f"make up MODE=swarm failed:\n{up.stdout[-4000:]}\n{up.stderr[-4000:]}"
        print(f"\nswarm stack {SWARM_STACK} up in {time.monotonic() - started:.1f} s")
        stack = Stack(f"http://127.0.0.1:{SWARM_PORT}", read_env(SWARM_WORK / "coursehub.env"),
                      name=SWARM_STACK, work=SWARM_WORK)
        yield stack
    finally:
        if os.environ.get("COURSEHUB_TEST_KEEP") != "1":
            remove_stack()
            if initialised:
                leave_swarm()


def hub_logs() -> str:
    result = run("docker", "service", "logs", "--tail", "80", f"{SWARM_STACK}_hub")
    return result.stdout + result.stderr


def service_of(**labels: str):
    found = docker.from_env().services.list(filters={"label": [
        f"coursehub.stack={SWARM_STACK}", *(f"{key}={value}" for key, value in labels.items()),
    ]})
    return found[0] if found else None


def launch_to_ready(stack: Stack, role: str) -> tuple[str, str, float]:
    """An LMS launch followed like a browser, until the course server answers through the
    proxy; returns the hub user, the course and the seconds it took."""
    started = time.monotonic()
    session, response = lti11_login(stack, user=unique("sw"), role=role, course=unique("c"))
    assert response.status_code == 302, response.text[:500]
    course = response.headers["Location"].rstrip("/").rsplit("/", 1)[-1]
    session.get(f"{stack.url}{response.headers['Location']}", timeout=120)
    user = session.get(f"{stack.url}/hub/api/user", timeout=10).json()["name"]
    headers = {"Authorization": f"token {stack.env['COURSEHUB_API_TOKEN']}"}
    status = f"{stack.url}/user/{user}/{course}/api/status"
    wait_until(lambda: requests.get(status, headers=headers, timeout=5).status_code == 200,
               150, 1, f"{user}'s server of {course} through the proxy", logs=hub_logs)
    seconds = time.monotonic() - started
    print(f"\n{role} launch to ready server in swarm: {seconds:.1f} s")
    return user, course, seconds


def stop_server(stack: Stack, user: str, course: str) -> None:
    assert stack.api("DELETE", f"/users/{user}/servers/{course}").status_code in (202, 204)
    wait_until(lambda: service_of(**{"coursehub.user": user, "coursehub.course": course}) is None,
               60, 1, "the server's service to be removed", logs=hub_logs)


def test_student_server_is_a_swarm_service_with_the_plan(swarm):
    user, course, _ = launch_to_ready(swarm, "student")
    service = service_of(**{"coursehub.user": user, "coursehub.course": course})
    assert service is not None, "no swarm service for the server"
    spec = service.attrs["Spec"]
    task = spec["TaskTemplate"]
    container = task["ContainerSpec"]
    assert container["Image"] == f"coursehub/student:{TAG}"
    uid, gid = map(int, container["User"].split(":"))
    assert uid >= 20000 and gid == uid, container["User"]
    assert not container.get("Groups"), "a student must not get the course group"
    assert container["CapabilityDrop"] == ["ALL"]
    data = docker.from_env().volumes.get(f"{SWARM_STACK}-data").attrs["Mountpoint"]
    mounts = {m["Target"]: m for m in container["Mounts"]}
    assert set(mounts) == {"/home/jovyan", f"/srv/nbgrader/exchange/{course}"}
    assert mounts["/home/jovyan"]["Source"] == f"{data}/homes/{course}/{user}"
    assert all(m["Type"] == "bind" and not m.get("ReadOnly") for m in mounts.values())
    # prepare_files: students get 1 CPU and 512M by default; the pids limit is the spawner's.
    assert task["Resources"]["Limits"] == {"NanoCPUs": 10**9, "MemoryBytes": 512 * 2**20, "Pids": 512}
    assert task["RestartPolicy"]["Condition"] == "none"
    network = docker.from_env().networks.get(SWARM_STACK)
    assert [n["Target"] for n in task["Networks"]] == [network.id]
    assert spec["EndpointSpec"]["Mode"] == "dnsrr"
    # Its one task's container runs under the plan's ids, labelled like a compose server.
    tasks = service.tasks(filters={"desired-state": "running"})
    assert len(tasks) == 1 and tasks[0]["Status"]["State"] == "running"
    running = docker.from_env().containers.get(tasks[0]["Status"]["ContainerStatus"]["ContainerID"])
    assert running.attrs["Config"]["User"] == container["User"]
    assert running.labels["coursehub.user"] == user
    stop_server(swarm, user, course)


def test_instructor_server_and_grader_are_swarm_services(swarm):
    user, course, _ = launch_to_ready(swarm, "instructor")
    server = service_of(**{"coursehub.user": user, "coursehub.course": course})
    grader = service_of(**{"coursehub.grader": course})
    assert server is not None and grader is not None
    server_spec = server.attrs["Spec"]["TaskTemplate"]["ContainerSpec"]
    grader_spec = grader.attrs["Spec"]["TaskTemplate"]["ContainerSpec"]
    assert server_spec["Image"] == f"coursehub/instructor:{TAG}"
    course_gid = int(grader_spec["User"].split(":")[1])
    assert server_spec["Groups"] == [str(course_gid)]
    assert "/srv/nbgrader/course" in {m["Target"] for m in server_spec["Mounts"]}
    assert grader_spec["Image"] == f"coursehub/grader:{TAG}"
    assert grader.attrs["Spec"]["TaskTemplate"]["RestartPolicy"]["Condition"] == "any"
    # The formgrader answers through the proxy at its service prefix (hub OAuth: a redirect).
    response = requests.get(f"{swarm.url}/services/{course}/", allow_redirects=False, timeout=10)
    assert response.status_code in (200, 302), response.status_code
    # The admin's everyday commands work on the swarm stack too.
    status = run("make", "-s", "status", "MODE=swarm", env=script_env(), timeout=60)
    assert status.returncode == 0, status.stdout + status.stderr
    assert course in status.stdout and user in status.stdout, status.stdout
    listed = run("make", "-s", "ps", "MODE=swarm", env=script_env(), timeout=60)
    assert listed.returncode == 0 and f"{SWARM_STACK}_hub" in listed.stdout, listed.stdout + listed.stderr
    stop_server(swarm, user, course)


def test_backup_and_restore_of_the_swarm_stack(swarm, tmp_path):
    session, response = lti11_login(swarm, user=unique("bk"), course=unique("c"))
    assert response.status_code == 302, response.text[:500]
    user = session.get(f"{swarm.url}/hub/api/user", timeout=10).json()["name"]
    env = {**script_env(), "COURSEHUB_BACKUP_DIR": str(tmp_path)}
    backup = run("make", "-s", "backup", "MODE=swarm", env=env, timeout=300)
    assert backup.returncode == 0, backup.stdout + backup.stderr
    archive, = tmp_path.glob("coursehub-*.tar.gz")
    assert archive.stat().st_mode & 0o777 == 0o600
    listing = run("tar", "-tzf", str(archive)).stdout.split()
    assert {"MANIFEST", "postgres.sql", "data.tar"} <= set(listing), listing
    dump = run("tar", "-xzOf", str(archive), "postgres.sql").stdout
    assert "coursehub_uids" in dump and user in dump
    assert "mode=swarm" in run("tar", "-xzOf", str(archive), "MANIFEST").stdout
    # A user lost after the backup comes back with the restore; the stack is up again after it.
    assert swarm.api("DELETE", f"/users/{user}").status_code == 204
    assert swarm.api("GET", f"/users/{user}").status_code == 404
    started = time.monotonic()
    restore = run("make", "-s", "restore", "MODE=swarm", f"FILE={archive}", "FORCE=1", env=env, timeout=600)
    assert restore.returncode == 0, restore.stdout[-3000:] + restore.stderr[-3000:]
    print(f"\nrestore of the swarm stack: {time.monotonic() - started:.1f} s")
    assert swarm.api("GET", f"/users/{user}").status_code == 200
    assert swarm.api("GET", "/groups").status_code == 200
