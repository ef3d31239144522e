"""Rules on segments and keys: segments without '=' or without a key, quoted keys and values, secret
keys, unknown or misspelled keys, repeated keys, and the required keys that are missing."""

from __future__ import annotations

import re

from dtsctl.connection import endpoint as ep
from dtsctl.connection.findings import Code, Findings
from dtsctl.connection.foreign_keys import OTHER_SDK_KEYS, SERVICE_BUS_KEYS, STORAGE_KEYS, is_secret_key
from dtsctl.connection.grammar import Segment, Tokens, canonical_key
from dtsctl.connection.rules.endpoint import endpoint_is_service_bus
from dtsctl.connection.rules.wording import AZ_ENDPOINT, AZURE_ENDPOINT_EXAMPLE, KEY_LIST, quote
from dtsctl.connection.suggest import normalise, suggest_key
from dtsctl.redact import excerpt

_KEY_SPACE_VALUE = re.compile(r"([A-Za-z]+)\s*[:\s]\s*(\S.*)", re.DOTALL)


def segment_findings(out: Findings, tokens: Tokens) -> None:
    """Per-segment findings: malformed segments, quotes, secret and unknown keys."""
    service_bus = endpoint_is_service_bus(tokens)
    reported: set[str] = set()
    for seg in tokens.segments:
        if seg.key is None:
            _segment_without_equals(out, seg, tokens)
            continue
        if seg.key == "":
            out.add(
                Code.EMPTY_KEY,
                f"Segment {seg.index} ({quote(seg.raw, 60)}) has a value but no key before '=', so no SDK can tell "
                "what it is for; the .NET SDK rejects the whole string.",
                "Put the key name before '=' (for example TaskHub=<name>), or remove the segment.",
            )
            continue
        if seg.key_quoted or seg.value_quoted:
            _quoted_segment(out, seg)
        if seg.canonical is not None:
            continue
        norm = normalise(seg.key)
        lowered = seg.key.lower()
        if lowered in reported:
            continue
        reported.add(lowered)
        if is_secret_key(seg.key):
            shown = quote(seg.key, 40)
            out.add(
                Code.SECRET_KEY,
                f"The key {shown} belongs to key, password or token authentication, but Durable Task Scheduler "
                "is identity-only (Microsoft Entra ID): the SDKs ignore it, and anyone who can read this string "
                "can read the secret it holds.",
                f"Remove {excerpt(seg.key, 40)}=... (and rotate the secret if the string was shared), then use "
                "Authentication=ManagedIdentity in Azure or Authentication=DefaultAzure on a developer machine.",
            )
        elif norm in STORAGE_KEYS or (norm in SERVICE_BUS_KEYS and service_bus):
            continue  # reported once by text.foreign_findings
        elif norm in OTHER_SDK_KEYS:
            name, sdks = OTHER_SDK_KEYS[norm]
            out.add(
                Code.UNKNOWN_KEY,
                f"The key {quote(seg.key, 40)} is read only by {sdks}; the Python SDK and dtsctl ignore it.",
                f"Remove {name}=... when the string is used from Python or dtsctl.",
                key=None,
            )
        else:
            _unknown_key(out, seg, tokens)


def _segment_without_equals(out: Findings, seg: Segment, tokens: Tokens) -> None:
    shown = quote(seg.raw, 60)
    fix = "Write it as <key>=<value>, or remove it."
    m = _KEY_SPACE_VALUE.fullmatch(seg.raw)
    if m and canonical_key(m.group(1)):
        fix = f"Write it as {canonical_key(m.group(1))}={excerpt(m.group(2).strip(), 60)}"
    elif "://" in seg.raw and "Endpoint" not in tokens.values:
        fix = f"Write it as Endpoint={excerpt(seg.raw, 60)}"
    out.add(
        Code.SEGMENT_WITHOUT_EQUALS,
        f"Segment {seg.index} ({shown}) has no '=', so it is neither a key nor a value; the .NET SDK "
        "rejects the whole string and the others ignore the segment.",
        fix,
    )


def _quoted_segment(out: Findings, seg: Segment) -> None:
    what = "key and value" if seg.key_quoted and seg.value_quoted else ("key" if seg.key_quoted else "value")
    key = seg.canonical
    name = seg.canonical or excerpt(seg.key or "", 40)
    secret = is_secret_key(seg.key or "")
    if secret or seg.canonical is None:
        fix = f"Remove the quotes around the {what} of {name}."
    else:
        fix = f"{name}={excerpt(seg.value, 100)}"
    out.add(
        Code.QUOTED,
        f"The {what} of {name} is wrapped in quotes. The .NET SDK removes them, but the Java and JS SDKs "
        "keep them as part of the text, so the same string behaves differently across apps; dtsctl "
        "removed them.",
        fix,
        key=key,
    )


def _unknown_key(out: Findings, seg: Segment, tokens: Tokens) -> None:
    assert seg.key is not None
    suggestion = suggest_key(seg.key)
    shown = quote(seg.key, 40)
    if suggestion:
        also = f" ({suggestion} is also set, and wins)" if suggestion in tokens.values else ""
        message = (
            f"The key {shown} is not a Durable Task Scheduler connection string key, so the SDKs ignore "
            f"it; did you mean {suggestion}?{also}"
        )
        fix = f"Rename it: {suggestion}={excerpt(seg.value, 80)}"
    else:
        message = (
            f"The key {shown} is not a Durable Task Scheduler connection string key, so the SDKs ignore it."
        )
        fix = f"Remove it; the keys are {KEY_LIST}."
    out.add(Code.UNKNOWN_KEY, message, fix, key=suggestion)


def duplicate_findings(out: Findings, tokens: Tokens) -> None:
    groups: dict[str, list[Segment]] = {}
    for seg in tokens.segments:
        if seg.key:
            groups.setdefault((seg.canonical or seg.key).lower(), []).append(seg)
    for segs in groups.values():
        if len(segs) < 2:
            continue
        first = segs[0]
        name = first.canonical or excerpt(first.key or "", 40)
        values = [s.value for s in segs]
        if first.canonical is not None and len(set(values)) > 1:
            ignored = ", ".join(quote(v, 60) for v in dict.fromkeys(values[:-1]) if v != values[-1])
            message = (
                f"The key {name} appears {len(segs)} times; the SDKs use the last value ({quote(values[-1], 60)}), "
                f"so {ignored} is ignored."
            )
            fix = f"Keep one {name}: {name}={excerpt(values[-1], 80)}"
        else:
            message = f"The key {name} appears {len(segs)} times; only the last one is used."
            fix = f"Keep one {name} segment."
        out.add(Code.DUPLICATE_KEY, message, fix, key=first.canonical)


def missing_findings(out: Findings, tokens: Tokens, facts: ep.EndpointFacts | None, *, endpoint: bool, auth: bool) -> None:
    renamed = {}
    for seg in tokens.segments:
        if seg.key and seg.canonical is None and not is_secret_key(seg.key):
            target = suggest_key(seg.key)
            if target and target not in renamed:
                renamed[target] = seg.key
    if endpoint:
        if "Endpoint" in renamed:
            fix = f"Rename {quote(renamed['Endpoint'], 40)} to Endpoint."
        else:
            fix = (
                f"Add Endpoint=http://localhost:8080 for the local emulator, or Endpoint={AZURE_ENDPOINT_EXAMPLE} "
                f"for Azure (from '{AZ_ENDPOINT}')."
            )
        out.add(
            Code.MISSING_ENDPOINT,
            "The connection string has no Endpoint (or it is empty); every SDK requires it to know which "
            "scheduler to call.",
            fix,
        )
    if auth:
        if "Authentication" in renamed:
            fix = f"Rename {quote(renamed['Authentication'], 40)} to Authentication."
        elif facts is not None and facts.is_local:
            fix = "Add Authentication=None (the local emulator needs no credential)."
        elif facts is not None and facts.is_azure:
            fix = (
                "Add Authentication=ManagedIdentity when the app runs in Azure, or Authentication=DefaultAzure "
                "on a developer machine (after 'az login')."
            )
        else:
            fix = (
                "Add Authentication=None for the local emulator; for Azure, Authentication=ManagedIdentity "
                "(in Azure) or Authentication=DefaultAzure (on a developer machine)."
            )
        out.add(
            Code.MISSING_AUTHENTICATION,
            "The connection string has no Authentication (or it is empty); the .NET, Java and JS SDKs all "
            "require it, with no default, because it decides which credential signs the requests.",
            fix,
        )
