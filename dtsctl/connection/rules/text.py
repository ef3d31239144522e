"""Rules on the text as a whole: empty, not key=value pairs at all, a shell assignment or quotes around
it, and the connection strings of other Azure services (Storage, Service Bus) pasted instead."""

from __future__ import annotations

from dtsctl.connection import endpoint as ep
from dtsctl.connection.findings import Code, Findings
from dtsctl.connection.foreign_keys import STORAGE_KEYS
from dtsctl.connection.grammar import Tokens
from dtsctl.connection.model import EMULATOR_CONNECTION_STRING
from dtsctl.connection.rules.endpoint import endpoint_is_service_bus, local_origin
from dtsctl.connection.rules.wording import AZURE_ENDPOINT_EXAMPLE, foreign_string_fix, quote
from dtsctl.connection.suggest import normalise
from dtsctl.redact import excerpt


def wrapping_findings(out: Findings, tokens: Tokens) -> None:
    if tokens.env_name:
        out.add(
            Code.ENV_ASSIGNMENT,
            f"The text starts with '{excerpt(tokens.env_name, 60)}=', a shell or .env assignment; "
            "only what follows it is the connection string, so dtsctl reads it without that prefix.",
            f"Pass only the value, without '{excerpt(tokens.env_name, 60)}='.",
        )
    if tokens.whole_quoted:
        out.add(
            Code.QUOTED,
            "The whole connection string is wrapped in quotes; an SDK would read them as part of the "
            "first key and the last value. dtsctl removed them.",
            "Remove the surrounding quotes (they come from .env or shell syntax).",
            key=None,
        )


def _suggest_from_text(text: str) -> str:
    """A corrected connection string for text that is a URL or host pasted without keys."""
    if not text or any(c.isspace() for c in text) or ";" in text:
        return EMULATOR_CONNECTION_STRING
    facts = ep.analyse(text)
    if facts.host is None or facts.invalid is not None or not ("." in facts.host or facts.is_local or ":" in text):
        return EMULATOR_CONNECTION_STRING
    if facts.is_dashboard:
        endpoint, hub = facts.dashboard_target()
        return f"Endpoint={endpoint or AZURE_ENDPOINT_EXAMPLE};Authentication=DefaultAzure;TaskHub={hub or '<task hub>'}"
    hub = excerpt(facts.taskhub_in_path, 64) if facts.taskhub_in_path else None
    if facts.is_local:
        return f"Endpoint={local_origin(facts)};Authentication=None;TaskHub={hub or 'default'}"
    return f"Endpoint={facts.origin(scheme='https')};Authentication=DefaultAzure;TaskHub={hub or '<task hub>'}"


def unparseable_findings(out: Findings, tokens: Tokens) -> None:
    if tokens.unparseable == "empty":
        out.add(
            Code.EMPTY,
            "The connection string is empty; it must name at least an Endpoint and an Authentication.",
            f"Use for example {EMULATOR_CONNECTION_STRING} for the local emulator.",
        )
        return
    text = tokens.text
    suggestion = _suggest_from_text(text)
    if "://" in text and ";" not in text:
        message = (
            f"The text {quote(text)} is a URL, not a connection string; a connection string is key=value "
            "pairs separated by ';', such as Endpoint=...;Authentication=...;TaskHub=...."
        )
    else:
        message = (
            f"The text {quote(text)} is not a connection string: none of its parts is a key=value pair, "
            "so no SDK can read an endpoint or a credential from it."
        )
    out.add(Code.NOT_A_CONNECTION_STRING, message, f"Write it as {suggestion}")


def foreign_findings(out: Findings, tokens: Tokens) -> bool:
    """Azure Storage / Service Bus connection strings pasted instead; True when one was found.

    These replace the generic unknown-key warnings for those services' keys, and the missing-key
    errors a DTS string would get: the one useful message is "wrong kind of string".
    """
    storage_keys = list(
        dict.fromkeys(s.key for s in tokens.segments if s.key and s.canonical is None and normalise(s.key) in STORAGE_KEYS)
    )
    if storage_keys:
        keys = ", ".join(excerpt(k, 40) for k in storage_keys)
        out.add(
            Code.STORAGE_CONNECTION_STRING,
            f"This is an Azure Storage connection string (it has {keys}), not a Durable Task Scheduler one. "
            "The Azure Storage backend is a different Durable Task provider; a scheduler connection string "
            "has the form Endpoint=...;Authentication=...;TaskHub=....",
            foreign_string_fix(),
        )
    service_bus = endpoint_is_service_bus(tokens)
    if service_bus:
        out.add(
            Code.SERVICE_BUS_CONNECTION_STRING,
            "This is an Azure Service Bus or Event Hubs connection string (its Endpoint is sb://...), not a "
            "Durable Task Scheduler one; the scheduler is a different service, reached over https:// with "
            "a Microsoft Entra ID identity.",
            foreign_string_fix(),
        )
    return bool(storage_keys) or service_bus
