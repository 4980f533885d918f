"""Network files (RFC 7951 instance data of qnms-network): loading and validating them
once (``inventory``), the typed model the twin and path computation share (``model``),
and the human-readable inventory report (``report``)."""
