"""The Azure commands' text views as a person at a terminal sees them: `scheduler list` and
`access list` tables, `scheduler show`'s card, at a given width, against "Azure on loopback"
(tests/azureloop) with the real azure-mgmt-durabletask client, signed in as the kit's operator."""

from __future__ import annotations

import pytest
from support.azure import FAST, dts
from support.terminal import ANSI, BOX, on_terminal

pytestmark = pytest.mark.timeout(120)


def _operator(kit) -> dict[str, str]:
    return {**FAST, **kit.operator_env(), "AZURE_SUBSCRIPTION_ID": kit.model.subscription_id}


def test_scheduler_list_is_a_table_with_every_column(azure_loop) -> None:
    kit = azure_loop
    sched = kit.model.scheduler
    screen = on_terminal("scheduler", "list", width=160, env=_operator(kit))
    assert screen.exit_code == 0, screen.err
    assert BOX.search(screen.raw_out)  # a drawn table, not piped columns
    header = next(line for line in screen.out.splitlines() if "Name" in line)
    for column in ("Name", "Group", "Location", "SKU", "State", "Endpoint", "Hubs"):
        assert column in header, header
    row = next(line for line in screen.out.splitlines() if sched.name in line)
    assert sched.resource_group in row and sched.location in row and "Succeeded" in row


def test_scheduler_list_piped_has_no_box_drawing_or_colour(azure_loop) -> None:
    kit = azure_loop
    r = dts(kit, "scheduler", "list", AZURE_SUBSCRIPTION_ID=kit.model.subscription_id)
    assert r.returncode == 0, r.stderr
    assert kit.model.scheduler.name in r.stdout
    assert not BOX.search(r.stdout) and not ANSI.search(r.stdout)


def test_access_list_marks_the_signed_in_operator(azure_loop) -> None:
    kit = azure_loop
    m = kit.model
    from azureloop.model import DATA_CONTRIBUTOR

    m.assign_role(m.operator.principal_id, DATA_CONTRIBUTOR, m.task_hub_id("default"))
    screen = on_terminal("access", "list", "--scheduler", m.scheduler_id, width=200, env=_operator(kit))
    assert screen.exit_code == 0, screen.err
    mine = [line for line in screen.out.splitlines() if m.operator.principal_id in line]
    assert mine and "(you)" in mine[0] and "Durable Task Data Contributor" in mine[0], screen.out
    assert "default" in mine[0]  # the task hub scope


def test_a_narrow_terminal_keeps_the_scheduler_name_whole(azure_loop) -> None:
    kit = azure_loop
    name = kit.model.scheduler.name
    screen = on_terminal("scheduler", "list", width=60, env=_operator(kit))
    assert screen.exit_code == 0, screen.err
    assert all(len(line) <= 60 for line in screen.out.splitlines())
    # The Name column, read down its cells (Rich folds a long value over lines): the whole name.
    body = [line for line in screen.out.splitlines() if line.startswith("│")]
    assert "".join(line.split("│")[1].strip() for line in body) == name, screen.out
