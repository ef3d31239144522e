"""dtsctl's own Durable Task engine: what the local engine serves for each task hub.

It replaces the SDK's in-memory test backend, which differs from DTS in ways apps notice (see
../shared/reference/dts.md section 8) and cannot keep state. All state is in a `store.Store` (SQLite,
in memory or in a file); what workers hold at the moment is in memory (`dispatch`).
"""
