"""Test support for the qnms suite: servers, agents, datastores, processes and polling.

``tests/`` is on ``sys.path`` (``pythonpath`` in pyproject's pytest options), so test
modules import helpers as ``from support.servers import connect``; the fixtures of these
modules are registered by the conftest.py of the directories that use them.

    support.polling     wait_until / poll (and async twins): waits with a deadline
    support.datastores  example YANG modules, their bindings, XML builders
    support.servers     the NETCONF server in a thread, ncclient and raw clients
    support.push        yang-push servers with live state, subscription helpers
    support.agents      agents of the default network on a background loop
    support.processes   an agent for third-party clients, in a thread or a process
    support.planner     the planner's Topology of a network model, without agents
"""
