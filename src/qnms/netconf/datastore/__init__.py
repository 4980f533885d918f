"""The datastores behind the ``interfaces.Datastores`` seam: edit-config semantics,
ordering, checks against the schema and the bindings, locks and durable storage."""
