"""Notifications and subscriptions, plugged into a server: the RFC 5277 NETCONF stream
and RFC 6470 events, RFC 8639 subscribed notifications, RFC 8641 YANG-Push (periodic
and on-change, with RFC 8072 patches)."""
