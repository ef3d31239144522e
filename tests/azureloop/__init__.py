"""Azure on loopback: a test kit for ``dtsctl doctor`` (and anything else that talks to Azure DTS).

Real servers on 127.0.0.1 (ephemeral ports), all reading one mutable :class:`~azureloop.model.AzureModel`:

- a test CA (trustme) and a server certificate for ``localhost``, ``127.0.0.1`` and ``::1``;
- an App Service managed identity endpoint (``IDENTITY_ENDPOINT``/``IDENTITY_HEADER``, plain http on
  loopback as in App Service) issuing RS256 JWTs with the claims of Entra ID managed identity tokens
  (:mod:`azureloop.tokens`);
- a TLS gRPC front serving the real ``TaskHubSidecarService`` (dtsctl's local engine, in process)
  that enforces IP allowlist -> bearer token -> RBAC -> task hub (:mod:`azureloop.front`);
- an HTTPS ARM server: subscriptions, resource groups, schedulers, task hubs, retention policies,
  role assignments and role definitions in ARM's JSON shapes, with ARM's writes and long-running
  operations for groups, schedulers, task hubs and retention (:mod:`azureloop.arm`,
  :mod:`azureloop.arm_writes`, :mod:`azureloop.lro`), role assignment writes that reach the front after
  ``rbac_propagation_seconds``, and look-ups of user-assigned identities and of apps' system-assigned
  identities (:mod:`azureloop.arm_access`);
- a network guard refusing any non-loopback resolution, connection or gRPC channel, in the test
  process and (through ``env()``) in every Python subprocess (:mod:`azureloop.guard`).

Fixtures (:mod:`azureloop.fixtures`; registered from ``tests/conftest.py``'s ``pytest_plugins``)
----------------------------------------------------------------------------------------------------
``azure_loop``  (function) the kit, reset to the healthy model; the kit's variables set/removed in
                ``os.environ``; the guard on. Fails the test if anything tried to leave loopback
                (unless consumed with ``take_blocked()``). Servers are session-scoped
                (``azure_loop_servers``); ``network_guard`` is usable alone.

Kit API (:class:`azureloop.kit.AzureLoop`)
------------------------------------------
``.model`` (mutate it to set up a fault), ``.grpc_port``, ``.grpc_address`` (``localhost:<port>``),
``.endpoint`` (``https://localhost:<port>``), ``.arm_url`` (``https://127.0.0.1:<port>``), ``.token_url``
(``http://127.0.0.1:<port>/msi/token``), ``.ca_pem_path``/``.ca_pem``, ``.scheduler_id``,
``.connection_string(auth="ManagedIdentity", client_id=None, task_hub="default", endpoint=None)``,
``.env(base=None, **extra)`` (complete subprocess environment), ``.env_overrides()``/``.env_removals()``,
``.run_python(code, env=None, timeout=60, args=())``, ``.run_dtsctl(*args, **extra_env)``,
``.token_requests`` / ``.arm_requests`` / ``.front_calls`` (records), ``.take_blocked()``,
in process: ``.credential(client_id=None)`` (the app's system-assigned identity by default),
``.operator_credential()`` (``model.operator``, the person running dtsctl; in a subprocess
``env(**kit.operator_env())`` makes DefaultAzureCredential sign in as it), ``.token(resource, client_id)``, ``.arm_token()``,
``.grpc_channel()`` (explicit CA), ``.call(method, token=, task_hub=)`` -> ``(StatusCode, details)``,
``.mgmt_client()``; ``.issuer`` mints/verifies tokens (``claims_for``, ``mint(foreign_key=True)``).

Model knobs: ``scheduler.ip_allowlist``, ``scheduler.public_network_access``, ``scheduler.task_hubs``
(``add_task_hub``/``remove_task_hub``), ``add_scheduler`` (decoys with *.durabletask.io endpoints,
never served), ``assign_role(oid, role, scope, age=, propagated=)``, ``remove_role_assignments``,
``system_identity``/``user_identities``/``add_user_identity``, ``operator``, ``fault_token(resource, expired=,
audience=, tenant_id=, status=)``, ``arm_denied_principals``, ``arm_page_size``, ``generic_denials``,
``clear_resources()`` (an empty subscription), ``resource_groups``/``add_resource_group``, a
scheduler's ``retention``; ARM writes: ``arm_write_denied_principals``, ``arm_throttle_next``/
``arm_throttle_retry_after``, ``arm_lro_polls`` (default 1), ``arm_lro_seconds``, ``arm_lro_hold``,
``fail_next_operation(code, message, status=, resource_type=, http_status=)``, ``finish_operations()``,
``arm_retry_after``, ``arm_locations``; ``operations`` (every operation started, by id); access:
``arm_rbac_write_denied_principals`` (may write resources, not assign roles), ``rbac_propagation_seconds``
(an ARM grant or revoke reaches the front that much later), ``add_app(kind, name, group, identity=)``
(a Function/Web/Container App; returns its system-assigned Identity), ``add_user_identity(name,
resource_group=)``, ``add_principal(type)`` (a user or group oid ARM accepts), ``apps``.
The front serves one endpoint: schedulers created through ARM get it (see :mod:`azureloop.front`).

Pitfalls
--------
- azure-identity (msal underneath) picks App Service managed identity when ``IDENTITY_ENDPOINT`` and
  ``IDENTITY_HEADER`` are *present* (presence, not value: ``IDENTITY_SERVER_THUMBPRINT`` present even
  empty means Service Fabric; ``MSI_ENDPOINT``+``MSI_SECRET`` Azure ML; ``IMDS_ENDPOINT`` Arc); with
  none of them it goes to IMDS at 169.254.169.254 (``AZURE_POD_IDENTITY_AUTHORITY_HOST`` overrides).
  The removals in ``env()`` must be deletions, never empty values.
- An unknown client id: App Service answers 400 ``{"statusCode", "message", "correlationId"}``; msal
  turns it into ``invalid_scope`` and azure-identity raises ``CredentialUnavailableError`` (a
  ``ClientAuthenticationError``): "App Service managed identity configuration not found in
  environment. Token request error: (invalid_scope) 400, Unable to load the proper Managed
  Identity." (misleading, but that is the real library; DefaultAzureCredential then moves on).
- grpc reads ``GRPC_DEFAULT_SSL_ROOTS_FILE_PATH`` once per process, the first time default roots are
  needed: run SDK clients that rely on it in a subprocess with ``env()`` (the test process's grpc may
  already have loaded the system bundle); in process use ``grpc_channel()`` (explicit roots).
- azure-mgmt-durabletask 1.1 sends ``api-version=2026-02-01``; role assignments 2022-04-01 and
  subscriptions 2022-12-01 are the caller's choice (any value is accepted and recorded).
- A 401 from the kit's ARM carries a ``WWW-Authenticate`` challenge without ``claims``, so azure-core's
  ARMChallengeAuthenticationPolicy returns the 401 rather than retrying.
- The SDK refreshes a token within 10 minutes of expiry: with ``fault_token(expired=True)`` every call
  fetches a new (expired) token.
- dtsctl's validator warns ``endpoint-tls-loopback`` for ``https://localhost:<port>``: expected here.
- The guard cannot see gRPC's C-core sockets; it checks channel targets at creation instead.
"""

from .fixtures import azure_loop, azure_loop_servers, network_guard  # noqa: F401 - pytest fixtures

__all__ = ["azure_loop", "azure_loop_servers", "network_guard"]
