"""Plans in, containers or swarm services out: course servers (DockerSpawner and SwarmSpawner
subclasses) and grader containers, with one set of container hardening options."""
