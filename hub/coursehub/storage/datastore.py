"""The data volume as the hub sees it: creates folders with their owner and mode before a
container mounts them, and translates them into host paths for Docker bind mounts."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import PurePosixPath

# nbgrader's exchange modes for one course (UPSTREAM 4), with the course group standing in
# for nbgrader's `groupshared`: the grader and the course's instructors (course group) can
# release and collect; students (others) can write into inbound without listing it, read
# outbound, and reach feedback only through its hashed path.
EXCHANGE_MODES = {
    "": 0o2755,
    "inbound": 0o2773,
    "outbound": 0o2775,
    "feedback": 0o2771,
}
# The course directory (source, release, submitted, autograded, feedback, gradebook config):
# grader and instructors only; students are "others" and get nothing.
COURSE_DIR_MODE = 0o2770


def safe_relative(path: str) -> PurePosixPath:
    """A path relative to the data root, refusing anything that could escape it."""
    rel = PurePosixPath(path)
    if rel.is_absolute() or ".." in rel.parts or not rel.parts:
        raise ValueError(f"refusing data path {path!r}: must be relative and stay inside")
    return rel


@dataclass(frozen=True)
class DataStore:
    """Folders under `root` (the data volume inside the hub) that Docker binds from `host_root`
    (the same volume's mount point on the Docker host)."""

    root: str
    host_root: str

    def local(self, rel: str) -> str:
        return os.path.join(self.root, str(safe_relative(rel)))

    def host(self, rel: str) -> str:
        return os.path.join(self.host_root, str(safe_relative(rel)))

    def ensure_dir(self, rel: str, uid: int, gid: int, mode: int) -> str:
        """Creates (or repairs) one folder; parents are created root-owned and traversable."""
        path = self.local(rel)
        os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
        try:
            os.mkdir(path)
        except FileExistsError:
            pass
        os.chown(path, uid, gid)
        # chmod after chown: chown clears the setgid bit on some kernels.
        os.chmod(path, mode)
        return path

    def ensure_course(self, course: str, grader_uid: int, course_gid: int) -> None:
        """The course's exchange and course directory, owned by its grader and course group."""
        for sub, mode in EXCHANGE_MODES.items():
            rel = f"exchange/{course}/{sub}" if sub else f"exchange/{course}"
            self.ensure_dir(rel, grader_uid, course_gid, mode)
        self.ensure_dir(f"courses/{course}", grader_uid, course_gid, COURSE_DIR_MODE)
