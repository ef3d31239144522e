"""``AzureLoop``: the test CA, the token server, the TLS gRPC front and the ARM server, started
together on 127.0.0.1 and sharing one :class:`~azureloop.model.AzureModel`."""

from __future__ import annotations

import os
import secrets
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any

import trustme

from . import guard as guard_mod
from .arm import ArmServer
from .front import GrpcFront
from .model import ARM_RESOURCE, DTS_RESOURCE, AzureModel
from .tokens import TokenIssuer, TokenServer

SITE_DIR = Path(__file__).resolve().parent / "_site"

# Variables that would send azure-identity, msal, requests or grpc anywhere but the kit.
ENV_REMOVALS = (
    # other managed identity sources (msal checks presence, not value: they must be absent)
    "IDENTITY_SERVER_THUMBPRINT", "IMDS_ENDPOINT", "MSI_ENDPOINT", "MSI_SECRET", "AZURE_POD_IDENTITY_AUTHORITY_HOST",
    # service principal / workload identity / user credentials, authority and cloud selection
    "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_TENANT_ID", "AZURE_FEDERATED_TOKEN_FILE",
    "AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_CLIENT_CERTIFICATE_PASSWORD", "AZURE_CLIENT_SEND_CERTIFICATE_CHAIN",
    "AZURE_USERNAME", "AZURE_PASSWORD", "AZURE_AUTHORITY_HOST", "AZURE_REGIONAL_AUTHORITY_NAME",
    "AZURE_ADDITIONALLY_ALLOWED_TENANTS", "AZURE_TOKEN_CREDENTIALS", "AZURE_IDENTITY_DISABLE_MULTITENANTAUTH",
    "AZURE_KUBERNETES_TOKEN_PROXY", "AZURE_KUBERNETES_CA_FILE", "AZURE_KUBERNETES_CA_DATA", "AZURE_KUBERNETES_SNI_NAME",
    "AZURE_SUBSCRIPTION_ID", "AZURE_CLOUD", "REGION_NAME",
    # proxies (requests and grpc honour them; a proxy is a non-loopback hop)
    "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy", "grpc_proxy",
    # other trust stores: only the kit CA is trusted
    "SSL_CERT_DIR",
)


class AzureLoop:
    """Start with :meth:`start`, stop with :meth:`stop` (idempotent; also after a failed start).

    Attributes: ``model``, ``grpc_port``, ``endpoint`` (https://localhost:<grpc_port>), ``grpc_address``,
    ``arm_url``, ``token_url``, ``ca_pem_path``, ``ca_pem``, ``issuer`` (mint/verify tokens),
    ``token_server.requests``, ``arm.requests``, ``front.calls``, ``guard`` (set by the fixture).
    """

    def __init__(self, workdir: str | os.PathLike[str]):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.identity_header = secrets.token_urlsafe(24)
        self.guard_log_path = str(self.workdir / "guard.jsonl")
        self.azure_config_dir = self.workdir / "azure-config"  # an empty az CLI profile: never signed in
        self.guard: guard_mod.NetworkGuard | None = None
        self.token_server: TokenServer | None = None
        self.front: GrpcFront | None = None
        self.arm: ArmServer | None = None
        self.model: AzureModel = None  # type: ignore[assignment]  # set in start()

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> AzureLoop:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        self.azure_config_dir.mkdir(exist_ok=True)
        self.ca = trustme.CA(organization_name="dtsctl azureloop test CA")
        self.cert = self.ca.issue_cert("localhost", "127.0.0.1", "::1")
        self.ca_pem = self.ca.cert_pem.bytes()
        self.ca_pem_path = str(self.workdir / "azureloop-ca.pem")
        self.ca.cert_pem.write_to_path(self.ca_pem_path)
        key_pem = self.cert.private_key_pem.bytes()
        chain_pem = b"".join(p.bytes() for p in self.cert.cert_chain_pems)
        server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.cert.configure_cert(server_ctx)

        self.issuer = TokenIssuer()
        get_model = lambda: self.model  # noqa: E731 - servers always read the current model
        self.front = GrpcFront(get_model, self.issuer, key_pem, chain_pem)
        self.grpc_port = self.front.port
        self.grpc_address = f"localhost:{self.grpc_port}"
        self.endpoint = f"https://localhost:{self.grpc_port}"
        self.token_server = TokenServer(get_model, self.issuer)
        self.token_url = self.token_server.url
        self.arm = ArmServer(get_model, self.issuer, server_ctx)
        self.arm_url = self.arm.url
        self.model = AzureModel.default(self.endpoint, self.identity_header)
        self.front.start()
        self.token_server.start()
        self.arm.start()

    def stop(self) -> None:
        for part in (self.arm, self.token_server, self.front):
            if part is not None:
                try:
                    part.stop()
                except Exception:  # noqa: BLE001 - stop the others anyway
                    pass
        self.arm = self.token_server = self.front = None

    def reset(self) -> AzureModel:
        """A fresh healthy model, empty request logs, empty task hubs, empty guard log."""
        self.model = AzureModel.default(self.endpoint, self.identity_header)
        assert self.token_server and self.arm and self.front
        self.token_server.clear()
        self.arm.clear()
        self.front.clear()
        self.front.reset_hubs()
        Path(self.guard_log_path).write_text("")
        return self.model

    def __enter__(self) -> AzureLoop:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what tests read -------------------------------------------------------------------------
    @property
    def scheduler_id(self) -> str:
        return self.model.scheduler_id

    @property
    def token_requests(self):
        return list(self.token_server.requests) if self.token_server else []

    @property
    def arm_requests(self):
        return list(self.arm.requests) if self.arm else []

    @property
    def front_calls(self):
        return list(self.front.calls) if self.front else []

    def connection_string(self, auth: str = "ManagedIdentity", client_id: str | None = None,
                          task_hub: str | None = "default", endpoint: str | None = None) -> str:
        parts = [f"Endpoint={endpoint or self.endpoint}", f"Authentication={auth}"]
        if client_id:
            parts.append(f"ClientID={client_id}")
        if task_hub is not None:
            parts.append(f"TaskHub={task_hub}")
        return ";".join(parts)

    # -- environment -----------------------------------------------------------------------------
    def env_overrides(self) -> dict[str, str]:
        """The variables the kit sets (see :data:`ENV_REMOVALS` for those it removes)."""
        ca = self.ca_pem_path
        no_proxy = "127.0.0.1,localhost,::1"
        inherited = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != str(SITE_DIR)]
        pythonpath = os.pathsep.join([str(SITE_DIR), *inherited])
        return {
            "IDENTITY_ENDPOINT": self.token_url,
            "IDENTITY_HEADER": self.identity_header,
            "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH": ca,
            "REQUESTS_CA_BUNDLE": ca,
            "SSL_CERT_FILE": ca,
            "CURL_CA_BUNDLE": ca,
            "NO_PROXY": no_proxy,
            "no_proxy": no_proxy,
            "no_grpc_proxy": no_proxy,
            "AZURE_CONFIG_DIR": str(self.azure_config_dir),
            "DTSCTL_ARM_ENDPOINT": self.arm_url,
            "PYTHONPATH": pythonpath,
            guard_mod.ENV_FLAG: "1",
            guard_mod.ENV_LOG: self.guard_log_path,
        }

    def env_removals(self) -> tuple[str, ...]:
        return ENV_REMOVALS

    def env(self, base: dict[str, str] | None = None, **extra: str) -> dict[str, str]:
        """A complete environment for a subprocess: ``base`` (default ``os.environ``) minus the
        removals, plus the kit's variables, plus ``extra``."""
        env = dict(os.environ if base is None else base)
        for name in ENV_REMOVALS:
            env.pop(name, None)
        inherited = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and p != str(SITE_DIR)]
        env.update(self.env_overrides())
        env["PYTHONPATH"] = os.pathsep.join([str(SITE_DIR), *inherited])
        env.update(extra)
        return env

    def run_python(self, code: str, env: dict[str, str] | None = None, timeout: float = 60,
                   args: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
        """``python -c code`` with the kit's environment (``env``: a complete environment instead)."""
        return subprocess.run([sys.executable, "-c", code, *args], env=env if env is not None else self.env(),
                              capture_output=True, text=True, timeout=timeout, check=False)

    def run_dtsctl(self, *args: str, env: dict[str, str] | None = None, timeout: float = 60,
                   **extra_env: str) -> subprocess.CompletedProcess[str]:
        """The installed ``dtsctl`` console script with the kit's environment (+ ``extra_env``)."""
        exe = Path(sys.executable).with_name("dtsctl")
        return subprocess.run([str(exe), *args], env=env if env is not None else self.env(**extra_env),
                              capture_output=True, text=True, timeout=timeout, check=False)

    def guard_log(self) -> list[dict[str, Any]]:
        """What the guard blocked in subprocesses since the last reset."""
        return guard_mod.read_log(self.guard_log_path)

    def take_blocked(self) -> list[dict[str, Any]]:
        """Everything blocked (this process and subprocesses) since the last call; clears both."""
        found = (self.guard.take() if self.guard else []) + self.guard_log()
        Path(self.guard_log_path).write_text("")
        return found

    # -- in-process helpers (inside the azure_loop fixture: env set, guard on) -----------------------
    def credential(self, client_id: str | None = None):
        """azure-identity's real ManagedIdentityCredential (App Service flavour, through the kit env)."""
        from azure.identity import ManagedIdentityCredential

        return ManagedIdentityCredential(client_id=client_id) if client_id else ManagedIdentityCredential()

    def operator_credential(self):
        """The operator's credential (``model.operator``, a user-assigned identity): what an operator's
        ``az login`` is in real life. In a subprocess: ``env(**kit.operator_env())`` and
        DefaultAzureCredential (or ``--auth managedidentity``) picks the same identity."""
        return self.credential(self.model.operator.client_id)

    def operator_env(self) -> dict[str, str]:
        """``AZURE_CLIENT_ID`` naming the operator: DefaultAzureCredential's managed identity then
        signs in as ``model.operator`` (EnvironmentCredential stays unconfigured: no tenant, no secret)."""
        return {"AZURE_CLIENT_ID": self.model.operator.client_id}

    def token(self, resource: str = DTS_RESOURCE, client_id: str | None = None) -> str:
        return self.credential(client_id).get_token(f"{resource}/.default").token

    def arm_token(self, client_id: str | None = None) -> str:
        return self.token(ARM_RESOURCE, client_id)

    def grpc_channel(self):
        """A TLS channel to the front trusting the kit CA explicitly (works whatever grpc read at start-up)."""
        import grpc

        return grpc.secure_channel(self.grpc_address, grpc.ssl_channel_credentials(root_certificates=self.ca_pem))

    def call(self, method: str = "Hello", *, token: str | None = None, task_hub: str | None = "default",
             request: Any = None, timeout: float = 5.0) -> tuple[Any, str]:
        """One unary call through the front with raw metadata; returns (grpc.StatusCode, details)."""
        import grpc
        from google.protobuf import empty_pb2

        import durabletask.internal.orchestrator_service_pb2 as pb
        import durabletask.internal.orchestrator_service_pb2_grpc as stubs

        requests = {"Hello": empty_pb2.Empty, "ListInstanceIds": pb.ListInstanceIdsRequest,
                    "GetInstance": pb.GetInstanceRequest, "StartInstance": pb.CreateInstanceRequest}
        if request is None:
            request = requests[method]()
            if method == "StartInstance":
                request.name, request.instanceId = "kit_probe", "kit-probe"
        metadata = []
        if task_hub is not None:
            metadata.append(("taskhub", task_hub))
        if token is not None:
            metadata.append(("authorization", f"Bearer {token}"))
        with self.grpc_channel() as channel:
            stub = stubs.TaskHubSidecarServiceStub(channel)
            try:
                getattr(stub, method)(request, metadata=metadata, timeout=timeout)
            except grpc.RpcError as exc:
                return exc.code(), exc.details() or ""
        return grpc.StatusCode.OK, ""

    def mgmt_client(self, credential=None, subscription_id: str | None = None):
        """azure-mgmt-durabletask's client pointed at the kit's ARM."""
        from azure.mgmt.durabletask import DurableTaskMgmtClient

        return DurableTaskMgmtClient(credential or self.credential(), subscription_id or self.model.subscription_id,
                                     base_url=self.arm_url, credential_scopes=[f"{ARM_RESOURCE}/.default"])
