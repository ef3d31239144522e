"""Which values of a connection string are secrets, so that no printer of dtsctl ever shows them."""

from __future__ import annotations

import re

from dtsctl.connection import endpoint as ep
from dtsctl.connection.foreign_keys import OTHER_SDK_KEYS, SERVICE_BUS_KEYS, STORAGE_KEYS, is_secret_key
from dtsctl.connection.grammar import Tokens
from dtsctl.connection.model import GUID, TASK_HUB_NAME, TENANT_DOMAIN, split_tenants
from dtsctl.connection.suggest import canonical_auth, no_python_credential, normalise, suggest_auth, suggest_key
from dtsctl.redact import looks_secret

_PATH_LIKE = re.compile(r"(?:[/~.]|[A-Za-z]:[\\/]|\\\\)\S*")


def _public_for_key(target: str | None, value: str) -> bool:
    """Whether `value`, written under a key the SDKs do not read, has the shape of what `target` (the
    key it most likely means) holds: then it is a mistyped key, not a credential under a new name."""
    if looks_secret(value):
        return False
    if target == "Authentication":
        return bool(canonical_auth(value) or suggest_auth(value) or no_python_credential(value))
    if target == "Endpoint":
        return ep.analyse(value).invalid in (None, "port", "scheme")
    if target == "TaskHub":
        return bool(TASK_HUB_NAME.fullmatch(value))
    if target in ("ClientID", "TenantId"):
        return bool(GUID.fullmatch(value) or TENANT_DOMAIN.fullmatch(value))
    if target == "TokenFilePath":
        return bool(_PATH_LIKE.fullmatch(value))
    if target == "AdditionallyAllowedTenants":
        return all(t == "*" or GUID.fullmatch(t) for t in split_tenants(value))
    return False


def endpoint_secrets(value: str) -> list[str]:
    """The user info of an endpoint URL (`http://user:password@host`), its secret query values, or
    the whole value when it is a key or token pasted as the endpoint."""
    from urllib.parse import parse_qsl

    if "://" not in value and looks_secret(value) and "@" not in value:
        return [value]
    rest = value.split("://", 1)[1] if "://" in value else value
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    found: list[str] = []
    if "@" in authority:
        userinfo = authority.rsplit("@", 1)[0]
        user, colon, password = userinfo.partition(":")
        if colon:
            found += [userinfo, password]
        elif looks_secret(user) or len(user) >= 20:
            found.append(user)  # a token used as the user name (https://<token>@host)
    query = value.split("?", 1)[1] if "?" in value else ""
    for name, item in parse_qsl(query.split("#", 1)[0], keep_blank_values=False):
        if is_secret_key(name) or looks_secret(item):
            found.append(item)
    return found


def _public_words(tokens: Tokens) -> set[str]:
    """Lower-case words the string shows anyway: its host and the host's parts, a valid task hub,
    the Authentication value."""
    words: set[str] = set()
    facts = ep.analyse(tokens.values["Endpoint"]) if tokens.values.get("Endpoint") else None
    if facts is not None and facts.host and facts.invalid in (None, "port"):
        words.add(facts.host)
        words.update(re.split(r"[.\-]", facts.host))
    hub = tokens.values.get("TaskHub")
    if hub and TASK_HUB_NAME.fullmatch(hub):
        words.add(hub.lower())
    if tokens.values.get("Authentication"):
        words.add(tokens.values["Authentication"].lower())
    return words


def secret_values(tokens: Tokens, *, task_hub: str | None = None) -> tuple[str, ...]:
    """The values of the string (and a task hub given beside it) that dtsctl treats as secrets.

    - every value under a key that names a secret (Password, AccountKey, ClientSecret, ...);
    - every value under a key the SDKs do not read (Credential=, Pass=, Auth=...), unless it has the
      shape of what that key most likely means (Auth=ManagedIdentity, Hub=orders) or the string shows
      it anyway (Region=westus2 beside a westus2 endpoint);
    - the password (user info) in the endpoint, and a key or token pasted as the endpoint;
    - a value of the keys the SDKs read that looks like a credential: a client secret in ClientID or
      TenantId, a token as the task hub (a valid task hub name is always public), ...;
    - a segment without '=' that looks like a credential.
    """
    found: list[str] = []
    public = _public_words(tokens)
    for seg in tokens.segments:
        if seg.key is None:
            if looks_secret(seg.raw):
                found.append(seg.raw)
            continue
        if looks_secret(seg.key):
            found.append(seg.key)
        value = seg.value
        if not value:
            continue
        if seg.canonical is None:
            norm = normalise(seg.key)
            target = suggest_key(seg.key)
            public_key = norm in STORAGE_KEYS or norm in SERVICE_BUS_KEYS or norm in OTHER_SDK_KEYS
            if is_secret_key(seg.key):
                found.append(value)
            elif not ((public_key and not looks_secret(value)) or _public_for_key(target, value)):
                # Region=westus2 beside a westus2 endpoint says nothing new: not masked everywhere.
                if value.lower() not in public:
                    found.append(value)
            if target == "Endpoint":
                found += endpoint_secrets(value)  # Url=http://user:password@host
        elif seg.canonical == "Endpoint":
            found += endpoint_secrets(value)
        elif seg.canonical == "TaskHub":
            if not TASK_HUB_NAME.fullmatch(value) and looks_secret(value):
                found.append(value)
        elif seg.canonical == "AdditionallyAllowedTenants":
            found += [t for t in (value, *split_tenants(value)) if looks_secret(t)]
        elif looks_secret(value):
            found.append(value)
    if task_hub and not TASK_HUB_NAME.fullmatch(task_hub) and looks_secret(task_hub):
        found.append(task_hub)
    return tuple(dict.fromkeys(v.strip() for v in found if v.strip()))
