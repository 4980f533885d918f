"""The seed's service-unit vocabulary, with no I/O: RFC 8141 URNs and the N+1 URN
identifiers of service units (seed 5.3.1-5.3.2)."""
