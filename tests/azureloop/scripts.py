"""Python scripts tests run in a subprocess with the kit's environment (``kit.run_python(code, args=...)``)."""

import textwrap

# argv: grpc address, task hub, client id ("" for the system-assigned identity). Prints one JSON line:
# {"id", "status", "output", "read_back"} after a real SDK worker ran one orchestration with an activity.
SDK_ROUND_TRIP = textwrap.dedent("""
    import json, sys
    from azure.identity import ManagedIdentityCredential
    from durabletask import task
    from durabletask.azuremanaged.client import DurableTaskSchedulerClient
    from durabletask.azuremanaged.worker import DurableTaskSchedulerWorker

    address, hub, client_id = sys.argv[1], sys.argv[2], (sys.argv[3] or None)

    def greet(ctx: task.ActivityContext, name: str) -> str:
        return f"Hello, {name}!"

    def hello(ctx: task.OrchestrationContext, name: str):
        return (yield ctx.call_activity(greet, input=name))

    cred = ManagedIdentityCredential(client_id=client_id) if client_id else ManagedIdentityCredential()
    client = DurableTaskSchedulerClient(host_address=address, secure_channel=True, taskhub=hub, token_credential=cred)
    worker = DurableTaskSchedulerWorker(host_address=address, secure_channel=True, taskhub=hub, token_credential=cred)
    worker.add_orchestrator(hello)
    worker.add_activity(greet)
    worker.start()
    try:
        iid = client.schedule_new_orchestration(hello, input="loopback")
        state = client.wait_for_orchestration_completion(iid, timeout=30)
        again = client.get_orchestration_state(iid)
    finally:
        worker.stop()
    print(json.dumps({"id": iid, "status": state.runtime_status.name, "output": json.loads(state.serialized_output),
                      "read_back": again.runtime_status.name}))
""")
