"""RFC 6241/6242 on SSH: framing, one session per client, the server, the base
operations and what a client discovers (hello, monitoring, yang-library)."""
