# coursehub: `make up` runs the stack, `make test` proves it. `make` alone lists the targets.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
export COURSEHUB_IMAGE_TAG ?= $(shell cat VERSION)

# MODE=compose (default): docker-compose.yml on this host; MODE=swarm: docker-stack.yml on a swarm.
MODE ?= compose
UP_SCRIPT := $(if $(filter swarm,$(MODE)),scripts/swarm-up.sh,scripts/up.sh)
DOWN_SCRIPT := $(if $(filter swarm,$(MODE)),scripts/swarm-down.sh,scripts/down.sh)
ifeq ($(filter compose swarm,$(MODE)),)
$(error MODE must be compose or swarm, not '$(MODE)')
endif
# ENGINE=docker (default) or podman: the same images and compose file on rootful Podman, through
# its Docker-compatible API (scripts/podman-setup.sh installs and starts it; stack coursehub-podman,
# env/coursehub-podman.env). Swarm mode is Docker's.
ENGINE ?= docker
export COURSEHUB_ENGINE := $(ENGINE)
ifeq ($(filter docker podman,$(ENGINE)),)
$(error ENGINE must be docker or podman, not '$(ENGINE)')
endif
ifeq ($(MODE)-$(ENGINE),swarm-podman)
$(error MODE=swarm runs on a Docker swarm; Podman has no swarm mode)
endif

.DEFAULT_GOAL := help
.PHONY: help up down build secrets logs ps lti-config registration-url platforms grades grades-send roster-sync params status test test-unit \
        test-integration test-e2e bench load clean backup restore upgrade

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-17s %s\n", $$1, $$2}'

up: ## build what is missing, start proxy + postgres + hub, wait for health, print LMS values; MODE=swarm deploys to a swarm; ENGINE=podman runs on Podman
	@$(UP_SCRIPT)

down: ## stop the stack and remove its containers (user servers and graders too); data stays; MODE=swarm too
	@$(DOWN_SCRIPT)

build: ## (re)build every image (ENGINE=podman: with podman build)
	@PODMAN_IMAGES=build scripts/build-images.sh

secrets: ## write env/coursehub.env, settings.yaml and keys if missing (never overwrites)
	@scripts/secrets.sh

logs: ## follow the logs of proxy, hub and postgres (MODE=swarm too)
	@MODE=$(MODE) scripts/stackctl.sh logs

ps: ## show the stack's containers and their health (MODE=swarm: tasks and server services)
	@MODE=$(MODE) scripts/stackctl.sh ps

lti-config: ## print what to paste into the LMS (LTI 1.1 and 1.3)
	@MODE=$(MODE) scripts/stackctl.sh hub coursehub lti-config

registration-url: ## a fresh one-time LTI 1.3 dynamic registration URL to paste into the LMS
	@MODE=$(MODE) scripts/stackctl.sh hub coursehub registration-url --new

platforms: ## list the LTI 1.3 platforms; ACTION=enable|disable|remove NAME=<name> changes one
	@MODE=$(MODE) scripts/stackctl.sh hub coursehub platforms $(ACTION) $(NAME)

grades: ## COURSE=<id>: each assignment's grades and what the LMS has of them
	@MODE=$(MODE) scripts/stackctl.sh hub coursehub grades status $(COURSE)

grades-send: ## COURSE=<id> ASSIGNMENT=<name>: send the assignment's grades to the LMS
	@MODE=$(MODE) scripts/stackctl.sh hub coursehub grades send $(COURSE) $(ASSIGNMENT)

roster-sync: ## COURSE=<id>: read the course's roster from the LMS (LTI 1.3 NRPS) now
	@MODE=$(MODE) scripts/stackctl.sh hub coursehub roster sync $(COURSE)

params: ## print the LTI custom parameter reference
	@MODE=$(MODE) scripts/stackctl.sh hub coursehub params

status: ## courses, graders and running servers
	@MODE=$(MODE) scripts/stackctl.sh hub coursehub status

$(VENV)/.done: tests/requirements.txt images/hub/requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q -r tests/requirements.txt
	touch $@

test: $(VENV)/.done ## unit tests, then the docker compose integration and browser tests
	@scripts/test.sh

test-unit: $(VENV)/.done ## unit tests only (no Docker, seconds)
	$(PY) -m pytest tests/unit -q

test-integration: $(VENV)/.done ## integration tests against an isolated compose project
	$(PY) -m pytest tests/integration -v

test-e2e: $(VENV)/.done ## browser tests only (installs Debian's chromium when missing)
	@scripts/install-browser.sh
	$(PY) -m pytest tests/e2e -v

bench: $(VENV)/.done ## benchmarks, each figure beside its baseline measured in the same run
	$(PY) -m bench

load: $(VENV)/.done ## a class at once on a dedicated stack: 50 launches to ready servers, 100 logins
	$(PY) bench/load.py

backup: ## write backups/coursehub-<time>.tar.gz (database, homes, courses, exchange, settings); MODE=swarm too
	@MODE=$(MODE) scripts/backup.sh

restore: ## restore FILE=backups/coursehub-<time>.tar.gz onto this host (replaces the data); MODE=swarm too
	@MODE=$(MODE) scripts/restore.sh "$(FILE)"

upgrade: ## rebuild images and upgrade the hub database, keeping all data
	@scripts/upgrade.sh

clean: ## remove the stack AND its volumes (asks first)
	@scripts/clean.sh
