"""The parent orchestrator (ACTN's MDSC role, RFC 8453) above per-domain orchestrators.

It serves the same ``qnms-service`` northbound as a single orchestrator. An
inter-domain unit is provisioned by reading each domain orchestrator's abstract view
over NETCONF (qnms-domain-abstract: border nodes and segment estimates), choosing the
border crossing, asking each domain for its segment with one edit-config on its
northbound, and following the segments' state. It never reaches an agent: domains own
their agents, QUIs stay domain-scoped, and the parent keeps only the unit's identifier
and each domain's QUI id.
"""
