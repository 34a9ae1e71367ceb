"""coursehub's tables on a throwaway SQLite file (the same SQLAlchemy Core code runs on Postgres)."""

import asyncio
import threading

import pytest

from coursehub.storage.schema import UID_START, CourseRow, lti13_states, lti_nonces
from coursehub.storage.store import Store


@pytest.fixture
def store(tmp_path):
    s = Store(f"sqlite:///{tmp_path / 'hub.sqlite'}", state_max_age=600, prune_interval=0, prune_batch=2)
    yield s
    s.close()


def test_lti11_nonce_is_single_use(store):
    assert store.use_lti11_nonce_sync("key", "n1", 1_700_000_000, now=1_700_000_000)
    assert not store.use_lti11_nonce_sync("key", "n1", 1_700_000_000, now=1_700_000_001)
    # Same nonce under another key or timestamp is another launch.
    assert store.use_lti11_nonce_sync("other", "n1", 1_700_000_000, now=1_700_000_001)
    assert store.use_lti11_nonce_sync("key", "n1", 1_700_000_001, now=1_700_000_001)


def test_lti11_nonce_survives_a_new_store_on_the_same_database(tmp_path):
    url = f"sqlite:///{tmp_path / 'hub.sqlite'}"
    first = Store(url)
    assert first.use_lti11_nonce_sync("key", "n1", 1_700_000_000, now=1_700_000_000)
    first.close()
    restarted = Store(url)
    assert not restarted.use_lti11_nonce_sync("key", "n1", 1_700_000_000, now=1_700_000_005)
    restarted.close()


def test_overlong_nonce_is_refused_without_a_write(store):
    assert not store.use_lti11_nonce_sync("key", "x" * 500, 1_700_000_000)
    assert store.count_sync(lti_nonces) == 0


def test_pruning_is_lazy_and_bounded(store):
    for i in range(5):
        store.use_lti11_nonce_sync("key", f"n{i}", 1_000, now=1_000)
    assert store.count_sync(lti_nonces) == 5
    # Far in the future every row is expired; each write prunes at most prune_batch (2).
    store.use_lti11_nonce_sync("key", "late", 100_000, now=100_000)
    assert store.count_sync(lti_nonces) == 5 - 2 + 1


def test_unexpired_nonce_is_never_pruned(store):
    store.use_lti11_nonce_sync("key", "keep", 1_000, now=1_000)
    store.prune_sync(now=1_050)
    assert not store.use_lti11_nonce_sync("key", "keep", 1_000, now=1_060)


def test_lti13_state_is_claimed_exactly_once(store):
    store.create_lti13_state_sync("s1", "nonce1", "https://lms", "client", now=1_000)
    row = store.get_lti13_state_sync("s1")
    assert (row.nonce, row.issuer, row.client_id, row.used_at) == ("nonce1", "https://lms", "client", None)
    assert store.claim_lti13_state_sync("s1", "nonce1", "https://lms", ["client"], now=1_010)
    assert not store.claim_lti13_state_sync("s1", "nonce1", "https://lms", ["client"], now=1_011)
    assert store.get_lti13_state_sync("s1").used_at == 1_010


@pytest.mark.parametrize("nonce,issuer,clients", [
    ("other-nonce", "https://lms", ["client"]),
    ("nonce1", "https://other-lms", ["client"]),
    ("nonce1", "https://lms", ["other-client"]),
    ("nonce1", "https://lms", []),
])
def test_a_mismatched_claim_leaves_the_state_unused(store, nonce, issuer, clients):
    store.create_lti13_state_sync("s1", "nonce1", "https://lms", "client", now=1_000)
    assert not store.claim_lti13_state_sync("s1", nonce, issuer, clients, now=1_010)
    assert store.get_lti13_state_sync("s1").used_at is None
    assert store.claim_lti13_state_sync("s1", "nonce1", "https://lms", ["x", "client"], now=1_020)


def test_lti13_state_expires(store):
    store.create_lti13_state_sync("s1", "nonce1", "https://lms", "client", now=1_000)
    assert store.get_lti13_state_sync("s1").expired(600, now=1_601)
    assert not store.claim_lti13_state_sync("s1", "nonce1", "https://lms", ["client"], now=1_601)


def test_concurrent_state_claims_have_one_winner(store):
    store.create_lti13_state_sync("race", "n", "https://lms", "c")
    results = []
    barrier = threading.Barrier(8)

    def claim():
        barrier.wait()
        results.append(store.claim_lti13_state_sync("race", "n", "https://lms", ["c"]))

    threads = [threading.Thread(target=claim) for _ in range(8)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert sorted(results) == [False] * 7 + [True]


def test_allocate_uid_is_stable_and_starts_at_20000(store):
    first = store.allocate_uid_sync("alice")
    assert first == UID_START
    assert store.allocate_uid_sync("grader-cs101") == UID_START + 1
    assert store.allocate_uid_sync("alice") == first


def test_concurrent_allocate_uid_gives_unique_uids(store):
    names = [f"user{i}" for i in range(40)] * 2  # every name requested twice at once
    results: dict[str, set] = {}
    lock = threading.Lock()
    barrier = threading.Barrier(len(names))

    def allocate(name):
        barrier.wait()
        uid = store.allocate_uid_sync(name)
        with lock:
            results.setdefault(name, set()).add(uid)

    threads = [threading.Thread(target=allocate, args=(n,)) for n in names]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert all(len(uids) == 1 for uids in results.values())
    allocated = [next(iter(u)) for u in results.values()]
    assert len(set(allocated)) == 40 and min(allocated) >= UID_START


def test_async_api_runs_off_the_event_loop(store):
    async def main():
        loop_thread = threading.get_ident()
        seen = []
        original = store.allocate_uid_sync

        def spy(name):
            seen.append(threading.get_ident())
            return original(name)

        store.allocate_uid_sync = spy
        uid = await store.allocate_uid("bob")
        assert seen and seen[0] != loop_thread
        return uid

    assert asyncio.run(main()) == UID_START


def test_course_insert_race_is_reported(store):
    row = CourseRow("cs101", "moodle|42", "moodle", "42", "CS101", "Intro")
    assert store.add_course_sync(row)
    assert not store.add_course_sync(CourseRow("cs101-x", "moodle|42", "moodle", "42", "CS101", "Intro"))
    assert not store.add_course_sync(CourseRow("cs101", "moodle|43", "moodle", "43", "CS101", "Intro"))
    assert store.course_registry_sync() == {"cs101": "moodle|42"}
    assert store.course_for_context_sync("moodle|42").course_id == "cs101"


def test_a_write_on_the_event_loop_prunes_on_the_pool(store):
    store.use_lti11_nonce_sync("key", "old", 1_000, now=1_000)

    async def write_later():
        store._last_prune = 0
        assert await store.use_lti11_nonce("key", "new", int(__import__("time").time()))
        await asyncio.sleep(0)

    asyncio.run(write_later())
    store._executor.shutdown(wait=True)  # the background prune has finished
    assert store.count_sync(lti_nonces) == 1  # the expired nonce went, the new one stays


def test_grade_sends_of_every_kind_are_recorded_in_one_call(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'hub.sqlite'}")
    store.record_sends_sync([
        {"course_id": "c", "assignment": "ps1", "username": "a", "status": "sent", "version": "1.3",
         "target": "https://lms/li", "score_given": 2.0, "score_maximum": 3.0, "detail": "ok"},
        {"course_id": "c", "assignment": "ps1", "username": "b", "status": "impossible", "detail": "why"},
    ])
    assert {k[1]: v["status"] for k, v in store.last_sends_sync("c").items()} == {"a": "sent", "b": "impossible"}
    assert set(store.last_successes_sync("c", "ps1")) == {"a"}
    store.close()
