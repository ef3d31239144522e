"""dtsctl's one adapter to the durabletask SDK and gRPC.

Everything that reaches past the SDK's documented surface lives in this package, so that an SDK
upgrade that breaks something breaks it here, and fails the contract test named after it
(tests/test_sdk_contract.py). The rest of dtsctl calls these functions and gets plain values or
its own records (dtsctl/instances/records.py, dtsctl/entities.py) and typed errors (dtsctl/errors.py).

Importing any module here but backend.py is cheap: grpc, protobuf and durabletask are imported
inside the functions that use them (`dtsctl --version` must not pay for them).

- client.py  the SDK's DurableTaskSchedulerClient/Worker for an address; the interceptor that sets
             call deadlines and retries read-only calls; the SDK loggers; the client's stub
- errors.py  grpc.RpcError read (status code names, details) and turned into dtsctl's typed errors;
             a logged grpc error object as one line
- protos.py  the generated protocol modules, named once; protobuf messages -> plain values and
             InstanceRecord/FailureInfo; status names <-> enum numbers
- history.py protobuf history events -> HistoryItems; the start event, sub-orchestration ids
- rpc.py     raw calls through the client's stub: GetInstance, the waits, QueryInstances pages,
             StreamInstanceHistory, StartInstance, RaiseEvent, TerminateInstance, PurgeInstances
             (by id and by the scheduler's own filter)
- rpc_log.py what --debug says about calls: the target, each call, retry, stream and its metadata
             (redacted); stdlib only
- channel.py raw channels and byte-level unary calls (Hello, ListInstanceIds) for doctor and the
             emulator's readiness probe, which must not import protobuf or the SDK
- entities.py entity queries, reads, signals and clean-up through the client -> EntityRecords
- backend.py the server side, for the local engine (dtsctl/emulator/local/): the rpc names, the
             servicer registration, the health ping (the engine itself is dtsctl's own). Only the
             engine's process imports it.

Public SDK API is used where it is enough: the client's suspend/resume/rewind/restart and
schedule/get/wait/raise methods (dtsctl.instances.service, dtsctl.samples.demo), and the
samples, which are orchestrations written with `durabletask.task` as any app writes them.

Private or unstable APIs used, each with its contract test:

- `TaskHubGrpcClient._stub` (client.stub): the generated TaskHubSidecarServiceStub
- `grpc.ClientCallDetails` fields copied by the interceptor, and a unary continuation's outcome
  having `.exception()` (the UNAVAILABLE retry); a unary-stream continuation's call having
  `add_callback`, `code()` and `details()` (--debug's stream lines)
- `TaskHubGrpcClient._interceptors` and the SDK interceptor's `_metadata` list (client.sdk_metadata):
  the task hub and authorization metadata --debug shows, redacted
- the text of a grpc error object (`<_InactiveRpcError ... status = StatusCode.X ... details = "..."
  ...>`), which the SDK worker logs and `samples worker` shortens to one line (errors.one_line)
- grpc's RESOURCE_EXHAUSTED details for a too-large answer: `larger than max (N vs. M)`
- `durabletask.internal.orchestrator_service_pb2` (protos.messages) and `..._pb2_grpc`
  (protos.services): the messages and fields dtsctl builds and reads, the status enum, the rpcs
- `durabletask.history._from_protobuf` (history.sdk_event_of): every event type, and the dataclass
  fields the history reader shows
- the wire bytes of ListInstanceIdsRequest{pageSize: 1} (channel.LIST_ONE_INSTANCE_ID), and grpc's
  `grpc.enable_http_proxy` channel option
- `EntityMetadata._locked_by` (entities.entity_record): the raw lock holder, which the public
  `get_locked_by()` cannot parse
"""
