"""Agents of the default network, running on a background loop, and clients for them.

The fixtures live in support.agents; importing them here makes them visible to the
tests of this directory.
"""

from support.agents import bg, network, start_agent

__all__ = ["bg", "network", "start_agent"]
