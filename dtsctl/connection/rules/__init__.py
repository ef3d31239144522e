"""Validation rules: each module holds the rules on one part of a connection string, and every finding
names its code from the registry (`dtsctl.connection.findings`), which gives its severity and key.

- `text`: the text as a whole; `keys`: segments and key names; `endpoint`, `authentication`,
  `task_hub`, `identity`: the values of those keys; `wording`: quoting and the commands fixes name.

`parse` is the grammar alone; `validate` runs every rule and never raises. Values typed by the user
are only echoed through `redact.excerpt`, and values under secret-like keys are never echoed.

`validate` also decides which values of the string are secrets (`secret_values`) and registers them
with `dtsctl.redact` before any message is written, so that no printer of dtsctl shows them again:
not a finding, not a JSON field, not a task hub echoed in a connection error.
"""

from __future__ import annotations

from collections.abc import Mapping

from dtsctl.connection import endpoint as ep
from dtsctl.connection.findings import Findings
from dtsctl.connection.grammar import tokenize
from dtsctl.connection.model import (
    CANONICAL_KEYS,
    ConnectionFields,
    ConnectionStringError,
    Validation,
    make_validation,
    split_tenants,
)
from dtsctl.connection.rules.authentication import auth_findings, cross_findings
from dtsctl.connection.rules.endpoint import endpoint_findings
from dtsctl.connection.rules.identity import identity_findings
from dtsctl.connection.rules.keys import duplicate_findings, missing_findings, segment_findings
from dtsctl.connection.rules.task_hub import task_hub_findings
from dtsctl.connection.rules.text import foreign_findings, unparseable_findings, wrapping_findings
from dtsctl.connection.secret_values import endpoint_secrets, secret_values
from dtsctl.redact import looks_secret, register_secret


def parse(text: str) -> dict[str, str]:
    """The grammar alone: canonical key -> value (last one wins) for the keys the SDKs read.

    Raises ConnectionStringError when the text cannot be read at all (blank, or no key=value pair).
    """
    tokens = tokenize(text)
    if not tokens.parseable:
        out = Findings()
        unparseable_findings(out, tokens)
        raise ConnectionStringError.from_findings(out.items)
    return {k: tokens.values[k] for k in CANONICAL_KEYS if k in tokens.values}


def validate(
    text: str,
    *,
    task_hub: str | None = None,
    task_hub_source: str | None = None,
    env: Mapping[str, str] | None = None,
) -> Validation:
    """Every rule, on `text`. Never raises for any str."""
    env = env if env is not None else {}
    out = Findings()
    tokens = tokenize(text)
    arg_hub = task_hub.strip() if task_hub and task_hub.strip() else None
    # Registered first, so that no message below can echo them; those too short to register are
    # still never echoed (excerpt masks what looks secret, secret keys' values are never shown).
    if tokens.parseable:
        found = secret_values(tokens, task_hub=arg_hub)
    else:  # a bare URL or token pasted alone
        found = ((tokens.text,) if looks_secret(tokens.text) else ()) + tuple(endpoint_secrets(tokens.text))
    secrets = tuple(value for value in found if register_secret(value))
    wrapping_findings(out, tokens)
    if not tokens.parseable:
        unparseable_findings(out, tokens)
        return make_validation(out.items, None, secrets)

    foreign = foreign_findings(out, tokens)
    segment_findings(out, tokens)
    duplicate_findings(out, tokens)
    values = tokens.values

    endpoint_raw = values.get("Endpoint") or None
    facts = ep.analyse(endpoint_raw) if endpoint_raw else None
    usable = endpoint_findings(out, facts) if facts is not None else False

    auth_raw = values.get("Authentication") or None
    auth = auth_findings(out, auth_raw) if auth_raw else None
    missing_findings(out, tokens, facts, endpoint=facts is None and not foreign, auth=auth_raw is None and not foreign)
    cross_findings(out, auth, facts)

    string_hub = values.get("TaskHub") or None
    hub_in_url = facts.taskhub_in_path if facts is not None else None
    if facts is not None and facts.is_dashboard:
        hub_in_url = facts.dashboard_target()[1]
    effective_hub = task_hub_findings(out, string_hub, arg_hub, task_hub_source, hub_in_url, report_missing=not foreign)
    identity_findings(out, values, auth, env)

    shape = facts.azure_shape if facts is not None and not facts.invalid else None
    host_known = facts is not None and facts.host is not None and facts.invalid in (None, "port")
    fields = ConnectionFields(
        endpoint=facts.origin() if facts is not None and usable else None,
        host=facts.host if host_known and facts is not None else None,
        port=facts.resolved_port if facts is not None and facts.invalid is None else None,
        tls=facts.tls if facts is not None and facts.invalid is None and facts.scheme_ok and not foreign else None,
        authentication=auth,
        task_hub=effective_hub,
        client_id=values.get("ClientID") or None,
        tenant_id=values.get("TenantId") or None,
        token_file_path=values.get("TokenFilePath") or None,
        additionally_allowed_tenants=split_tenants(values.get("AdditionallyAllowedTenants") or ""),
        scheduler=shape[0] if shape else None,
        region=shape[1] if shape else None,
    )
    return make_validation(out.items, fields, secrets)
