"""Start-up in every engine: the runtime's workers, a page loaded again and again, a browser
that caps workers per site.

Firefox makes a worker that calls `new Worker()` wait for the main thread, and while a
debugger is attached (this very test run drives Firefox through WebDriver BiDi) that wait now
and then never ends: a few start-ups in a hundred froze with no error. The runtime therefore
creates every worker on the page's thread (bootstrap.js).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from conftest import NewPage, OpenLab
from pages import assert_no_uncaught, call, open_lab, said_in_the_console
from wbspawn.check import firefox
from wbspawn.check.browser import Browser

pytestmark = [pytest.mark.browser, pytest.mark.build]

# An app started in a lab page that started none of its own, with `options`, then asked for
# `threads` spawned threads (none: started only), with every `new Worker` the page makes
# recorded, and whether the app worker had said it was ready by then.
RECORDED_START = """async ({ options, threads }) => {
    const made = [];
    let appReady = false;
    const Original = window.Worker;
    window.Worker = class extends Original {
        constructor(url, options) {
            super(url, options);
            const name = options?.name ?? String(url);
            made.push({ name, appReady });
            if (name === "wbspawn-app") {
                // Registered before bootstrap.js sets onmessage, so it hears "ready" first.
                this.addEventListener("message", ({ data }) => {
                    if (data.type === "ready") appReady = true;
                });
            }
        }
    };
    try {
        const { start } = await import("/_wbspawn/bootstrap.js");
        let app;
        try {
            app = await start("/pkg/lab.js", options);
        } catch (error) {
            return { made, error: String(error) };
        }
        const squares = threads > 0 ? await app.call("spawn_join", "std", threads) : [];
        app.terminate();
        return { made, squares };
    } finally {
        window.Worker = Original;
    }
}"""
PRESTART_2 = {"options": {"prestart": 2, "idleTimeoutMs": 60000}, "threads": 4}


def test_every_worker_is_created_by_the_page(new_lab: OpenLab) -> None:
    # No worker may construct one (the reason is the module's docstring): the app worker, the
    # dispatcher and every thread worker come from the page's own `new Worker`.
    started = new_lab("?app=none").evaluate(RECORDED_START, PRESTART_2)
    assert "error" not in started, started
    assert started["squares"] == [0, 1, 4, 9]
    made = [each["name"] for each in started["made"]]
    assert made.count("wbspawn-app") == 1 and made.count("wbspawn-dispatcher") == 1, made
    threads = [name for name in made if name.startswith("wbspawn-worker-")]
    # Two prestarted workers at least (their standby may come after the call), each once.
    assert len(threads) >= 2 and len(set(threads)) == len(threads), made
    assert len(made) == 2 + len(threads), made


def test_the_prestarted_workers_start_with_the_app_and_the_dispatcher_after(
    new_lab: OpenLab,
) -> None:
    # rayon's first job waits for every thread of its pool: the prestarted workers start with
    # the app and the app worker boots them itself; the dispatcher, which nothing needs before
    # the app is ready, starts after (every worker started beside the app slows its start).
    started = new_lab("?app=none").evaluate(RECORDED_START, PRESTART_2)
    assert "error" not in started, started
    before = [each["name"] for each in started["made"] if not each["appReady"]]
    after = [each["name"] for each in started["made"] if each["appReady"]]
    assert before == ["wbspawn-app", "wbspawn-worker-1", "wbspawn-worker-2"], started["made"]
    assert after[:1] == ["wbspawn-dispatcher"], started["made"]


# Threads that all wait for each other need a worker each, at once: on a fresh page, every
# prestarted worker must start, and so must workers booted before the page has made them
# (past the standby).
ALL_AT_ONCE = """async (threads) => Promise.race([
    window.wbspawnApp.call("all_wait_for_each_other", threads).then(() => "all ran"),
    new Promise((resolve) => setTimeout(() => resolve("some never started"), 20000)),
])"""


@pytest.mark.parametrize(
    ("query", "threads"),
    [("?prestart=2&idleTimeoutMs=60000", 2), ("?prestart=0&idleTimeoutMs=60000", 4)],
    ids=["prestarted", "booted-before-made"],
)
def test_every_worker_a_fresh_page_needs_at_once_starts(
    new_lab: OpenLab, query: str, threads: int
) -> None:
    # A boot lost on the way (a worker that never starts) would hang here. Firefox loses a
    # boot posted on a port that is then moved to another worker (docs/browsers.md).
    assert new_lab(query).evaluate(ALL_AT_ONCE, threads) == "all ran"


# The second prestarted worker says it loaded only after the app is ready (its messages to the
# page held back 1 s), and the app's first call blocks its worker at once on threads that need
# both workers. Its boot request must not wait in the app worker for the page's word: that
# worker's events wait for the call's end, which waits for the boot (1 page in 7 hung so in
# bench-rayon, a pool of two asked for its first job the moment the app was ready).
LATE_SECOND_WORKER = """async () => {
    const Original = window.Worker;
    window.Worker = class extends Original {
        constructor(url, options) {
            super(url, options);
            this.late = options?.name === "wbspawn-worker-2";
        }
        set onmessage(handler) {
            super.onmessage = this.late
                ? (event) => setTimeout(() => handler(event), 1000)
                : handler;
        }
        get onmessage() {
            return super.onmessage;
        }
    };
    try {
        const { start } = await import("/_wbspawn/bootstrap.js");
        const app = await start("/pkg/lab.js", { prestart: 2 });
        const ran = await Promise.race([
            app.call("all_wait_for_each_other", 2).then(() => "all ran"),
            new Promise((resolve) => setTimeout(() => resolve("a thread never started"), 15000)),
        ]);
        app.terminate();
        return ran;
    } finally {
        window.Worker = Original;
    }
}"""


def test_a_prestarted_worker_that_loads_after_the_app_is_ready_still_boots(
    new_lab: OpenLab,
) -> None:
    assert new_lab("?app=none").evaluate(LATE_SECOND_WORKER) == "all ran"


# The page fetches the wasm and hands the app worker the body as a stream; an engine that
# cannot transfer a stream (postMessage throws DataCloneError, as in WebKit) gets the bytes of
# that same fetch, and the app starts.
START_WITHOUT_STREAMS = """async () => {
    const sent = [];
    const post = Worker.prototype.postMessage;
    Worker.prototype.postMessage = function (message, transfer) {
        if (message?.type === "wasm") {
            sent.push(message.body ? "stream" : message.bytes ? "bytes" : "error");
            if (message.body) throw new DOMException("no streams here", "DataCloneError");
        }
        return post.call(this, message, transfer);
    };
    try {
        const { start } = await import("/_wbspawn/bootstrap.js");
        const app = await start("/pkg/lab.js", { prestart: 1 });
        const squares = await app.call("spawn_join", "std", 3);
        app.terminate();
        return { sent, squares };
    } finally {
        Worker.prototype.postMessage = post;
    }
}"""


def test_an_engine_that_cannot_transfer_the_wasm_stream_still_starts(new_lab: OpenLab) -> None:
    started = new_lab().evaluate(START_WITHOUT_STREAMS)
    assert started == {"sent": ["stream", "bytes"], "squares": [0, 1, 4]}


def test_a_missing_wasm_fails_start_with_its_url(new_lab: OpenLab) -> None:
    message = new_lab().evaluate(
        """async () => {
            const { start } = await import("/_wbspawn/bootstrap.js");
            try {
                await start("/pkg/lab.js", { wasmUrl: "/pkg/gone_bg.wasm" });
                return "started";
            } catch (error) {
                return String(error);
            }
        }"""
    )
    assert "the app failed to start" in message, message
    assert "/pkg/gone_bg.wasm: HTTP 404" in message, message


@pytest.mark.parametrize(
    ("options", "said"),
    [
        ({"maxWorkers": 0}, "option maxWorkers must be a whole number from 1 to 2147483647, not 0"),
        ({"prestart": -1}, "option prestart must be a whole number from 0 to 2147483647, not -1"),
        (
            {"idleTimeoutMs": "50"},
            'option idleTimeoutMs must be a whole number from 1 to 2147483647, not "50"',
        ),
        (
            {"maxworkers": 4},
            "start() has no option maxworkers (it takes wasmUrl, args, mode, maxWorkers,",
        ),
        ({"mode": "page"}, 'start()\'s option mode must be "worker" or "main", not "page"'),
    ],
    ids=["zero-cap", "negative", "string", "misspelt", "mode"],
)
def test_a_bad_option_fails_start_naming_it_and_starts_no_worker(
    new_lab: OpenLab, options: dict[str, object], said: str
) -> None:
    started = new_lab("?app=none").evaluate(RECORDED_START, {"options": options, "threads": 0})
    assert said in started.get("error", "started"), started
    assert started["made"] == [], started


@pytest.mark.not_in(
    "webkit",
    reason="each WebKit page is a browser process of its own (about 2 s to start): 30 loads "
    "would add a minute, and every other lab test there starts the app too",
)
def test_the_app_starts_30_times_in_a_row(new_page: NewPage, lab_url: str) -> None:
    # The Firefox hang showed in about one start-up in 30 of this kind (a fresh tab each
    # time); every one must start, with nothing retried.
    for attempt in range(30):
        page = new_page()
        started = time.monotonic()
        open_lab(page, lab_url, "?prestart=2")
        assert call(page, "spawn_join", "std", 3) == [0, 1, 4], f"load {attempt + 1}"
        assert time.monotonic() - started < 30, f"load {attempt + 1} took too long"
        assert_no_uncaught(page)
        page.close()


# --- a browser that limits workers per site -------------------------------------------------

# Firefox queues a worker past `dom.workers.maxPerDomain` without a word. With 3, the page's
# app worker, its first thread worker and the dispatcher fit; the standby made when the first
# thread worker is used is the fourth, and never starts.
WORKER_CAP = 3


@pytest.fixture(scope="module")
def capped_firefox() -> Iterator[Browser]:
    browser = firefox.launch(prefs={"dom.workers.maxPerDomain": WORKER_CAP})
    yield browser
    browser.close()


def test_a_worker_the_browser_never_starts_is_said_in_the_console(
    capped_firefox: Browser, lab_url: str
) -> None:
    page = capped_firefox.new_page()
    try:
        open_lab(page, lab_url, "?prestart=0")
        # Two threads that wait for each other: the second needs a worker past the cap.
        page.evaluate("() => { window.wbspawnApp.call('all_wait_for_each_other', 2); }")
        errors = said_in_the_console(page, "has not started", within_s=25)
        said = [e for e in errors if "has not started" in e]
        assert said, errors
        assert "dom.workers.maxPerDomain" in said[0]
        assert "maxWorkers" in said[0]
    finally:
        page.close()


def test_a_first_thread_worker_the_browser_never_starts_is_said_in_the_console(
    lab_url: str,
) -> None:
    # With room for the app worker alone, start() waits for the first thread worker (the app
    # hands it the memory) and must say why rather than hang in silence.
    with firefox.launch(prefs={"dom.workers.maxPerDomain": 1}) as browser:
        page = browser.new_page()
        page.open(lab_url)
        errors = said_in_the_console(page, "has not started", within_s=25)
        said = [e for e in errors if "has not started" in e]
        assert said, errors
        assert "start() waits for it" in said[0]
        assert "dom.workers.maxPerDomain" in said[0]
