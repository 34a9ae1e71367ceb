"""coursehub on rootful Podman (`make up ENGINE=podman`): the stack coursehub-podtest on
127.0.0.1:18600 with its own files under build/coursehub-podtest, brought up once by the README's
own script (which installs Podman and starts its Docker-compatible API when they are missing),
driven by real signed LTI 1.1 launches through the proxy, and the containers the hub makes read
from Podman's side (`podman inspect`, and the cgroups inside them). Ends with `make down`.

One stack start for the whole module; the culler runs short so that culling is seen while the
other tests run, and the launch -> ready figure is measured beside the Docker test stack's.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import time

import pytest
import requests

from harness import (
    PODMAN_SOCKET, ROOT, Stack, lti11_login, prepare_files, read_env, stack_env, unique, wait_until, wipe_project,
)
from test_graders import formgrader_ready, launch

PODMAN_STACK = "coursehub-podtest"
PODMAN_PORT = 18600
PODMAN_WORK = ROOT / "build" / PODMAN_STACK
TAG = (ROOT / "VERSION").read_text().strip()
# prepare_files: students get 512M and 1 CPU; the pids limit is the spawner's (hardening.py).
STUDENT_MEM, SERVER_PIDS, GRADER_PIDS = 512 * 1024**2, 512, 1024
# Short enough to watch within this module, long enough for a test's checks on a ready server.
CULL_TIMEOUT, CULL_INTERVAL = 30, 5
READY_TIMEOUT = 150


def run(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=ROOT, env=stack_env(PODMAN_STACK, PODMAN_WORK, "podman"),
                          capture_output=True, text=True, timeout=timeout)


def podman_inspect(name: str) -> dict:
    """What Podman itself says of a container (its CLI, not the Docker-compatible API)."""
    result = subprocess.run(["podman", "inspect", name], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)[0]


def podman_exec(name: str, command: str, user: str = "") -> str:
    args = ["podman", "exec"] + (["--user", user] if user else []) + [name, "sh", "-c", command]
    result = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def remove_stack() -> None:
    down = run("scripts/down.sh", timeout=300)
    assert down.returncode == 0, down.stdout + down.stderr
    wipe_project(PODMAN_STACK, "podman")


@pytest.fixture(scope="module")
def podman():
    """The healthy Podman test stack; its containers, network and volumes go afterwards."""
    # Packages, host settings, API service: what make up ENGINE=podman does first, here early
    # because wiping a previous run's leftovers needs the podman command.
    setup = subprocess.run(["scripts/podman-setup.sh"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert setup.returncode == 0, setup.stdout + setup.stderr
    wipe_project(PODMAN_STACK, "podman")
    shutil.rmtree(PODMAN_WORK, ignore_errors=True)
    prepare_files({"culler": {"timeout": CULL_TIMEOUT, "interval": CULL_INTERVAL, "max_age": 0}},
                  work=PODMAN_WORK,
                  env={"COURSEHUB_PORT": PODMAN_PORT, "COURSEHUB_PUBLIC_URL": f"http://127.0.0.1:{PODMAN_PORT}"})
    started = time.monotonic()
    up = run("scripts/up.sh", timeout=1200)
    assert up.returncode == 0, f"make up ENGINE=podman failed:\n{up.stdout[-4000:]}\n{up.stderr[-4000:]}"
    print(f"\npodman stack {PODMAN_STACK} up in {time.monotonic() - started:.1f} s")
    stack = Stack(f"http://127.0.0.1:{PODMAN_PORT}", read_env(PODMAN_WORK / "coursehub.env"),
                  name=PODMAN_STACK, work=PODMAN_WORK, engine="podman")
    try:
        yield stack
    finally:
        if os.environ.get("COURSEHUB_TEST_KEEP") != "1":
            remove_stack()


# -- helpers ---------------------------------------------------------------------------------
def touch(stack: Stack, user: str, course: str) -> None:
    """Activity now, so the short culler leaves this server alone for CULL_TIMEOUT."""
    now = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
    stack.api("POST", f"/users/{user}/activity",
              json={"servers": {course: {"last_activity": now}}}).raise_for_status()


def launch_to_ready(stack: Stack, role: str = "student") -> tuple[str, str, float]:
    """An LMS launch followed like a browser (open page, spawn), until the course server answers
    through the proxy; returns the hub user, the course id and the seconds it took."""
    started = time.monotonic()
    session, response = lti11_login(stack, user=unique("pm"), role=role, course=unique("c"))
    assert response.status_code == 302, response.text[:500]
    course = response.headers["Location"].rstrip("/").rsplit("/", 1)[-1]
    session.get(f"{stack.url}{response.headers['Location']}", timeout=120)
    user = session.get(f"{stack.url}/hub/api/user", timeout=10).json()["name"]
    headers = {"Authorization": f"token {stack.env['COURSEHUB_API_TOKEN']}"}
    status = f"{stack.url}/user/{user}/{course}/api/status"
    wait_until(lambda: requests.get(status, headers=headers, timeout=5).status_code == 200,
               READY_TIMEOUT, 0.5, f"{user}'s server of {course} through the proxy",
               logs=lambda: stack.logs("hub", 80))
    seconds = time.monotonic() - started
    touch(stack, user, course)
    return user, course, seconds


def stop_server(stack: Stack, user: str, course: str) -> None:
    assert stack.api("DELETE", f"/users/{user}/servers/{course}").status_code in (202, 204)
    wait_until(lambda: stack.find_container(user, course) is None, 60, 1, "the server's container to go")


@pytest.fixture(scope="module")
def student(podman):
    """A student's ready server, left idle after its test for the culler (user, course, seconds)."""
    return launch_to_ready(podman)


def data_mountpoint(stack: Stack) -> str:
    """The data volume's host path as Podman reports it (the hub binds its subfolders)."""
    out = subprocess.run(["podman", "volume", "inspect", "--format", "{{.Mountpoint}}", f"{stack.name}-data"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


# -- the stack --------------------------------------------------------------------------------
def test_the_stack_runs_on_podman_with_dockers_images(podman):
    assert requests.get(f"{podman.url}/hub/health", timeout=5).status_code == 200
    ps = run("make", "-s", "ps", "ENGINE=podman", timeout=120)
    assert ps.returncode == 0, ps.stdout + ps.stderr
    for service in ("proxy", "hub", "postgres"):
        name = podman.container(service).name
        line = next(l for l in ps.stdout.splitlines() if l.startswith(name))
        assert "(healthy)" in line, ps.stdout
        container = podman_inspect(name)
        assert container["Config"]["Labels"]["com.docker.compose.project"] == PODMAN_STACK
        # The project's image of this tag in Podman's own store (moved from Docker or built).
        image = subprocess.run(["podman", "image", "inspect", "-f", "{{.Id}}", f"coursehub/{service}:{TAG}"],
                               capture_output=True, text=True).stdout.strip()
        assert container["Image"] == image, service
    # Nothing of this stack lives in Docker.
    in_docker = subprocess.run(["docker", "ps", "-aq", "--filter", f"label=com.docker.compose.project={PODMAN_STACK}"],
                               capture_output=True, text=True).stdout.split()
    assert in_docker == []
    # The hub reaches Podman's API through the socket mounted where Docker's would be.
    mounts = {m["Destination"]: m["Source"] for m in podman_inspect(podman.container("hub").name)["Mounts"]}
    assert mounts["/var/run/docker.sock"] == PODMAN_SOCKET
    status = run("make", "-s", "status", "ENGINE=podman", timeout=120)
    assert status.returncode == 0 and "courses:" in status.stdout, status.stdout + status.stderr


def test_student_server_on_podman_runs_as_its_uid_with_limits_and_data_volume_binds(podman, student):
    user, course, seconds = student
    print(f"\nfigure: student launch -> ready server on podman {seconds:.1f} s")
    container = podman.container_of(user, course)
    name = container.name
    spec = podman_inspect(name)
    host = spec["HostConfig"]
    uid, gid = map(int, spec["Config"]["User"].split(":"))
    assert uid >= 20000 and gid == uid, spec["Config"]["User"]
    assert spec["Config"]["Labels"]["coursehub.stack"] == PODMAN_STACK
    assert spec["Config"]["Labels"]["coursehub.user"] == user
    assert spec["Config"]["Labels"]["coursehub.course"] == course
    assert host["Memory"] == STUDENT_MEM and host["PidsLimit"] == SERVER_PIDS
    assert host["CpuQuota"] / host["CpuPeriod"] == pytest.approx(1.0)
    assert "no-new-privileges" in host["SecurityOpt"]
    assert not host["Privileged"]
    # Podman lists the dropped capabilities one by one where Docker says ALL: read the effect.
    status = podman_exec(name, "id -u; grep -E '^(CapEff|CapBnd|NoNewPrivs)' /proc/1/status; "
                               "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max")
    assert status.split() == [str(uid), "CapEff:", "0" * 16, "CapBnd:", "0" * 16, "NoNewPrivs:", "1",
                              str(STUDENT_MEM), str(SERVER_PIDS)], status
    # Binds of the data volume's subfolders at the host path Podman gives for the volume.
    mountpoint = data_mountpoint(podman)
    binds = {m["Destination"]: (m["Source"], m["RW"]) for m in spec["Mounts"]}
    assert binds == {
        "/home/jovyan": (f"{mountpoint}/homes/{course}/{user}", True),
        f"/srv/nbgrader/exchange/{course}": (f"{mountpoint}/exchange/{course}", True),
    }, binds
    marker = unique("written-on-podman-")
    podman_exec(name, f"echo {marker} > /home/jovyan/{marker}.txt", user=spec["Config"]["User"])
    on_host = f"{mountpoint}/homes/{course}/{user}/{marker}.txt"
    assert open(on_host).read().strip() == marker and os.stat(on_host).st_uid == uid


def test_instructor_launch_provisions_the_formgrader_on_podman(podman):
    started = time.monotonic()
    session, course, instructor = launch(podman, "instructor")
    wait_until(lambda: formgrader_ready(podman, session, course), 120, 1,
               "the formgrader to answer", logs=lambda: podman.logs("hub", 80))
    print(f"\nfigure: first instructor launch -> formgrader ready on podman {time.monotonic() - started:.1f} s")
    response = requests.get(f"{podman.url}/services/{course}/", allow_redirects=False, timeout=10)
    assert response.status_code in (200, 302), response.status_code
    grader = podman_inspect(f"{PODMAN_STACK}-grader-{course}")
    labels, host = grader["Config"]["Labels"], grader["HostConfig"]
    assert labels["coursehub.stack"] == PODMAN_STACK and labels["coursehub.grader"] == course
    uid, gid = map(int, grader["Config"]["User"].split(":"))
    assert uid >= 20000 and gid >= 20000 and uid != gid
    assert host["PidsLimit"] == GRADER_PIDS and "no-new-privileges" in host["SecurityOpt"]
    assert host["RestartPolicy"]["Name"] == "unless-stopped"
    assert podman_exec(grader["Name"], "grep -E '^CapEff' /proc/1/status").split() == ["CapEff:", "0" * 16]
    # The instructor's own server shares the course group with the grader (group_add), and so
    # writes the course folder. NOTE: `podman exec --user uid:gid` drops supplementary groups
    # (Docker's keeps them), so the server's own process is read, and exec runs without --user.
    session.get(f"{podman.url}/hub/spawn/{instructor}/{course}", timeout=60)
    wait_until(lambda: (podman.api("GET", f"/users/{instructor}").json()["servers"].get(course) or {}).get("ready"),
               READY_TIMEOUT, 1, "the instructor's server", logs=lambda: podman.logs("hub", 60))
    server = podman.container_of(instructor, course).name
    touch(podman, instructor, course)
    course_gid = grader["Config"]["User"].split(":")[1]
    assert podman_inspect(server)["HostConfig"]["GroupAdd"] == [course_gid]
    assert course_gid in podman_exec(server, "grep ^Groups /proc/1/status").split()
    assert podman_exec(server, "touch /srv/nbgrader/course/written && stat -c %g /srv/nbgrader/course").split() == [course_gid]


def test_launch_to_ready_beside_docker(podman, stack):
    """The figure: the same launch on the Docker test stack and this one, interleaved so that
    load on the shared host falls on both alike. Printed, not judged beyond a sanity bound."""
    figures: dict[str, list[float]] = {"docker": [], "podman": []}
    for _ in range(2):
        for engine, target in (("docker", stack), ("podman", podman)):
            user, course, seconds = launch_to_ready(target)
            figures[engine].append(seconds)
            stop_server(target, user, course)
    print("\nfigure: student launch -> ready server (median of 2), "
          + ", ".join(f"{e} {statistics.median(v):.1f} s" for e, v in figures.items()))
    assert max(figures["podman"]) < READY_TIMEOUT


def test_idle_servers_are_culled_on_podman(podman, student):
    user, course, _ = student
    wait_until(lambda: podman.find_container(user, course) is None, CULL_TIMEOUT + 3 * CULL_INTERVAL + 30, 1,
               "the culler to stop the idle server and the hub to remove its container",
               logs=lambda: podman.logs("hub", 60))
    assert not podman.api("GET", f"/users/{user}").json()["servers"].get(course)
    assert any("idle-culler" in line and f"DELETE /hub/api/users/{user}/servers/{course}" in line
               for line in podman.logs("hub", 3000).splitlines()), "the culler did not stop it"


def test_backup_and_restore_on_podman(podman, tmp_path):
    user, course, _ = launch_to_ready(podman)
    podman_exec(podman.container_of(user, course).name, "echo kept > /home/jovyan/kept.txt",
                user=podman_inspect(podman.container_of(user, course).name)["Config"]["User"])
    stop_server(podman, user, course)
    env_dir = {"COURSEHUB_BACKUP_DIR": str(tmp_path)}
    backup = subprocess.run(["make", "-s", "backup", "ENGINE=podman"], cwd=ROOT, capture_output=True, text=True,
                            timeout=300, env={**stack_env(PODMAN_STACK, PODMAN_WORK, "podman"), **env_dir})
    assert backup.returncode == 0, backup.stdout + backup.stderr
    archive, = tmp_path.glob("coursehub-*.tar.gz")
    manifest = subprocess.run(["tar", "-xzOf", str(archive), "MANIFEST"], capture_output=True, text=True).stdout
    assert "engine=podman" in manifest and f"stack={PODMAN_STACK}" in manifest
    # A user and a file lost after the backup come back with the restore.
    assert podman.api("DELETE", f"/users/{user}").status_code == 204
    home = f"{data_mountpoint(podman)}/homes/{course}/{user}"
    os.remove(f"{home}/kept.txt")
    started = time.monotonic()
    restore = subprocess.run(["make", "-s", "restore", "ENGINE=podman", f"FILE={archive}", "FORCE=1"], cwd=ROOT,
                             capture_output=True, text=True, timeout=900,
                             env={**stack_env(PODMAN_STACK, PODMAN_WORK, "podman"), **env_dir})
    assert restore.returncode == 0, restore.stdout[-3000:] + restore.stderr[-3000:]
    print(f"\nrestore of the podman stack: {time.monotonic() - started:.1f} s")
    podman.env = read_env(PODMAN_WORK / "coursehub.env")
    assert podman.api("GET", f"/users/{user}").status_code == 200
    assert open(f"{data_mountpoint(podman)}/homes/{course}/{user}/kept.txt").read() == "kept\n"


def test_make_down_removes_servers_graders_and_the_stack(podman):
    user, course, _ = launch_to_ready(podman)
    before = subprocess.run(["podman", "ps", "-aq", "--filter", f"label=coursehub.stack={PODMAN_STACK}"],
                            capture_output=True, text=True).stdout.split()
    assert before, "no server or grader container to remove"
    down = run("make", "-s", "down", "ENGINE=podman", timeout=300)
    assert down.returncode == 0, down.stdout + down.stderr
    for label in (f"coursehub.stack={PODMAN_STACK}", f"com.docker.compose.project={PODMAN_STACK}"):
        left = subprocess.run(["podman", "ps", "-aq", "--filter", f"label={label}"],
                              capture_output=True, text=True).stdout.split()
        assert left == [], (label, left)
    # Data stays for the next make up.
    assert data_mountpoint(podman)
