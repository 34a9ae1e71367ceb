"""dbcheck: a pooled connection whose server closed it is found without a round trip."""

import socket

import pytest
from sqlalchemy import exc

from coursehub.storage import dbcheck


class FakeConnection:
    """A DB-API connection as far as dbcheck looks at it: a socket to the 'server'."""

    def __init__(self, sock):
        self.sock = sock
        self.closed = 0

    def fileno(self):
        return self.sock.fileno()


@pytest.fixture
def pair():
    client, server = socket.socketpair()
    yield client, server
    client.close()
    server.close()


def test_an_idle_open_connection_is_alive(pair):
    client, _ = pair
    assert not dbcheck.connection_is_dead(FakeConnection(client))


def test_a_connection_the_server_closed_is_dead(pair):
    client, server = pair
    server.close()
    assert dbcheck.connection_is_dead(FakeConnection(client))


def test_a_server_message_on_an_idle_connection_counts_as_dead(pair):
    client, server = pair
    server.sendall(b"E terminating connection due to administrator command")
    assert dbcheck.connection_is_dead(FakeConnection(client))


def test_a_connection_closed_on_our_side_is_dead(pair):
    connection = FakeConnection(pair[0])
    connection.closed = 1
    assert dbcheck.connection_is_dead(connection)


def test_connections_without_a_socket_are_alive():
    class InProcess:  # sqlite3 connections have no fileno
        closed = 0

    assert not dbcheck.connection_is_dead(InProcess())


def test_checkout_of_a_dead_connection_asks_the_pool_for_another(pair):
    client, server = pair
    dbcheck._check_on_checkout(FakeConnection(client), None, None)
    server.close()
    with pytest.raises(exc.DisconnectionError):
        dbcheck._check_on_checkout(FakeConnection(client), None, None)


def test_replace_hub_ping_swaps_jupyterhubs_listener_for_the_checkout_check():
    from jupyterhub import orm

    engine = orm.new_session_factory("sqlite:///:memory:").kw["bind"]
    assert any(dbcheck._is_hub_ping(f) for f in engine.dispatch.engine_connect)
    assert dbcheck.replace_hub_ping(engine) == 1
    assert not any(dbcheck._is_hub_ping(f) for f in engine.dispatch.engine_connect)
    assert dbcheck._check_on_checkout in list(engine.pool.dispatch.checkout)
    assert dbcheck.replace_hub_ping(engine) == 0  # idempotent


def test_the_hub_keeps_its_own_ping_on_sqlite_and_without_an_engine():
    from types import SimpleNamespace

    from jupyterhub import orm

    factory = orm.new_session_factory("sqlite:///:memory:")
    log = SimpleNamespace(info=lambda *a: None)
    dbcheck.tune_hub_engine(SimpleNamespace(session_factory=factory), log)
    assert any(dbcheck._is_hub_ping(f) for f in factory.kw["bind"].dispatch.engine_connect)
    dbcheck.tune_hub_engine(SimpleNamespace(), log)  # no database yet: nothing to do
