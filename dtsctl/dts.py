"""Facts of the Durable Task Scheduler service and its emulator that several modules rely on.

One place for each value, so that the connection checks, the emulator engines, doctor and the
commands cannot drift apart (sources: ../shared/reference/dts.md, section numbers below).
Plain constants, no imports: any module, and start-up, can read them for free.
"""

# The task hub a call without `taskhub` metadata selects, and the emulator serves by default (section 3).
DEFAULT_TASK_HUB = "default"
TASK_HUB_METADATA_KEY = "taskhub"  # gRPC metadata naming the task hub (section 2)
# The gRPC NOT_FOUND detail for an unknown task hub starts so, then ": <name>" (section 4).
TASK_HUB_NOT_FOUND = "Task hub not found"

# The emulator (section 3): its ports inside the container (and on the host by default) and its image.
EMULATOR_GRPC_PORT = 8080
EMULATOR_HEALTH_PORT = 8081  # HTTP, GET /healthz
EMULATOR_DASHBOARD_PORT = 8082  # the dashboard web page
EMULATOR_IMAGE_REPO = "mcr.microsoft.com/dts/dts-emulator"
EMULATOR_TAGS_URL = "https://mcr.microsoft.com/v2/dts/dts-emulator/tags/list"
# Environment variables the emulator reads (the local engine reads the same names).
ENV_TASK_HUB_NAMES = "DTS_TASK_HUB_NAMES"
ENV_DYNAMIC_TASK_HUBS = "DTS_USE_DYNAMIC_TASK_HUBS"
EMULATOR_CONNECTION_STRING = f"Endpoint=http://localhost:{EMULATOR_GRPC_PORT};Authentication=None;TaskHub={DEFAULT_TASK_HUB}"

# The scope the SDKs ask Entra ID tokens for (section 2); US Government clouds use their own.
TOKEN_SCOPE = "https://durabletask.io/.default"
TOKEN_SCOPE_USGOV = "https://durabletask.azure.us/.default"

# Built-in data-plane roles (section 5): role definition id -> name.
DATA_CONTRIBUTOR_ROLE_ID = "0ad04412-c4d5-4796-b79c-f76d14c8d402"
WORKER_ROLE_ID = "80d0d6b0-f522-40a4-8886-a5a11720c375"
DATA_READER_ROLE_ID = "d6a5505f-6ebb-45a4-896e-ac8274cfc0ac"
ROLE_NAMES = {
    DATA_CONTRIBUTOR_ROLE_ID: "Durable Task Data Contributor",
    WORKER_ROLE_ID: "Durable Task Worker",
    DATA_READER_ROLE_ID: "Durable Task Data Reader",
}

# Azure Resource Manager (section 5): the public cloud's endpoint, and the token scope per ARM host
# (the sovereign clouds have their own).
ARM_ENDPOINT = "https://management.azure.com"
ARM_SCOPES = {
    "management.azure.com": "https://management.azure.com/.default",
    "management.usgovcloudapi.net": "https://management.usgovcloudapi.net/.default",
    "management.chinacloudapi.cn": "https://management.chinacloudapi.cn/.default",
}
