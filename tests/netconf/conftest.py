"""Fixtures of the NETCONF tests: datastores, the protocol server, yang-push servers.

The fixtures live in support.datastores, support.servers and support.push; importing them
here makes them visible to the tests of this directory (no ``pytest_plugins`` needed).
"""

from support.datastores import bindings, manager, schema, two_nodes
from support.push import live, push_factory, push_server
from support.servers import nc_server, server_factory

__all__ = [
    "bindings",
    "live",
    "manager",
    "nc_server",
    "push_factory",
    "push_server",
    "schema",
    "server_factory",
    "two_nodes",
]
