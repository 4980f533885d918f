"""KMEs on the SS agents: ETSI GS QKD 014 key delivery, link keys from the twin, relay.

Seed section 4 (the QKD experience) as code: each SS agent is a KME (Key Management
Entity) that

* makes link key from the entangled pairs the twin delivers (qnms.service.qkd: BBM92),
  shared with its neighbour KME (pool.py);
* relays keys hop by hop through trusted nodes along the ``key-forwarding`` routes of
  its NETCONF configuration (kme.py, seed 4.2);
* delivers keys to applications (SAEs) over ETSI GS QKD 014 REST with mutual TLS
  (api.py, tls.py, openapi.py), limited by each application session's token bucket;
* runs on the agent's asyncio loop (server.py; attach.py wires it to an SS agent).
"""
