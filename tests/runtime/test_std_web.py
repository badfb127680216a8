"""The rest of std that threaded code touches, in every engine and both panic modes: the clock
and everything that waits with a timeout, standard output and error from any thread, the
program's arguments and its end (`process::exit`, `abort`), and what a browser cannot do.

Times are asserted as behaviour (a timeout waited at least its time and timed out), never as
speed: `make bench` measures.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from conftest import NewPage
from pages import assert_no_uncaught, call, calling, open_lab, wait_for_done
from wbspawn.check.browser import Browser, Page
from wbspawn.check.output import output_lines
from wbspawn.output import OutputLine

pytestmark = [pytest.mark.browser, pytest.mark.build]

# A reading may land up to the engine's timer resolution (20 µs) before the true time.
SLACK_MS = 0.1


@pytest.fixture(scope="module")
def lab(engine: Browser, lab_url_for_panic: str) -> Iterator[Page]:
    """One lab page for the questions that leave the app running."""
    page = engine.new_page()
    open_lab(page, lab_url_for_panic)
    yield page
    assert_no_uncaught(page)
    page.close()


def lines_of(page: Page, thread: str) -> list[tuple[str, str]]:
    """(stream, text) of every line `thread` printed, in order."""
    return [(line.stream, line.text) for line in printed(page) if line.thread == thread]


def printed(page: Page) -> list[OutputLine]:
    return output_lines(page.console)


def wait_for_line(page: Page, text: str, within_s: float = 10) -> None:
    """Output reaches the console a moment after the call that printed it returned."""
    for _ in range(int(within_s / 0.05)):
        if any(line.text == text for line in printed(page)):
            return
        page.pause(0.05)
    raise AssertionError(f"no line {text!r} in the output: {printed(page)}")


# --- time -------------------------------------------------------------------------------------


def test_instant_measures_a_sleep_and_park_timeout(lab: Page) -> None:
    assert call(lab, "instant_around_sleep", 50) >= 50 - SLACK_MS
    assert call(lab, "park_timeout", 40) >= 40 - SLACK_MS


def test_instants_are_one_clock_in_every_thread(lab: Page) -> None:
    # A relay of threads, each reading after the one before: never an earlier reading.
    assert call(lab, "instants_across_threads", 60) == 0
    readings, backwards, distinct = call(lab, "clock_monotonic_under_load", 2, 100)
    assert readings > 0
    assert backwards == 0
    assert distinct > 0
    # Finer than a millisecond in every engine (5 µs Chromium, 20 µs Firefox and WebKit).
    assert 0 < call(lab, "clock_resolution_us", 200_000) < 1000


def test_system_time_is_the_wall_clock(lab: Page) -> None:
    rust_ms, js_ms = lab.evaluate(
        "() => window.wbspawnApp.call('system_time_ms').then((ms) => [ms, Date.now()])"
    )
    # Date.now() on both sides, one of them through nanoseconds and back: equal or later.
    assert -0.01 < js_ms - rust_ms < 5000


@pytest.mark.parametrize("on_app_thread", [True, False])
def test_timeouts_time_out(lab: Page, on_app_thread: bool) -> None:
    timed_out, waited = call(lab, "condvar_wait_timeout_while", 60, on_app_thread)
    assert timed_out == 1
    assert waited >= 60 - SLACK_MS
    timed_out, waited = call(lab, "recv_timeout", 60)
    assert timed_out == 1
    assert waited >= 60 - SLACK_MS


def test_a_thread_waiting_with_a_timeout_is_woken_by_another(lab: Page) -> None:
    # Before the clock, this hung the app: the waiter panicked holding the lock the app's
    # thread then took.
    timed_out, waited = call(lab, "condvar_handshake", 30)
    assert timed_out == 0
    assert waited < 30_000


def test_crossbeam_channel_timers(lab: Page) -> None:
    after_ms, select_ms, recv_timed_out, ticks = call(lab, "crossbeam_timeouts", 60)
    assert after_ms >= 60 - SLACK_MS
    assert select_ms >= 60 - SLACK_MS
    assert recv_timed_out == 1
    assert 1 <= ticks <= 6  # a tick every 12 ms for 66 ms


def test_parking_lot_timed_lock_and_condvar(lab: Page) -> None:
    timed_out, waited, condvar_timed_out = call(lab, "parking_lot_timeouts", 60)
    assert timed_out == 1
    assert waited >= 60 - SLACK_MS
    assert condvar_timed_out == 1


# --- output -----------------------------------------------------------------------------------


def test_every_thread_prints_whole_lines_in_order(lab: Page) -> None:
    call(lab, "print_from_threads", 3, 8)
    wait_for_line(lab, "main says goodbye")
    for t in range(3):
        name = f"printer-{t}"
        assert lines_of(lab, name) == [
            *[("stdout", f"{name} line {i}") for i in range(8)],
            ("stderr", f"{name} done on stderr"),
            ("stderr", f"{name} stderr write"),
        ]
    main = lines_of(lab, "main")
    hello, goodbye = (
        main.index(("stdout", "main says hello")),
        main.index(("stdout", "main says goodbye")),
    )
    dbg = [text for stream, text in main if stream == "stderr" and "value = 42" in text]
    assert len(dbg) == 1
    assert dbg[0].startswith("[tests/apps/lab/src/std_web.rs:")
    # The app's thread printed "hello" before spawning and "goodbye" after every join.
    everything = [line.text for line in printed(lab)]
    assert everything.index("main says hello") < everything.index("printer-0 line 0")
    assert everything.index("printer-2 stderr write") < everything.index("main says goodbye")
    assert hello < goodbye


def test_unfinished_lines_wait_for_a_newline_or_a_flush(lab: Page) -> None:
    # std's stdout is one buffer for every thread, as on native: a thread's unfinished line
    # waits there until someone ends the line or flushes.
    call(lab, "print_unfinished", "no newline, ")
    wait_for_line(lab, "no newline, flushed by hand")


@pytest.mark.not_in(
    "webkit", reason="WebKitGTK 2.50 mishandles the unwinding build's panics (docs/browsers.md)"
)
def test_a_panic_is_printed_once_on_stderr(lab: Page) -> None:
    assert call(lab, "panic_message_printed") == "printed once"
    wait_for_line(lab, "printed once")
    loud = lines_of(lab, "loud")
    assert [text for _, text in loud].count("printed once") == 1
    assert {stream for stream, _ in loud} == {"stderr"}
    assert any(
        text.startswith("thread 'loud' (") and "panicked at tests/apps/lab/src/std_web.rs" in text
        for _, text in loud
    )


# --- the program ------------------------------------------------------------------------------


def test_args_are_what_the_page_passed(new_page: NewPage, lab_url_for_panic: str) -> None:
    page = new_page()
    open_lab(page, lab_url_for_panic, '?args=["--fast","two words"]')
    assert call(page, "args") == ["lab", "--fast", "two words"]


def test_without_args_the_program_has_only_its_name(lab: Page) -> None:
    assert call(lab, "args") == ["lab"]


def test_what_a_browser_cannot_do_is_an_error_not_a_hang(lab: Page) -> None:
    assert call(lab, "unsupported") == [
        "fs::read: Unsupported",
        "fs::write: Unsupported",
        "TcpStream::connect: Unsupported",
        "UdpSocket::bind: Unsupported",
        "Command::output: Unsupported",
        "env::current_dir: Unsupported",
        "env::var: environment variable not found",
    ]


EXITED = """() => window.wbspawnApp.exited.then((end) => [end.code, end.aborted,
    document.documentElement.dataset.wbspawnExit])"""


# The program's output and its end in the order the page hears them (bootstrap's events, both
# sent by the dispatcher).
HEARING = """() => {
  window.heard = [];
  addEventListener("wbspawn:output", (e) => window.heard.push(...e.detail.map((l) => l.text)));
  addEventListener("wbspawn:exit", () => window.heard.push("(exit)"));
}"""


def assert_ended(page: Page, code: int, aborted: bool) -> None:
    assert page.evaluate(EXITED) == [code, aborted, str(code)]
    # Every later call and question is refused: the app is gone.
    assert calling(page, "args").startswith("rejected: wbspawn: the app ")
    assert (
        page.evaluate(
            "() => window.wbspawnApp.poolState().then(() => 'answered', (e) => e.exitCode)"
        )
        == code
    )


@pytest.mark.parametrize("from_thread", [True, False])
def test_exit_ends_the_app_after_its_last_words(
    new_page: NewPage, lab_url_for_panic: str, from_thread: bool
) -> None:
    page = new_page()
    open_lab(page, lab_url_for_panic)
    page.evaluate(HEARING)
    assert calling(page, "exit_with", 3, from_thread) == (
        "rejected: wbspawn: the app exited with code 3"
    )
    assert_ended(page, 3, aborted=False)
    wait_for_line(page, "last words before exit(3)")
    # The page hears the end after the program's last line. (Its console has both, the end as
    # a failure, as a shell says it; but the lines come from two threads, the dispatcher's and
    # the page's, and a driver may see them out of order on a busy machine.)
    heard = page.evaluate("() => window.heard")
    assert heard.index("(exit)") > heard.index("last words before exit(3)"), heard
    texts = [m.text for m in page.console]
    assert f"[{'exiter' if from_thread else 'main'}] last words before exit(3)" in texts
    assert "wbspawn: the app exited with code 3" in page.console_errors()
    assert "after the exiting thread" not in [line.text for line in printed(page)]
    assert_no_uncaught(page)


def test_exit_0_is_no_failure(new_page: NewPage, lab_url_for_panic: str) -> None:
    page = new_page()
    open_lab(page, lab_url_for_panic)
    calling(page, "exit_with", 0, False)
    assert_ended(page, 0, aborted=False)
    assert page.console_errors() == []


def test_abort_ends_the_app(new_page: NewPage, lab_url_for_panic: str) -> None:
    page = new_page()
    open_lab(page, lab_url_for_panic)
    assert calling(page, "abort_in_thread") == "rejected: wbspawn: the app aborted (code 134)"
    assert_ended(page, 134, aborted=True)
    wait_for_line(page, "about to abort")


def test_exit_while_starting_is_reported_with_what_it_printed(
    new_page: NewPage, lab_url_for_panic: str
) -> None:
    page = new_page()
    page.open(f'{lab_url_for_panic}?args=["exit-in-start","7"]')
    status, detail = wait_for_done(page, timeout_s=60)
    assert status == "fail"
    assert "the app exited with code 7 while starting" in detail
    assert page.evaluate("document.documentElement.dataset.wbspawnExit") == "7"
    wait_for_line(page, "exiting in start")
