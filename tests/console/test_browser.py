"""The console in headless Chromium, against a live stack of real processes.

One stack (ingest behind a token, two workers, four shards) and one page for
the module: the tests run in order, as an operator's session would, and the
last one kills a worker.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import httpx
import orjson
import pytest
import redis
from pydantic import TypeAdapter

from services.cli.probe import wait_until_up
from services.cli.redis_process import RedisProcess, free_port
from services.console.schemas import Resolved
from shared.keys import ShardKeys
from shared.model import Tx, TxType
from shared.sharding import shard_of
from tests import poison
from tests.console.browser import launched, screenshot
from tests.polling import wait_for
from tests.stack import Stack, workload

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Route

TOKEN = "console-token"
AUTH = {"authorization": f"Bearer {TOKEN}"}
JSON = {"content-type": "application/json"}
SHARDS = 4
WORKERS = ("w1", "w2")
SICK = ["sick-1", "sick-2"]  # accounts whose entries raise in the workers (on shards 1 and 3)


@pytest.fixture(scope="module")
def stack(shared_redis: RedisProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    redis.Redis.from_url(shared_redis.url).flushall()
    settings = {"TXFLOW_API_TOKEN": TOKEN, "TXFLOW_CONSOLE_SAMPLE_MS": "500"}
    logs = tmp_path_factory.mktemp("console-stack")
    # The workers run under the test hook: every entry of the SICK accounts raises
    # (from the start: the hook looks at its files every 0.1 s, but before any raise).
    hook = logs / "poison"
    poison.write(hook, "accounts", SICK)
    stack = Stack(shared_redis.url, logs, shards=SHARDS, settings=settings, poison=hook)
    try:
        stack.start_ingest()
        for worker in WORKERS:
            stack.start_worker(worker)

        # Settled shares, not only both workers owning something: a shard passed on
        # from one worker to the other is without an owner for a moment.
        def settled() -> bool:
            owners = list(stack.owners().values())
            return [owners.count(w) for w in WORKERS] == [SHARDS // 2] * 2

        wait_for(settled, 30, "both workers' shares")
        yield stack
    finally:
        stack.stop_all()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with launched() as found:
        yield found


@pytest.fixture(scope="module")
def page(browser: Browser, stack: Stack) -> Iterator[Page]:
    """The operator's tab (the browser first: without one, no stack is started)."""
    context = browser.new_context(viewport={"width": 1200, "height": 860})
    yield context.new_page()
    context.close()


def rows(page: Page, table: str, attribute: str) -> list[str]:
    """The ``data-<attribute>`` of every row of the table ``#<table>``."""
    found: list[str] = page.eval_on_selector_all(
        f"#{table} tbody tr", f"rows => rows.map(r => r.dataset.{attribute})"
    )
    return found


def legend(page: Page, series: str, field: str) -> str:
    """A chart legend's ``last`` or ``peak`` value of ``series`` ('' while it has none)."""
    return page.get_attribute(f'[data-series="{series}"]', f"data-{field}") or ""


def test_the_page_asks_for_the_token_then_shows_every_shard_and_worker(
    page: Page, stack: Stack
) -> None:
    page.goto(f"{stack.api}/console")
    page.locator("#login").wait_for(state="visible")
    page.fill("#token", TOKEN)
    page.click("#login button")
    wait_for(lambda: len(rows(page, "shards", "shard")) == SHARDS, 10, "a row per shard")
    assert rows(page, "shards", "shard") == [str(s) for s in range(SHARDS)]
    # The page shows a reading of every 500 ms: the owners as Redis has them, in time.
    wait_for(
        lambda: rows(page, "shards", "owner") == [stack.owners()[s] for s in range(SHARDS)],
        10,
        "each shard's owner on the page",
    )
    assert sorted(rows(page, "workers", "worker")) == list(WORKERS)
    assert page.is_hidden("#mode")  # not read-only: ingest has a token
    screenshot(page, "1-shards-and-workers")


def test_rates_rise_under_a_load(page: Page, stack: Stack) -> None:
    assert legend(page, "accepted_per_s", "peak") in ("", "0")  # nothing posted yet
    stop = threading.Event()
    poster = threading.Thread(target=post_until, args=(stack.api, stop), daemon=True)
    poster.start()
    try:
        wait_for(
            lambda: (
                float(legend(page, "accepted_per_s", "peak") or 0) > 0
                and float(legend(page, "processed_per_s", "peak") or 0) > 0
                and legend(page, "p99_ms", "peak") != ""  # latencies measured
                and any(float(rate or 0) > 0 for rate in rows(page, "shards", "commitRate"))
            ),
            20,
            "the charts and the shards' commit rates to show the load",
        )
        screenshot(page, "2-under-load")
    finally:
        stop.set()
        poster.join(30)


def post_until(api: str, stop: threading.Event) -> None:
    """Post batches of a workload until ``stop`` (retrying a 429 is as good as a 202 here)."""
    txs = workload(200, 50)
    with httpx.Client(base_url=api, headers=AUTH, timeout=10) as http:
        for i in range(0, len(txs), 100):
            if stop.is_set():
                return
            body = orjson.dumps([t.to_wire() for t in txs[i : i + 100]])
            http.post("/v1/transactions/batch", content=body, headers=JSON)


def test_a_dead_letter_is_replayed_through_its_button(page: Page, stack: Stack) -> None:
    tx = Tx("dl-account", "dl-1", TxType.DEPOSIT, 25_000)
    dlq_id = write_dead_letter(stack, tx)
    row = page.locator(f'#dead-letters tr[data-id="{dlq_id}"]')
    row.wait_for(state="visible")
    assert "dl-account" in row.inner_text() and "poisoned by a test" in row.inner_text()
    screenshot(page, "3-dead-letter")
    row.get_by_role("button", name="Replay").click()
    row.wait_for(state="detached")  # a timed refresh may drop it before the answer is shown
    page.wait_for_function("document.getElementById('message').textContent.includes('replayed')")
    wait_for(lambda: applied(stack.api, tx), 20, "the replayed deposit to be applied")


def write_dead_letter(stack: Stack, tx: Tx) -> str:
    """A dead letter of ``tx`` as the worker writes one (an entry that kept failing)."""
    doc = {"e": "1-1", "d": tx.encode().decode(), "reason": "poisoned by a test"}
    with redis.Redis.from_url(stack.redis_url, decode_responses=True) as client:
        k = ShardKeys(shard_of(tx.account_id, SHARDS))
        dlq_id: Any = client.xadd(k.dlq, {"d": orjson.dumps(doc)})
    return str(dlq_id)


def applied(api: str, tx: Tx) -> bool:
    r = httpx.get(f"{api}/v1/accounts/{tx.account_id}/transactions/{tx.tx_id}", headers=AUTH)
    return r.status_code == 200 and r.json()["status"] == "applied"


def test_parked_accounts_are_retried_and_skipped_through_their_buttons(
    page: Page, stack: Stack
) -> None:
    assert stack.poison is not None
    deposits = [Tx(a, f"d{n}", TxType.DEPOSIT, 100_000) for n in (1, 2, 3) for a in SICK]
    body = orjson.dumps([t.to_wire() for t in deposits])
    r = httpx.post(f"{stack.api}/v1/transactions/batch", content=body, headers=AUTH | JSON)
    assert r.status_code == 202, r.text
    held = '#parked tr[data-account="{}"] td:nth-child(3)'
    wait_for(
        lambda: (
            rows(page, "parked", "account") == SICK
            and all(page.inner_text(held.format(a)) == "3" for a in SICK)
        ),
        60,
        "both accounts parked, each holding its three deposits",
    )
    assert "injected poison" in page.inner_text('#parked tr[data-account="sick-1"]')
    screenshot(page, "4-parked")
    poison.write(stack.poison, "accounts", [])  # the cause is fixed

    retried = act(page, "sick-1", "Retry")
    assert retried["status"] == "released" and retried["outcomes"] == {"applied": 3}
    assert "released" in page.inner_text("#message")
    wait_for(lambda: balance(stack.api, "sick-1") == "30.0000", 10, "three deposits applied")

    page.once("dialog", lambda dialog: dialog.accept("a bad deposit"))
    skipped = act(page, "sick-2", "Skip")
    assert skipped["status"] == "released" and skipped["outcomes"] == {"dead": 1, "applied": 2}
    wait_for(lambda: balance(stack.api, "sick-2") == "20.0000", 10, "the two others applied")
    letter = page.locator('#dead-letters tr:has-text("sick-2")')
    letter.wait_for(state="visible")
    assert "a bad deposit" in letter.inner_text()
    assert rows(page, "parked", "account") == []


def act(page: Page, account: str, button: str) -> dict[str, Any]:
    """Click the parked account's button; the action's answer (its shape checked)."""
    with page.expect_response(f"**/v1/parked/{account}/*") as answer:
        page.locator(f'#parked tr[data-account="{account}"]').get_by_role(
            "button", name=button
        ).click()
    assert answer.value.status == 200
    doc: dict[str, Any] = answer.value.json()
    TypeAdapter(Resolved).validate_python(doc)
    page.locator(f'#parked tr[data-account="{account}"]').wait_for(state="detached")
    return doc


def balance(api: str, account: str) -> str | None:
    r = httpx.get(f"{api}/v1/accounts/{account}", headers=AUTH)
    return r.json()["available"] if r.status_code == 200 else None


def test_docs_render_offline(page: Page, stack: Stack) -> None:
    elsewhere: list[str] = []

    def only_ingest(route: Route) -> None:
        if route.request.url.startswith(stack.api):
            route.continue_()
        else:  # offline: a request anywhere else would fail
            elsewhere.append(route.request.url)
            route.abort()

    docs = page.context.new_page()
    docs.route("**/*", only_ingest)
    docs.goto(f"{stack.api}/docs")
    docs.locator(".opblock").first.wait_for(state="visible")
    assert elsewhere == []
    docs.close()


def test_without_a_token_the_page_is_read_only(page: Page, stack: Stack) -> None:
    api = start_open_ingest(stack)
    dlq_id = write_dead_letter(stack, Tx("ro-account", "ro-1", TxType.DEPOSIT, 100))
    open_page = page.context.new_page()
    open_page.goto(f"{api}/console")
    replay = open_page.locator(f'#dead-letters tr[data-id="{dlq_id}"] button')
    replay.wait_for(state="visible")
    assert open_page.is_hidden("#login")  # nothing to log in to
    assert "read-only" in open_page.inner_text("#mode")
    assert replay.is_disabled() and "TXFLOW_API_TOKEN" in (replay.get_attribute("title") or "")
    screenshot(open_page, "5-read-only")
    open_page.close()


# Counts the page's status requests as they are sent (before fetch's first await),
# and as their bodies are read (the rest of the page's refresh follows at once).
COUNT_STATUS_FETCHES = """
window.statusFetches = window.statusRead = 0;
const fetchOnce = window.fetch;
window.fetch = async (url, ...rest) => {
  if (!String(url).endsWith("/v1/status")) return fetchOnce(url, ...rest);
  window.statusFetches += 1;
  const response = await fetchOnce(url, ...rest);
  const json = response.json.bind(response);
  response.json = () => json().finally(() => { window.statusRead += 1; });
  return response;
};
"""


def test_refreshes_that_overlap_leave_one_polling_loop(browser: Browser, stack: Stack) -> None:
    # An action refreshes the page at once, maybe while the timed refresh is in flight;
    # each used to schedule its own next one, and every such action added a loop.
    history = httpx.get(f"{stack.api}/v1/status", headers=AUTH).json()["history"]
    context = browser.new_context()
    tab = context.new_page()
    try:
        tab.clock.install()  # the page's timers run only when the test says
        tab.add_init_script(f"sessionStorage.setItem('txflow.token', '{TOKEN}');")
        tab.add_init_script(COUNT_STATUS_FETCHES)
        tab.goto(f"{stack.api}/console")
        tab.evaluate("() => { refresh(); refresh(); }")  # three readings under way
        tab.wait_for_function("window.statusRead === 3")
        for n in range(4, 7):  # one reading per interval, no more
            tab.clock.run_for(history["interval_ms"])
            assert tab.evaluate("window.statusFetches") == n
            tab.wait_for_function(f"window.statusRead === {n}")
    finally:
        context.close()


def start_open_ingest(stack: Stack) -> str:
    """A second ingest on the same Redis, without a token."""
    port = free_port()
    env = {**stack.env(), "TXFLOW_API_TOKEN": ""}
    argv = [sys.executable, "-m", "services.ingest", "--host", "127.0.0.1", "--port", str(port)]
    with (stack.logs / "ingest-open.log").open("ab") as log:
        proc = subprocess.Popen(argv, env=env, stdout=log, stderr=log)
    stack.procs["ingest-open"] = proc
    api = f"http://127.0.0.1:{port}"
    wait_until_up(f"{api}/healthz", watch={"ingest-open": proc}, timeout=30)
    return api


def test_a_worker_killed_with_sigkill_is_gone_and_its_shards_move(page: Page, stack: Stack) -> None:
    assert "w1" in rows(page, "shards", "owner")
    stack.signal("w1", signal.SIGKILL)
    wait_for(
        lambda: (
            rows(page, "shards", "owner") == ["w2"] * SHARDS
            and rows(page, "workers", "worker") == ["w2"]
        ),
        20,
        "the page to show every shard owned by w2, and w1 gone",
    )
    screenshot(page, "6-after-kill-9")
