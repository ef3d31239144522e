"""Entra-ID-shaped JWTs and the App Service managed identity endpoint that hands them out.

``TokenIssuer`` signs RS256 JWTs with the kit's key (header ``kid``/``x5t``) carrying the claims of a
managed identity access token (v1 token: ``appid``, not ``azp``) and verifies them for the servers.

``TokenServer`` speaks the App Service protocol azure-identity uses when ``IDENTITY_ENDPOINT`` and
``IDENTITY_HEADER`` are set (through msal's ``_obtain_token_on_app_service``)::

    GET /msi/token?api-version=2019-08-01&resource=https://durabletask.io[&client_id=...]
    X-IDENTITY-HEADER: <IDENTITY_HEADER>
    -> 200 {"access_token", "expires_on": "<unix seconds>", "resource", "token_type": "Bearer", "client_id"}
    -> 400 {"statusCode": 400, "message": "...", "correlationId": "..."}   (unknown identity, bad request)

``object_id``/``principal_id`` and ``mi_res_id`` select a user-assigned identity too. Every request is
recorded in ``TokenServer.requests`` (what was asked, which identity answered, the status).
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from .model import AzureModel, Identity
from .recording import RecordingServer

TOKEN_LIFETIME = 86399  # managed identity tokens live about a day
BACKDATE = 300  # Entra ID backdates iat/nbf by five minutes


class TokenInvalid(Exception):
    """A bearer token the servers refuse; ``reason`` is one of: missing, malformed, signature, expired,
    not_yet_valid, audience, tenant."""

    def __init__(self, reason: str, message: str, claims: dict[str, Any] | None = None):
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.claims = claims or {}


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenIssuer:
    """Signs and verifies the kit's tokens."""

    def __init__(self) -> None:
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.private_pem = self._key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                   serialization.NoEncryption())
        self.public_key = self._key.public_key()
        der = self.public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        self.kid = _b64url(hashlib.sha1(der).digest())  # noqa: S324 - a key id, as Entra's x5t

    def jwks(self) -> dict[str, Any]:
        numbers = self.public_key.public_numbers()
        n = numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")
        e = numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")
        return {"keys": [{"kty": "RSA", "use": "sig", "kid": self.kid, "x5t": self.kid, "n": _b64url(n), "e": _b64url(e)}]}

    def claims_for(self, identity: Identity, resource: str, *, tenant_id: str, now: float | None = None,
                   lifetime: int = TOKEN_LIFETIME, expired: bool = False, audience: str | None = None) -> dict[str, Any]:
        now = int(time.time() if now is None else now)
        iat = now - BACKDATE
        exp = iat + lifetime
        if expired:
            iat, exp = now - 7200 - BACKDATE, now - 3600
        tid = identity.tenant_id or tenant_id
        return {
            "aud": audience or resource,
            "iss": f"https://sts.windows.net/{tid}/",
            "iat": iat,
            "nbf": iat,
            "exp": exp,
            "aio": _b64url(uuid.uuid4().bytes + uuid.uuid4().bytes)[:40],
            "appid": identity.client_id,
            "appidacr": "2",
            "idp": f"https://sts.windows.net/{tid}/",
            "idtyp": "app",
            "oid": identity.principal_id,
            "rh": "0.A" + _b64url(uuid.uuid4().bytes) + ".",
            "sub": identity.principal_id,
            "tid": tid,
            "uti": _b64url(uuid.uuid4().bytes)[:22],
            "ver": "1.0",
            "xms_mirid": identity.resource_id,
            "xms_tcdt": 1600000000,
        }

    def mint(self, claims: dict[str, Any], *, foreign_key: bool = False) -> str:
        """A signed JWT; ``foreign_key``: signed by another key under the same kid (bad signature)."""
        key = self._key
        if foreign_key:
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return jwt.encode(claims, key, algorithm="RS256", headers={"typ": "JWT", "kid": self.kid, "x5t": self.kid})

    def verify(self, token: str | None, *, audiences: tuple[str, ...], tenant_id: str,
               now: float | None = None) -> dict[str, Any]:
        """The claims of a valid token, or :class:`TokenInvalid` with the first problem found
        (signature, then expiry, then audience, then tenant)."""
        if not token:
            raise TokenInvalid("missing", "no bearer token")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise TokenInvalid("malformed", f"not a JWT ({exc})") from None
        if header.get("alg") != "RS256":
            raise TokenInvalid("malformed", f"unsupported signing algorithm '{header.get('alg')}'")
        try:
            claims = jwt.decode(token, self.public_key, algorithms=["RS256"],
                                options={"verify_aud": False, "verify_exp": False, "verify_nbf": False,
                                         "verify_iat": False, "verify_iss": False})
        except jwt.InvalidSignatureError:
            raise TokenInvalid("signature", "the signature does not verify") from None
        except jwt.PyJWTError as exc:
            raise TokenInvalid("malformed", str(exc)) from None
        now = time.time() if now is None else now
        exp = claims.get("exp")
        if not isinstance(exp, (int, float)) or exp <= now:
            raise TokenInvalid("expired", "expired", claims)
        nbf = claims.get("nbf")
        if isinstance(nbf, (int, float)) and nbf > now + BACKDATE:
            raise TokenInvalid("not_yet_valid", "not yet valid", claims)
        if claims.get("aud") not in audiences:
            raise TokenInvalid("audience", "wrong audience", claims)
        if claims.get("tid") != tenant_id:
            raise TokenInvalid("tenant", "wrong tenant", claims)
        return claims


def bearer(value: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` value (scheme case-insensitive)."""
    if not value:
        return None
    parts = value.strip().split(None, 1)
    if len(parts) != 2 or parts[0].lower() != "bearer":
        return None
    return parts[1].strip() or None


# ---- the App Service managed identity endpoint ------------------------------------------------

@dataclass
class TokenRequest:
    at: float
    path: str
    params: dict[str, str]
    identity_header: str | None
    resource: str | None
    client_id: str | None
    object_id: str | None
    mi_res_id: str | None
    status: int = 0
    identity: str | None = None  # the identity's name, when one answered
    principal_id: str | None = None
    audience: str | None = None  # the aud of the issued token
    expired: bool = False
    headers: dict[str, str] = field(default_factory=dict)


class TokenServer(RecordingServer[TokenRequest]):
    """HTTP on 127.0.0.1 (App Service's IDENTITY_ENDPOINT is plain http on loopback too)."""

    PATH = "/msi/token"
    API_VERSION = "2019-08-01"

    def __init__(self, get_model, issuer: TokenIssuer):
        super().__init__()
        self._get_model = get_model
        self.issuer = issuer
        handler = type("TokenHandler", (_TokenHandler,), {"kit_server": self})
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        httpd.daemon_threads = True
        httpd.block_on_close = False
        self._serve(httpd, "azureloop-token")
        self.url = f"http://127.0.0.1:{self.port}{self.PATH}"

    # -- the protocol ----------------------------------------------------------------------------
    def answer(self, path: str, params: dict[str, str], headers: dict[str, str]) -> tuple[int, dict[str, Any], TokenRequest]:
        model: AzureModel = self._get_model()
        rec = TokenRequest(
            at=time.time(), path=path, params=params, identity_header=headers.get("x-identity-header"),
            resource=params.get("resource"), client_id=params.get("client_id"),
            object_id=params.get("object_id") or params.get("principal_id"), mi_res_id=params.get("mi_res_id"),
            headers={k: v for k, v in headers.items() if k in ("x-identity-header", "metadata", "user-agent")})

        def error(status: int, message: str) -> tuple[int, dict[str, Any], TokenRequest]:
            rec.status = status
            return status, {"statusCode": status, "message": message, "correlationId": str(uuid.uuid4())}, rec

        if path != self.PATH:
            return error(404, f"No managed identity endpoint at '{path}'; use {self.PATH}.")
        if not rec.identity_header or rec.identity_header != model.identity_header:
            return error(400, "The X-IDENTITY-HEADER header is missing or does not match IDENTITY_HEADER.")
        if params.get("api-version") != self.API_VERSION:
            return error(400, f"Unsupported api-version '{params.get('api-version')}'; use {self.API_VERSION}.")
        if not rec.resource:
            return error(400, "The 'resource' query parameter is required.")
        identity = model.find_identity(client_id=rec.client_id, principal_id=rec.object_id, resource_id=rec.mi_res_id)
        if identity is None:
            return error(400, "Unable to load the proper Managed Identity.")
        rec.identity, rec.principal_id = identity.name, identity.principal_id
        fault = model.token_fault_for(rec.resource)
        if fault and fault.status:
            return error(fault.status, fault.message)
        claims = self.issuer.claims_for(identity, rec.resource, tenant_id=model.tenant_id,
                                        expired=bool(fault and fault.expired),
                                        audience=fault.audience if fault else None)
        if fault and fault.tenant_id:
            claims["tid"] = fault.tenant_id
            claims["iss"] = claims["idp"] = f"https://sts.windows.net/{fault.tenant_id}/"
        token = self.issuer.mint(claims)
        rec.status, rec.audience, rec.expired = 200, claims["aud"], bool(fault and fault.expired)
        return 200, {"access_token": token, "expires_on": str(claims["exp"]), "resource": rec.resource,
                     "token_type": "Bearer", "client_id": identity.client_id}, rec


class _TokenHandler(BaseHTTPRequestHandler):
    kit_server: TokenServer
    protocol_version = "HTTP/1.1"
    server_version = "azureloop-msi/1.0"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        pass

    def do_GET(self) -> None:  # noqa: N802
        split = urlsplit(self.path)
        params = {k: v[0] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            status, body, rec = self.kit_server.answer(split.path, params, headers)
        except Exception as exc:  # pragma: no cover - a kit bug shows as a 500 with the reason
            status, body, rec = 500, {"statusCode": 500, "message": f"kit error: {exc!r}"}, None
        if rec is not None:
            self.kit_server.record(rec)
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _method_not_allowed(self) -> None:
        data = json.dumps({"statusCode": 405, "message": "Only GET is supported."}).encode()
        self.send_response(405)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_POST = do_PUT = do_DELETE = do_PATCH = _method_not_allowed  # noqa: N815
