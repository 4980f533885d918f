"""Quantum Network Digital Twin (QNDT) engine on top of SeQUeNCe.

The engine (``engine.Engine``) emulates the quantum behaviour of the nodes described by
the qnms-network instance data; ``bus.Service`` serves it over ZeroMQ; ``cli.main`` is
``qnms qndt``. SeQUeNCe keeps process-global state: run one engine per process.
"""
