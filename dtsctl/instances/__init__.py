"""Orchestration instances: records, payload and time parsing, the service over the SDK client,
and the bounded-concurrency runner for bulk actions. Nothing here prints; `dtsctl.cli.instance`
renders what these modules return."""
