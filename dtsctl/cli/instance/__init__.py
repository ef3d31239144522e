"""`dtsctl instance ...`: the commands by what they do to an instance.

- reading.py   show, list, history: read, never change; tracing.py trace (the tree, live);
               counting.py stats.
- lifecycle.py start, wait, restart, rewind: run an instance (again) and wait for its end.
- control.py   raise-event, terminate, suspend, resume, purge: one instance, or every match of the
               filters (option sets and the one-or-many check in options.py, the run in bulk.py,
               its plan and execution in dtsctl.instances.batch).
- views.py     the text views (work_views.py: pending work, trace tree, timeline); connect.py the
               connection and the one-instance call.
"""

from dtsctl.cli.common import group

app = group(
    "instance",
    "Start, inspect, signal, control and clean up orchestration instances.",
)

# Importing the modules registers their commands on `app` (in the order --help lists them).
from dtsctl.cli.instance import lifecycle, reading, tracing, counting, control  # noqa: E402,F401
