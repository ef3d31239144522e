"""Keys that are not Durable Task Scheduler keys but mean something: secrets, the keys of Azure Storage
and Service Bus connection strings, and keys only another DTS SDK reads."""

from __future__ import annotations

from dtsctl.connection.grammar import canonical_key
from dtsctl.connection.suggest import normalise

# Keys (normalised: lower case, no spaces/underscores/hyphens) whose value is a secret.
SECRET_KEYS = frozenset(
    {
        "key", "pwd", "sig", "sas", "token", "secret", "password", "passwd", "signature",
        "apikey", "accountkey", "accesskey", "sharedaccesskey", "sharedaccesskeyname",
        "sharedaccesssignature", "clientsecret", "accesstoken", "sastoken", "bearertoken",
        "idtoken", "refreshtoken", "primarykey", "secondarykey", "masterkey", "authkey",
        "authorization", "bearer", "privatekey", "certificatepassword", "clientassertion",
    }
)  # fmt: skip
SECRET_SUFFIXES = ("secret", "password", "passwd", "accountkey", "accesskey", "apikey", "token", "signature", "privatekey")
# Keys of an Azure Storage connection string (normalised).
STORAGE_KEYS = frozenset(
    {
        "defaultendpointsprotocol", "accountname", "usedevelopmentstorage", "endpointsuffix",
        "blobendpoint", "queueendpoint", "tableendpoint", "fileendpoint", "developmentstorageproxyuri",
    }
)  # fmt: skip
SERVICE_BUS_KEYS = frozenset({"entitypath"})
# Keys another SDK reads but the Python SDK and dtsctl do not.
OTHER_SDK_KEYS = {
    "resourceid": ("ResourceId", "the .NET and JS SDKs (it changes the token audience)"),
    "authorityhost": ("AuthorityHost", "the .NET and Java SDKs (it selects a sovereign cloud's sign-in authority)"),
}


def is_secret_key(name: str) -> bool:
    norm = normalise(name)
    if not norm or canonical_key(name) is not None:
        return False
    return norm in SECRET_KEYS or norm.endswith(SECRET_SUFFIXES) or "secret" in norm or "password" in norm
