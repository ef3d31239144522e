"""`dtsctl scheduler list -o json` against the loopback ARM of tests/azureloop, side by side with a
minimal Python script making the same list call with azure-mgmt-durabletask and the same credential
(DefaultAzureCredential, reaching the kit's managed identity endpoint).

    python bench/arm.py [--runs N]

Each round runs both once, in turn, so machine noise hits them alike. Prints the median wall time of
each and the ratio (target, issue 10: at most 1.3x). dtsctl also lists each scheduler's task hubs
(the table's "hubs" column): one more ARM call than the script makes.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchenv import dtsctl_exe, installed_tool_env, print_ratios

TARGET = 1.3
MINIMAL = """
import json, os
from azure.identity import DefaultAzureCredential
from azure.mgmt.durabletask import DurableTaskMgmtClient

client = DurableTaskMgmtClient(DefaultAzureCredential(), os.environ["AZURE_SUBSCRIPTION_ID"],
                               base_url=os.environ["DTSCTL_ARM_ENDPOINT"],
                               credential_scopes=["https://management.azure.com/.default"])
print(json.dumps([s.as_dict() for s in client.schedulers.list_by_subscription()], default=str))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    exe = dtsctl_exe()
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from azureloop.kit import AzureLoop

    tmp = tempfile.mkdtemp(prefix="dtsctl-bench-arm-")
    kit = AzureLoop(os.path.join(tmp, "kit")).start()
    try:
        base = installed_tool_env(tmp, DTSCTL_CONFIG=os.devnull + ".absent")
        env = kit.env(base, AZURE_SUBSCRIPTION_ID=kit.model.subscription_id)
        cmds = {
            "minimal azure-mgmt-durabletask script": [sys.executable, "-c", MINIMAL],
            "dtsctl scheduler list -o json": [exe, "scheduler", "list", "-o", "json"],
        }
        for name, argv in cmds.items():  # warm up, and check that both work
            r = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
            if r.returncode != 0 or "dts-loop" not in r.stdout:
                sys.exit(f"{name} failed: {r.stderr[-2000:]}")
        times: dict[str, list[float]] = {name: [] for name in cmds}
        for _ in range(args.runs):
            for name, argv in cmds.items():
                start = time.perf_counter()
                subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=False)
                times[name].append(time.perf_counter() - start)
    finally:
        kit.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    baseline = statistics.median(times["minimal azure-mgmt-durabletask script"])
    print_ratios(times, "minimal azure-mgmt-durabletask script")
    ratio = statistics.median(times["dtsctl scheduler list -o json"]) / baseline
    print(f"target: at most {TARGET}x; {'meets' if ratio <= TARGET else 'MISSES'} it ({ratio:.2f}x)")


if __name__ == "__main__":
    main()
