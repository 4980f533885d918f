"""Interop tests: third-party NETCONF clients (yangcli) against qnms agents."""
