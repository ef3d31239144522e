"""The dashboard page in a real browser (Debian's headless Chromium, through Selenium) against the
dashboard server and a local engine hosting the sample worker: what an operator does with it, each
checked on what the page shows.

DTSCTL_SCREENSHOTS=1 also saves docs/dashboard-list.png and docs/dashboard-instance.png (README).
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest

from support.browser import chrome, console_errors, need_chromium, text, wait_for, wait_text
from support.samples import client, local_server, sample_worker, target

pytestmark = pytest.mark.timeout(120)

DOCS = Path(__file__).resolve().parent.parent / "docs"
SCREENSHOTS = os.environ.get("DTSCTL_SCREENSHOTS") == "1"
XSS = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(2)>"  # would run at once if it were ever parsed as HTML
WAIT_TIMEOUT = 600  # seconds the approval waits for its event: its timer is pending during the tests


@pytest.fixture(scope="module")
def browser():
    need_chromium()  # before the engine starts: skipping should cost nothing
    with chrome() as driver:
        yield driver


@pytest.fixture(scope="module", params=["grpc", "engine"])
def hub_env(browser, request):
    """A local engine, the sample worker on a hub of its own, instances in every state the tests
    read, and the dashboard server for that hub: `dtsctl dashboard`'s (every call over gRPC), then
    the local engine's own (its list straight from the store); every test runs against both."""
    from dtsctl.dashboard.backend import GrpcBackend
    from dtsctl.dashboard.server import DashboardServer
    from dtsctl.emulator.local.dashboard import EngineBackend

    with local_server() as server:
        hub = "orders"  # this engine is the module's own: a plain name reads better in the screenshots
        with sample_worker(server, hub):
            sdk = client(server, hub)
            ids = start_instances(sdk)
            backend = GrpcBackend(target(server, hub)) if request.param == "grpc" else EngineBackend(server, hub)
            dash = DashboardServer(backend).start()
            try:
                yield {"url": dash.url, "sdk": sdk, "ids": ids, "hub": hub, "backend": backend}
            finally:
                dash.stop()
                sdk.close()


def start_instances(sdk) -> dict[str, str]:
    ids = {
        "ok": "order-ok",
        "failed": "order-failed",
        "waiting": "approval-waiting",
        "xss": "xss-payload",
        "to_terminate": "approval-to-terminate",
    }
    sdk.schedule_new_orchestration("chain", input=["Tokyo", "Seattle"], instance_id=ids["ok"])
    sdk.schedule_new_orchestration("chain", input="Tokyo", instance_id=ids["failed"])  # not a list: it fails
    sdk.schedule_new_orchestration("approval", input={"request": "new laptop", "timeout_seconds": WAIT_TIMEOUT},
                                   instance_id=ids["waiting"])
    sdk.schedule_new_orchestration("chain", input=[XSS, IMG], instance_id=ids["xss"], tags={"note": XSS})
    sdk.schedule_new_orchestration("approval", input={"request": "a refund", "timeout_seconds": WAIT_TIMEOUT},
                                   instance_id=ids["to_terminate"], tags={"team": "payments"})
    sdk.schedule_new_orchestration("fan_out", input={"count": 7}, instance_id="fan-out-7")
    purge = [f"purge-me-{i}" for i in range(3)]
    for iid in purge:
        sdk.schedule_new_orchestration("chain", input=["x"], instance_id=iid)
    for iid in (ids["ok"], ids["failed"], ids["xss"], "fan-out-7", *purge):
        state = sdk.wait_for_orchestration_completion(iid, timeout=30)
        assert state is not None
    # The approval has asked for its decision and set its timer once its custom status says so.
    deadline = time.monotonic() + 30
    for iid in (ids["waiting"], ids["to_terminate"]):
        while True:
            state = sdk.get_orchestration_state(iid)
            if state is not None and "waiting" in (state.serialized_custom_status or ""):
                break
            assert time.monotonic() < deadline, f"{iid} never reached its wait"
            time.sleep(0.1)
    return {**ids, "purge": purge}


def open_page(driver, env, fragment: str) -> None:
    driver.get(env["url"] + fragment)


def rows(driver) -> list[tuple[str, str]]:
    """(instance id, status) of each row the list shows."""
    out = []
    for tr in driver.find_elements("css selector", "#instances tbody tr[data-id]"):
        out.append((tr.get_attribute("data-id"), tr.find_elements("css selector", "td")[3].text))
    return out


def wait_rows(driver, check, what: str):
    return wait_for(driver, lambda: (lambda r: r if check(r) else None)(rows(driver)), what=what)


def no_alert(driver) -> bool:
    from selenium.common.exceptions import NoAlertPresentException

    try:
        driver.switch_to.alert
    except NoAlertPresentException:
        return True
    return False


# ---------------------------------------------------------------------------------------- the list


def test_list_shows_instances_newest_first_with_counts_and_filters_by_status(browser, hub_env) -> None:
    ids = hub_env["ids"]
    started = time.perf_counter()
    open_page(browser, hub_env, "#/orchestrations")
    shown = wait_rows(browser, lambda r: {ids["ok"], ids["failed"], ids["waiting"]} <= {i for i, _ in r},
                      "the instances in the table")
    first_render = time.perf_counter() - started
    assert first_render < 5, f"the list took {first_render:.2f}s to show"
    # Newest first: the last ones started (the purge-me-* instances) come before order-ok.
    order = [i for i, _ in shown]
    assert order.index("purge-me-2") < order.index(ids["ok"])
    assert dict(shown)[ids["failed"]] == "FAILED" and dict(shown)[ids["waiting"]] == "RUNNING"
    # The status cards count the hub's instances by status.
    assert text(browser, '.card[data-status="FAILED"] .count') == "1"
    running = sum(1 for _, st in shown if st == "RUNNING")
    assert running >= 1 and text(browser, '.card[data-status="RUNNING"] .count') == str(running)
    assert text(browser, '.card[data-status="ALL"] .count') == str(len(shown))
    assert re.search(r"of \d+", text(browser, "#range"))
    # One query call per render: the counts come with the page of rows, nothing is read per row.
    calls = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
        ".filter(n => n.includes('/v1/taskhubs/orchestrations'))")
    assert [c.rsplit("/v1/taskhubs", 1)[1] for c in calls] == ["/orchestrations/query"]

    if SCREENSHOTS:
        browser.save_screenshot(str(DOCS / "dashboard-list.png"))

    # Click the FAILED card: the list shows the failed instance only, and the URL says so.
    browser.find_element("css selector", '.card[data-status="FAILED"]').click()
    wait_rows(browser, lambda r: r == [(ids["failed"], "FAILED")], "only the failed instance")
    assert "status=FAILED" in browser.current_url
    assert browser.find_element("css selector", '.card[data-status="FAILED"]').get_attribute("aria-pressed") == "true"

    # The status filter of the form: completed ones only.
    from selenium.webdriver.support.ui import Select

    Select(browser.find_element("id", "f-status")).select_by_value("COMPLETED")
    completed = wait_rows(browser, lambda r: r and all(s == "COMPLETED" for _, s in r) and ids["ok"] in dict(r),
                          "only completed instances")
    assert ids["failed"] not in dict(completed) and ids["waiting"] not in dict(completed)

    # Back returns to the previous filter (state is in the URL).
    browser.back()
    wait_rows(browser, lambda r: r == [(ids["failed"], "FAILED")], "the failed filter again after Back")

    # Paging: four a page, Next and Prev; a column header sorts.
    open_page(browser, hub_env, "#/orchestrations?size=4")
    first = wait_rows(browser, lambda r: len(r) == 4, "a page of four")
    assert text(browser, "#range") == f"1–4 of {len(shown)}"
    browser.find_element("id", "next").click()
    second = wait_rows(browser, lambda r: len(r) == 4 and r != first, "the second page")
    assert text(browser, "#range") == f"5–8 of {len(shown)}" and not set(first) & set(second)
    assert [i for i, _ in first + second] == order[:8]
    browser.find_element("id", "prev").click()
    wait_rows(browser, lambda r: r == first, "the first page again")
    browser.find_element("xpath", "//th/button[starts-with(., 'Instance id')]").click()
    by_id = wait_rows(browser, lambda r: [i for i, _ in r] == sorted(order, reverse=True)[:4], "the rows by id, descending")
    assert "sort=id" in browser.current_url and by_id

    # The id prefix filter, typed into the page.
    open_page(browser, hub_env, "#/orchestrations")
    box = wait_for(browser, lambda: browser.find_element("id", "f-prefix"))
    box.send_keys("approval-w\n")
    wait_rows(browser, lambda r: r == [(ids["waiting"], "RUNNING")], "the prefix filter's match")
    assert "prefix=approval-w" in browser.current_url

    # Auto-refresh: an instance started after the page was drawn shows up by itself.
    browser.find_element("id", "f-prefix").clear()
    browser.find_element("id", "f-prefix").send_keys("late-\n")
    wait_text(browser, "#instances", r"No orchestration matches")
    browser.find_element("id", "live").click()
    wait_for(browser, lambda: "live=1" in browser.current_url, what="live=1 in the URL")
    hub_env["sdk"].schedule_new_orchestration("chain", input=["late"], instance_id="late-arrival")
    wait_rows(browser, lambda r: [i for i, _ in r] == ["late-arrival"], "the late instance, without a reload")
    assert console_errors(browser) == []


# ---------------------------------------------------------------------------------------- an instance


def test_failed_instance_shows_its_failure(browser, hub_env) -> None:
    ids = hub_env["ids"]
    open_page(browser, hub_env, "#/orchestrations?status=FAILED")
    wait_rows(browser, lambda r: r == [(ids["failed"], "FAILED")], "the failed instance")
    browser.find_element("link text", ids["failed"]).click()
    failure = wait_text(browser, "#failure", r"ValueError")
    assert "chain: the input must be a list of names" in failure
    assert text(browser, "#instance-id") == ids["failed"]
    assert "FAILED" in text(browser, "#overview")
    assert text(browser, "#payload-input pre") == '"Tokyo"'
    # History: started, the failure recorded; the pending view says it has ended.
    types = [tr.get_attribute("data-type") for tr in browser.find_elements("css selector", "#history-table tbody tr")]
    assert types[0] == "ExecutionStarted" and "ExecutionCompleted" in types
    assert "ended" in text(browser, "#pending")
    # Only what applies to a failed instance can be pressed.
    assert browser.find_element("id", "action-rewind").is_enabled()
    assert not browser.find_element("id", "action-raise-event").is_enabled()


def test_waiting_instance_shows_its_timer_then_completes_on_an_event_raised_from_the_page(browser, hub_env) -> None:
    ids, sdk = hub_env["ids"], hub_env["sdk"]
    iid = ids["waiting"]
    open_page(browser, hub_env, f"#/instance/{iid}")
    timer = wait_text(browser, "#pending-timers", r"fires in \d+m")
    assert re.search(r"fires in (9|10)m", timer), timer
    assert "notify_approver" in text(browser, "#timeline")
    bars = browser.find_elements("css selector", "#gantt .bar")
    assert bars and all(b.value_of_css_property("left").endswith("px") for b in bars)
    assert "waiting" in text(browser, "#payload-custom-status")
    if SCREENSHOTS:
        browser.set_window_size(1280, 1300)
        browser.save_screenshot(str(DOCS / "dashboard-instance.png"))
        browser.set_window_size(1280, 900)

    browser.find_element("id", "action-raise-event").click()
    wait_for(browser, lambda: browser.find_element("id", "dialog").is_displayed(), what="the dialog")
    browser.find_element("id", "event-name").send_keys("approval")
    browser.find_element("id", "event-data").send_keys('{"approved": true, "by": "the page"}')
    command = text(browser, "#dialog-command")
    assert command == (f"""dtsctl instance raise-event {iid} approval --data '{{"approved": true, "by": "the page"}}'"""
                       " --task-hub orders")
    browser.find_element("id", "dialog-ok").click()
    result = wait_text(browser, "#action-result", r"\w")
    assert iid in result or "approval" in result, result
    assert text(browser, "#dialog-command").startswith(f"dtsctl instance raise-event {iid} approval")
    browser.find_element("id", "dialog-cancel").click()

    # The page re-reads a running instance: it shows the completion without a reload.
    wait_text(browser, "#overview", r"COMPLETED", timeout=20)
    output = wait_text(browser, "#payload-output pre", r"approved")
    assert json.loads(output) == {"request": "new laptop", "outcome": "approved", "by": "the page"}
    state = sdk.get_orchestration_state(iid)
    assert state.runtime_status.name == "COMPLETED"


def test_script_payload_shows_as_text(browser, hub_env) -> None:
    iid = hub_env["ids"]["xss"]
    open_page(browser, hub_env, f"#/instance/{iid}")
    output = wait_text(browser, "#payload-output pre", re.escape(XSS))
    assert json.loads(output) == [f"Hello, {XSS}!", f"Hello, {IMG}!"]
    assert XSS in text(browser, "#payload-input pre")
    assert f"note={XSS}" in text(browser, "#overview")
    assert XSS in text(browser, "#history")
    assert no_alert(browser)
    # Nothing from the payload became an element.
    assert browser.execute_script("return document.querySelectorAll('#view script, #view b, #view img').length") == 0
    assert console_errors(browser) == []


def test_an_unknown_instance_shows_the_apis_sentence_in_the_banner(browser, hub_env) -> None:
    open_page(browser, hub_env, "#/instance/no-such-instance")
    banner = wait_text(browser, "#banner-text", r"no-such-instance")
    assert banner == text(browser, "#instance-error")
    assert browser.find_element("id", "banner").is_displayed()


def test_terminate_asks_first_and_shows_the_command(browser, hub_env) -> None:
    ids, sdk = hub_env["ids"], hub_env["sdk"]
    iid = ids["to_terminate"]
    open_page(browser, hub_env, f"#/instance/{iid}")
    wait_text(browser, "#overview", r"RUNNING")
    assert "team=payments" in text(browser, "#overview")
    # Cancel changes nothing.
    browser.find_element("id", "action-terminate").click()
    wait_for(browser, lambda: browser.find_element("id", "dialog").is_displayed(), what="the dialog")
    assert text(browser, "#dialog-command") == f"dtsctl instance terminate {iid} --task-hub orders"
    browser.find_element("id", "dialog-cancel").click()
    assert not browser.find_element("id", "dialog").is_displayed()
    assert sdk.get_orchestration_state(iid).runtime_status.name == "RUNNING"
    # Confirmed with a reason: the command follows the input, and the page shows the outcome.
    browser.find_element("id", "action-terminate").click()
    browser.find_element("id", "action-reason").send_keys("no longer needed")
    assert text(browser, "#dialog-command") == f"dtsctl instance terminate {iid} --reason 'no longer needed' --task-hub orders"
    browser.find_element("id", "dialog-ok").click()
    wait_text(browser, "#action-result", r"\w")
    browser.find_element("id", "dialog-cancel").click()
    wait_text(browser, "#overview", r"TERMINATED", timeout=20)
    assert sdk.get_orchestration_state(iid).runtime_status.name == "TERMINATED"
    assert browser.find_element("id", "action-purge").is_enabled()
    assert not browser.find_element("id", "action-terminate").is_enabled()


def test_restart_under_a_new_id_links_to_the_new_instance(browser, hub_env) -> None:
    iid = hub_env["ids"]["ok"]
    open_page(browser, hub_env, f"#/instance/{iid}")
    wait_text(browser, "#overview", r"COMPLETED")
    browser.find_element("id", "action-restart").click()
    browser.find_element("id", "action-new-id").click()
    assert text(browser, "#dialog-command") == f"dtsctl instance restart {iid} --new-id --task-hub orders"
    browser.find_element("id", "dialog-ok").click()
    link = wait_for(browser, lambda: browser.find_element("id", "new-instance"), what="the new instance's link")
    new_id = link.text
    assert new_id and new_id != iid
    link.click()
    browser.find_element("id", "dialog-cancel").click()
    wait_text(browser, "#instance-id", re.escape(new_id))
    output = wait_text(browser, "#payload-output pre", r"Hello", timeout=20)
    assert json.loads(output) == ["Hello, Tokyo!", "Hello, Seattle!"]


# ---------------------------------------------------------------------------------------- bulk


def test_bulk_purge_through_the_page_shows_the_dry_run_count_then_progress_then_the_report(browser, hub_env) -> None:
    ids, sdk = hub_env["ids"], hub_env["sdk"]
    console_errors(browser)  # read (and so cleared): an earlier test's expected 404s are not this one's
    open_page(browser, hub_env, "#/orchestrations?prefix=purge-me-")
    wait_rows(browser, lambda r: sorted(i for i, _ in r) == ids["purge"], "the three instances to purge")
    browser.find_element("id", "select-all-matching").click()
    assert "All 3 matching this filter" in text(browser, "#bulk")
    from selenium.webdriver.support.ui import Select

    Select(browser.find_element("id", "bulk-action")).select_by_value("purge")
    browser.find_element("id", "bulk-run").click()

    # The dry run's count comes first; nothing is purged until the button says so and is pressed.
    count = wait_text(browser, "#bulk-count", r"would be purged")
    assert text(browser, "#bulk-dry-count") == "3", count
    assert text(browser, "#dialog-ok") == "Purge 3 instances"
    assert "dtsctl instance purge" in text(browser, "#dialog-command")
    assert all(sdk.get_orchestration_state(i) is not None for i in ids["purge"])

    # Each state the progress line goes through, as the page draws it.
    browser.execute_script("""
        window.seenProgress = [];
        new MutationObserver(() => {
          const line = document.getElementById('bulk-counts');
          const fill = document.getElementById('bulk-bar-fill');
          if (line) window.seenProgress.push([line.textContent, fill.style.width]);
        }).observe(document.getElementById('dialog-result'), {childList: true, subtree: true, characterData: true});
    """)
    browser.find_element("id", "dialog-ok").click()
    report = wait_text(browser, "#bulk-report", r"Done: 3 of 3")
    assert re.search(r"Matched\s+3", report) and re.search(r"Failed\s+0", report)
    # The run was a job: its progress showed first (running), then the bar full above the report.
    seen = browser.execute_script("return window.seenProgress")
    assert seen and re.match(r"\d of 3 · done \d · failed 0 · skipped 0 · running", seen[0][0]), seen
    assert text(browser, "#bulk-counts").startswith("3 of 3 · done 3 · failed 0 · skipped 0 · done")
    assert browser.execute_script("return document.getElementById('bulk-bar-fill').style.width") == "100%"
    assert browser.find_elements("id", "bulk-cancel") == []  # nothing left to stop
    # The list behind the dialog was drawn again when the run ended.
    wait_text(browser, "#instances", r"No orchestration matches")
    assert text(browser, "#dialog-cancel") == "Close"
    browser.find_element("id", "dialog-cancel").click()
    wait_text(browser, "#instances", r"No orchestration matches")
    assert all(sdk.get_orchestration_state(i) is None for i in ids["purge"])
    assert console_errors(browser) == []


def test_a_bulk_run_stopped_from_the_page_reports_what_was_not_attempted(browser, hub_env, monkeypatch) -> None:
    from dtsctl.dashboard import backend as backend_module

    sdk, backend = hub_env["sdk"], hub_env["backend"]
    stop_ids = [f"stop-me-{i}" for i in range(8)]
    for iid in stop_ids:
        sdk.schedule_new_orchestration("approval", input={"request": iid, "timeout_seconds": WAIT_TIMEOUT}, instance_id=iid)
    deadline = time.monotonic() + 30
    while any(sdk.get_orchestration_state(i).runtime_status.name != "RUNNING" for i in stop_ids):
        assert time.monotonic() < deadline, "the instances to stop never ran"
        time.sleep(0.1)
    real = backend._per_item

    def slow(body):  # the same calls, one at a time and slower: the run lasts long enough to stop it
        per_item = real(body)
        return lambda conn, iid, status: (time.sleep(0.4), per_item(conn, iid, status))[1]

    monkeypatch.setattr(backend, "_per_item", slow)
    monkeypatch.setattr(backend_module, "BULK_CONCURRENCY", 1)
    open_page(browser, hub_env, "#/orchestrations?prefix=stop-me-")
    wait_rows(browser, lambda r: sorted(i for i, _ in r) == stop_ids, "the instances to stop")
    browser.find_element("id", "select-all-matching").click()
    from selenium.webdriver.support.ui import Select

    Select(browser.find_element("id", "bulk-action")).select_by_value("terminate")
    browser.find_element("id", "bulk-run").click()
    wait_text(browser, "#bulk-count", r"would be terminated")
    browser.find_element("id", "dialog-ok").click()
    wait_text(browser, "#bulk-counts", r"running")
    browser.find_element("id", "bulk-cancel").click()
    report = wait_text(browser, "#bulk-report", r"Stopped before the end", timeout=20)
    assert "· stopped" in text(browser, "#bulk-counts")
    not_attempted = int(re.search(r"Not attempted\s+(\d+)", report).group(1))
    done = int(re.search(r"Done\s+(\d+)", report).group(1))
    assert not_attempted > 0 and done + not_attempted == len(stop_ids), report
    browser.find_element("id", "dialog-cancel").click()
    deadline = time.monotonic() + 20
    while sum(sdk.get_orchestration_state(i).runtime_status.name == "TERMINATED" for i in stop_ids) != done:
        assert time.monotonic() < deadline, "the terminated ones are not what the report says"
        time.sleep(0.1)


# ---------------------------------------------------------------------------------------- the rest


def test_entities_workers_theme_and_a_narrow_window(browser, hub_env) -> None:
    open_page(browser, hub_env, "#/entities")
    wait_text(browser, "#entities", r"Entity id")
    open_page(browser, hub_env, "#/workers")
    wait_text(browser, "#view", r"Workers\n")
    theme = browser.find_element("id", "theme")
    before = browser.execute_script("return document.documentElement.dataset.theme")
    theme.click()
    after = browser.execute_script("return document.documentElement.dataset.theme")
    assert {before, after} == {"light", "dark"}
    bg = browser.execute_script("return getComputedStyle(document.body).backgroundColor")
    assert bg == ("rgb(17, 21, 28)" if after == "dark" else "rgb(246, 247, 249)")
    theme.click()

    # At 800 px the list fits without scrolling sideways, and the instance page stacks its panels.
    browser.set_window_size(800, 900)
    try:
        open_page(browser, hub_env, "#/orchestrations")
        wait_rows(browser, lambda r: len(r) >= 3, "the list at 800 px")
        fits = browser.execute_script("const w = document.querySelector('.table-wrap'); return w.scrollWidth <= w.clientWidth")
        assert fits
        open_page(browser, hub_env, f"#/instance/{hub_env['ids']['ok']}")
        wait_text(browser, "#overview", r"COMPLETED")
        left = [browser.find_element("id", i).rect["x"] for i in ("overview", "pending")]
        assert left[0] == left[1]
    finally:
        browser.set_window_size(1280, 900)
