"""The NETCONF core, which knows nothing of quantum: the same code serves every agent's
device model and the orchestrator's northbound service model.

``protocol`` speaks RFC 6241/6242 (framing, sessions, the SSH server, base operations,
monitoring, confirmed commit, with-defaults) and sees datastores only through
``interfaces``; ``datastore`` implements them (running/candidate/startup, edit-config,
checks, locks, durable storage); ``push`` plugs RFC 5277/8639/8641 notifications and
YANG-Push subscriptions into a server.
"""
