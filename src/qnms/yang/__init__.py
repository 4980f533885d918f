"""YANG data with no protocol in it: the schema index, data trees, the RFC 7951 codec,
validation, subtree/XPath filters, the pyangbind walker and where the modules are.

Everything above (the NETCONF core, network files, the orchestrator) reads and checks
instance data through this package; it imports nothing of theirs.
"""
