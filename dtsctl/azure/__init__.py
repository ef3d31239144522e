"""Operating schedulers in Azure through Azure Resource Manager (ARM).

Core code of the `scheduler`, `taskhub`, `retention`, `access` and `azure up` commands: it prints
nothing, returns records and raises dtsctl's typed errors. Everything Azure (azure-identity, azure-core, azure-mgmt-durabletask) is
imported inside the functions that need it, so that start-up and the other commands never pay for it.

    model.py      the records: AzureArgs (the Azure flags), SchedulerRef, SchedulerView, TaskHubView
    auth.py       the operator's credential (--auth)
    session.py    one ARM session: endpoint, credential, subscription resolution, clients
    errors.py     ARM's errors as dtsctl's (ARM's code and message kept, cause and fix added)
    lro.py        long-running operations: poll every 2 s, --timeout, --no-wait, Ctrl-C
    schedulers.py list, show, create, update, delete; naming a scheduler by name, id or endpoint
    taskhubs.py   list, show, create, delete
    retention.py  the retention policy: show, set, clear, and what a new one would purge
    myip.py       this machine's public address, from an IP echo service over HTTPS
    access.py     Durable Task role assignments: assignees, deterministic names, list, grant, revoke
    access_wait.py  waiting until a grant is effective for the operator on the data plane
    up.py         `azure up`: resource group, scheduler, task hub, your role, profile, in order, idempotently
"""
