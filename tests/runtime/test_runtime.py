"""The thread runtime in a real browser: the demo app, served by the dev server, in every
engine (Chromium, Firefox, WebKit).

One page per engine runs the whole demo once per module (it checks itself and ends with
done(...)); the tests then drive the app's exports through `window.wbspawnApp.call`, as a page
would.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import pytest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pages import assert_no_uncaught, call, calling, wait_for_done
from wbspawn.build.pipeline import BuildResult
from wbspawn.check.browser import Browser, Page
from wbspawn.config import Config
from wbspawn.serve.app import create_app
from wbspawn.serve.headers import ISOLATION_HEADERS
from wbspawn.serve.server import running

pytestmark = [pytest.mark.browser, pytest.mark.build]


@pytest.fixture(scope="module")
def demo(engine: Browser, demo_url: str) -> Iterator[Page]:
    """The demo page after it finished its own checks."""
    page = engine.new_page()
    page.open(demo_url)
    status, detail = wait_for_done(page)
    assert (status, page.uncaught()) == ("pass", []), detail
    yield page
    page.close()


@pytest.fixture
def app(demo: Page) -> Iterator[Page]:
    yield demo
    assert_no_uncaught(demo)


def test_page_is_cross_origin_isolated(app: Page) -> None:
    assert app.evaluate("crossOriginIsolated") is True
    assert app.evaluate("typeof SharedArrayBuffer") == "function"


def test_demo_reports_its_checks(app: Page) -> None:
    assert app.evaluate("document.querySelectorAll('#results tr').length") >= 10
    assert app.evaluate("document.querySelectorAll('#results tr.fail').length") == 0
    assert app.evaluate("document.documentElement.dataset.wbspawnDetail") is not None


@pytest.mark.parametrize("threads", range(1, 17))
def test_spawn_join_returns_each_threads_value(app: Page, threads: int) -> None:
    assert call(app, "spawn_join", threads) == [i * i for i in range(threads)]


def test_nested_spawn_three_deep(app: Page) -> None:
    assert call(app, "nested", 3) == 3


def test_spawn_from_a_thread_that_a_thread_spawned(app: Page) -> None:
    assert call(app, "spawn_from_grandchild", 10) == sum(range(1, 11))


def test_mpsc_messages_arrive_in_order(app: Page) -> None:
    assert call(app, "pipeline", 2000) == [2 * i for i in range(2000)]


def test_contended_mutex_counter_is_exact(app: Page) -> None:
    assert call(app, "mutex_counter", 8, 20_000) == 160_000


def test_condvar_hand_off(app: Page) -> None:
    assert call(app, "condvar_handoff", 200) == 200


def test_panic_gives_err_with_message_and_app_keeps_working(app: Page) -> None:
    assert call(app, "caught_panic") == "deliberate panic number 42"
    assert call(app, "spawn_join", 4) == [0, 1, 4, 9]
    assert call(app, "caught_panic") == "deliberate panic number 42"
    assert call(app, "nested", 3) == 3


def test_default_build_aborts_on_panic(app: Page) -> None:
    assert call(app, "panic_strategy") == "abort"
    assert "built with panic=abort" in calling(app, "panic_aftermath")
    # An `Err` an export returns is an ordinary rejection: the app keeps working.
    assert call(app, "nested", 1) == 1


def test_200_sequential_spawn_join(app: Page) -> None:
    assert call(app, "sequential", 200) == sum(i % 7 for i in range(200))


def test_threads_see_their_names(app: Page) -> None:
    assert call(app, "thread_names", 5) == [f"named-{i}" for i in range(5)]


def test_each_spawn_is_a_fresh_thread_with_its_own_id(app: Page) -> None:
    ids = call(app, "sequential_thread_ids", 50)
    assert len(set(ids)) == 50


def test_scoped_threads_borrow_from_the_stack(app: Page) -> None:
    assert call(app, "scoped_sum", 10_000) == sum(range(10_000))


def test_join_async_leaves_the_app_worker_free_for_other_calls(app: Page) -> None:
    # The gated thread ends only when open_gate() runs; open_gate is a second call to the same
    # app worker, which gets through only if the first call is awaiting, not blocked in join.
    outcome = app.evaluate(
        """async () => {
            const waiting = window.wbspawnApp.call("await_gated_thread");
            await window.wbspawnApp.call("open_gate");
            const timeout = new Promise((resolve) => setTimeout(() => resolve("timed out"), 20000));
            return Promise.race([waiting, timeout]);
        }"""
    )
    assert outcome == 7


def test_parallel_primes_agree_with_one_thread(app: Page) -> None:
    one = call(app, "count_primes", 1, 200_000)
    four = call(app, "count_primes", 4, 200_000)
    assert sum(one) == sum(four) == 17_984
    assert len(four) == 4


def test_main_thread_keeps_animating_during_a_long_parallel_job(app: Page) -> None:
    frames = app.evaluate(
        """async () => {
            const stamps = [];
            let running = true;
            const tick = (t) => { stamps.push(t); if (running) requestAnimationFrame(tick); };
            requestAnimationFrame(tick);
            const t0 = performance.now();
            await window.wbspawnApp.call("count_primes", 2, 3000000);
            const elapsed = performance.now() - t0;
            running = false;
            const gaps = stamps.slice(1).map((t, i) => t - stamps[i]);
            return { elapsed, frames: stamps.length, maxGap: Math.max(...gaps) };
        }"""
    )
    # The job must be long enough for the check to mean something.
    assert frames["elapsed"] > 500, frames
    # A blocked main thread would show one frame and a gap as long as the job.
    assert frames["frames"] >= 5, frames
    assert frames["maxGap"] < frames["elapsed"] / 2, frames


def test_panic_on_the_apps_own_thread_rejects_the_call(tab: Page, demo_url: str) -> None:
    tab.open(demo_url)
    wait_for_done(tab)
    first = calling(tab, "panic_in_app")
    assert "the app itself panicked" in first
    assert "lib.rs" in first  # the panic's location
    assert "crashed earlier" in calling(tab, "nested", 1)
    unknown = calling(tab, "no_such_fn")
    assert "crashed earlier" in unknown or "no function" in unknown
    assert_no_uncaught(tab)


class PolicyByType:
    """Adds a Content-Security-Policy by response type: the strict page policy on HTML, and on
    scripts the same plus 'wasm-unsafe-eval' (the app worker compiles the module)."""

    def __init__(self, app: ASGIApp, page_policy: str, script_policy: str) -> None:
        self.app, self.page_policy, self.script_policy = app, page_policy, script_policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_policy(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                content_type = dict(headers).get(b"content-type", b"")
                policy = self.page_policy if b"text/html" in content_type else self.script_policy
                headers.append((b"content-security-policy", policy.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_policy)


def serve_demo(config: Config, result: BuildResult, headers: Mapping[str, str]) -> ASGIApp:
    return create_app(config, result, headers=headers)


def test_strict_csp_page_works(tab: Page, demo_config: Config, demo_build: BuildResult) -> None:
    app = PolicyByType(
        serve_demo(demo_config, demo_build, ISOLATION_HEADERS),
        page_policy="script-src 'self'",
        script_policy="script-src 'self' 'wasm-unsafe-eval'",
    )
    with running(app) as url:
        tab.open(url)
        status, detail = wait_for_done(tab)
    assert status == "pass", detail
    assert_no_uncaught(tab)


def test_without_isolation_headers_start_explains_what_is_missing(
    tab: Page, demo_config: Config, demo_build: BuildResult
) -> None:
    with running(serve_demo(demo_config, demo_build, {})) as url:
        tab.open(url)
        status, detail = wait_for_done(tab)
    assert status == "fail"
    assert "Cross-Origin-Opener-Policy" in detail
    assert_no_uncaught(tab)
