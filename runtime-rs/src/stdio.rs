//! Standard output and error. The patched std hands every write of `print!`, `eprintln!`,
//! `dbg!`, `io::stdout()` and its own panic messages here (`__wbspawn_stdio_*`); on
//! wasm32-unknown-unknown they would go nowhere.
//!
//! Lines are assembled per thread (std buffers stdout by line already, but not stderr, whose
//! `eprintln!` arrives in pieces) and wait, whole and in order, in a queue in shared memory.
//! The dispatcher takes them, writes each to the console tagged with its thread and passes
//! them to the page (the dev server prints them in its terminal). A thread never touches the
//! console or posts a message itself: a thread blocked in a join has no event loop, and its
//! output would wait for it.
//!
//! As a pipe does, the queue holds a bounded amount: a writer that finds it full waits for the
//! dispatcher to take lines, and a line is dropped (and counted) only when nobody takes any.

// Only the patched std calls in here, on wasm; a native host's std has real streams, a clock and
// a process of its own, and runs the logic in the tests below.
#![cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::sync::Condvar;
use std::time::Duration;

use crate::locks::{Guard, Lock};

/// Which standard stream a line was written to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stream {
    Stdout = 0,
    Stderr = 1,
}

/// What the dispatcher takes from the queue, in order.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Item {
    Line {
        stream: Stream,
        thread: String,
        text: String,
        /// False for a piece passed on before its newline (a `flush()`, a very long line):
        /// the thread's next line on that stream continues it, as on a terminal.
        whole: bool,
    },
    /// A thread panicked: its name as std gives it, where, and the message, as std reported
    /// them to the runtime before any panic hook ran. The page lists panics from these (the
    /// dev server's inspector), not from std's report on stderr, which a hook of the app's
    /// own (`console_error_panic_hook`) replaces.
    Panic {
        thread: String,
        location: String,
        message: String,
    },
    /// Lines dropped before this point: nobody took them in time.
    Dropped(usize),
    /// The program ended (`process::exit`, or `abort` with `aborted`): nothing follows.
    Ended { code: i32, aborted: bool },
}

impl Item {
    /// The text it holds, as counted against the queue's bound.
    fn size(&self) -> usize {
        match self {
            Item::Line { thread, text, .. } => thread.len() + text.len(),
            Item::Panic {
                thread,
                location,
                message,
            } => thread.len() + location.len() + message.len(),
            Item::Dropped(_) | Item::Ended { .. } => 0,
        }
    }
}

/// Text that may wait for the dispatcher before writers wait as well.
const MAX_QUEUED_BYTES: usize = 1 << 20;
/// A line longer than this is passed on in pieces, as a terminal would wrap it.
const MAX_LINE: usize = 64 << 10;
/// How long a writer waits for room in a full queue before it drops its line.
const FULL_WAIT: Duration = Duration::from_secs(10);

struct Queue {
    items: VecDeque<Item>,
    bytes: usize,
    dropped: usize,
    ended: bool,
}

/// The queue between every thread's writes and the dispatcher.
pub(crate) struct Outbox {
    queue: Lock<Queue>,
    room: Condvar,
    max_bytes: usize,
}

impl Outbox {
    pub(crate) const fn new(max_bytes: usize) -> Outbox {
        Outbox {
            queue: Lock::new(Queue {
                items: VecDeque::new(),
                bytes: 0,
                dropped: 0,
                ended: false,
            }),
            room: Condvar::new(),
            max_bytes,
        }
    }

    fn lock(&self) -> Guard<'_, Queue> {
        // A poisoned queue is still a consistent queue (`Lock` ignores poisoning): nothing
        // here panics half-way.
        self.queue.lock()
    }

    /// Queues a line; true if the queue was empty (the dispatcher must be woken).
    /// `may_wait`: whether anyone takes lines, so that waiting for room makes sense.
    #[cfg(test)]
    pub(crate) fn push(
        &self,
        stream: Stream,
        thread: String,
        text: String,
        may_wait: bool,
    ) -> bool {
        let line = Item::Line {
            stream,
            thread,
            text,
            whole: true,
        };
        self.enqueue(line, may_wait)
    }

    /// Queues a line or a panic; true if the queue was empty (the dispatcher must be woken).
    /// A full queue drops the item unless `may_wait`, as `push` says.
    pub(crate) fn enqueue(&self, item: Item, may_wait: bool) -> bool {
        let size = item.size();
        let mut queue = self.lock();
        if queue.ended {
            return false;
        }
        if queue.bytes + size > self.max_bytes && !queue.items.is_empty() {
            if !may_wait {
                queue.dropped += 1;
                return false;
            }
            let max_bytes = self.max_bytes;
            let waited = queue.wait_timeout_while(&self.room, FULL_WAIT, |queue| {
                !queue.ended && queue.bytes + size > max_bytes && !queue.items.is_empty()
            });
            if queue.ended {
                return false;
            }
            if waited.timed_out() {
                queue.dropped += 1;
                return false;
            }
        }
        let was_empty = queue.items.is_empty();
        if queue.dropped > 0 {
            let dropped = std::mem::take(&mut queue.dropped);
            queue.items.push_back(Item::Dropped(dropped));
        }
        queue.items.push_back(item);
        queue.bytes += size;
        was_empty
    }

    /// Marks the end of the program's output; true if the dispatcher must be woken.
    pub(crate) fn end(&self, code: i32, aborted: bool) -> bool {
        let mut queue = self.lock();
        if queue.ended {
            return false;
        }
        queue.ended = true;
        let was_empty = queue.items.is_empty();
        queue.items.push_back(Item::Ended { code, aborted });
        drop(queue);
        self.room.notify_all();
        was_empty
    }

    /// Up to `most` items, oldest first.
    pub(crate) fn take(&self, most: usize) -> Vec<Item> {
        let mut queue = self.lock();
        let count = most.min(queue.items.len());
        let taken: Vec<Item> = queue.items.drain(..count).collect();
        for item in &taken {
            queue.bytes -= item.size();
        }
        drop(queue);
        if !taken.is_empty() {
            self.room.notify_all();
        }
        taken
    }
}

static OUTBOX: Outbox = Outbox::new(MAX_QUEUED_BYTES);

/// A thread's unfinished lines, one per stream.
struct Pending([Vec<u8>; 2]);

impl Drop for Pending {
    // std's thread exit drops it: what the thread printed without a newline is shown then, as
    // a terminal shows it after the program wrote it.
    fn drop(&mut self) {
        for (stream, bytes) in [Stream::Stdout, Stream::Stderr]
            .into_iter()
            .zip(&mut self.0)
        {
            if !bytes.is_empty() {
                emit(stream, bytes, true);
            }
        }
    }
}

std::thread_local! {
    static PENDING: RefCell<Pending> = const { RefCell::new(Pending([Vec::new(), Vec::new()])) };
    // Set while this thread holds the queue: a write from in there (a failed allocation's
    // message) must not wait for the lock it holds. No destructor: valid to the end.
    static IN_OUTBOX: Cell<bool> = const { Cell::new(false) };
}

/// What a thread wrote to `stream`: whole lines go to the queue, the rest waits for its end.
pub(crate) fn write(stream: Stream, buf: &[u8]) {
    let buffered = PENDING
        .try_with(|pending| {
            let Ok(mut pending) = pending.try_borrow_mut() else {
                return false;
            };
            let line = &mut pending.0[stream as usize];
            let mut rest = buf;
            while let Some(at) = rest.iter().position(|&byte| byte == b'\n') {
                line.extend_from_slice(&rest[..at]);
                emit(stream, line, true);
                rest = &rest[at + 1..];
            }
            line.extend_from_slice(rest);
            if line.len() >= MAX_LINE {
                emit(stream, line, false);
            }
            true
        })
        .unwrap_or(false);
    if !buffered {
        // The thread's buffer is gone (a destructor prints after std's thread exit dropped
        // it) or in use below us: each piece stands as its own line.
        for piece in buf
            .split(|&byte| byte == b'\n')
            .filter(|piece| !piece.is_empty())
        {
            emit(stream, &mut piece.to_vec(), true);
        }
    }
}

/// Passes on what `stream` holds of this thread's unfinished line (an explicit flush).
pub(crate) fn flush(stream: Stream) {
    let _ = PENDING.try_with(|pending| {
        if let Ok(mut pending) = pending.try_borrow_mut() {
            let line = &mut pending.0[stream as usize];
            if !line.is_empty() {
                emit(stream, line, false);
            }
        }
    });
}

/// Passes on both of this thread's unfinished lines (before the program ends).
pub(crate) fn flush_thread() {
    flush(Stream::Stdout);
    flush(Stream::Stderr);
}

/// Queues `line` (cleared) as one line of this thread's, or the start of one (`whole` false:
/// flushed before its newline).
fn emit(stream: Stream, line: &mut Vec<u8>, whole: bool) {
    let mut bytes = std::mem::take(line);
    if bytes.last() == Some(&b'\r') {
        bytes.pop();
    }
    let text = String::from_utf8(bytes)
        .unwrap_or_else(|error| String::from_utf8_lossy(error.as_bytes()).into_owned());
    queue(Item::Line {
        stream,
        thread: thread_tag(),
        text,
        whole,
    });
}

/// A panic's message as far as the page's list shows it: a message of megabytes would take the
/// whole queue, and every writer would wait for it.
const MAX_PANIC_MESSAGE: usize = 8 << 10;

/// A panic on this thread, for the page's list of panics (see `Item::Panic`).
pub(crate) fn panicked(thread: &str, location: Option<&str>, message: &str) {
    queue(panic_item(thread, location, message));
}

fn panic_item(thread: &str, location: Option<&str>, message: &str) -> Item {
    let mut end = message.len().min(MAX_PANIC_MESSAGE);
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    let cut = if end < message.len() { "…" } else { "" };
    Item::Panic {
        thread: thread.to_string(),
        location: location.unwrap_or_default().to_string(),
        message: format!("{}{cut}", &message[..end]),
    }
}

fn queue(item: Item) {
    if IN_OUTBOX.try_with(Cell::get).unwrap_or(true) {
        return;
    }
    let _ = IN_OUTBOX.try_with(|flag| flag.set(true));
    let wake = OUTBOX.enqueue(item, crate::platform::dispatcher_running());
    let _ = IN_OUTBOX.try_with(|flag| flag.set(false));
    if wake {
        crate::platform::wake_output();
    }
}

/// How a line names its thread: its name, `thread-<id>` without one, `main` for the app's own.
fn thread_tag() -> String {
    match crate::current::record() {
        Some(record) => match &record.name {
            Some(name) => name.clone(),
            None => format!("thread-{}", record.id.as_u64()),
        },
        None => "main".to_string(),
    }
}

/// The program ended: its output ends here, after what every thread has queued so far.
pub(crate) fn end(code: i32, aborted: bool) {
    if OUTBOX.end(code, aborted) {
        crate::platform::wake_output();
    }
}

/// Up to `most` queued items, for the dispatcher.
pub(crate) fn take(most: usize) -> Vec<Item> {
    OUTBOX.take(most)
}

#[cfg(target_arch = "wasm32")]
mod hooks {
    use std::io;

    use super::Stream;

    fn stream(number: u32) -> Stream {
        if number == 2 {
            Stream::Stderr
        } else {
            Stream::Stdout
        }
    }

    /// std's stdout (1) and stderr (2) writes.
    #[no_mangle]
    pub fn __wbspawn_v2_stdio_write(number: u32, buf: &[u8]) -> io::Result<usize> {
        super::write(stream(number), buf);
        Ok(buf.len())
    }

    /// std's flush of stdout (1) or stderr (2).
    #[no_mangle]
    pub fn __wbspawn_v2_stdio_flush(number: u32) {
        super::flush(stream(number));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn line(stream: Stream, thread: &str, text: &str) -> Item {
        Item::Line {
            stream,
            thread: thread.into(),
            text: text.into(),
            whole: true,
        }
    }

    #[test]
    fn lines_come_out_in_order_and_only_the_first_wakes() {
        let outbox = Outbox::new(1 << 10);
        assert!(outbox.push(Stream::Stdout, "main".into(), "one".into(), true));
        assert!(!outbox.push(Stream::Stderr, "t".into(), "two".into(), true));
        assert_eq!(
            outbox.take(10),
            [
                line(Stream::Stdout, "main", "one"),
                line(Stream::Stderr, "t", "two")
            ]
        );
        // Empty again: the next line wakes the dispatcher again.
        assert!(outbox.push(Stream::Stdout, "main".into(), "three".into(), true));
    }

    #[test]
    fn a_full_queue_drops_and_counts_when_nobody_takes_lines() {
        let outbox = Outbox::new(10);
        outbox.push(Stream::Stdout, "m".into(), "123456789".into(), false);
        outbox.push(Stream::Stdout, "m".into(), "lost".into(), false);
        outbox.push(Stream::Stdout, "m".into(), "lost too".into(), false);
        assert_eq!(outbox.take(1).len(), 1);
        outbox.push(Stream::Stdout, "m".into(), "kept".into(), false);
        assert_eq!(
            outbox.take(10),
            [Item::Dropped(2), line(Stream::Stdout, "m", "kept")]
        );
    }

    #[test]
    fn a_writer_to_a_full_queue_waits_for_room() {
        let outbox = Arc::new(Outbox::new(10));
        outbox.push(Stream::Stdout, "m".into(), "123456789".into(), true);
        let writer = {
            let outbox = Arc::clone(&outbox);
            std::thread::spawn(move || {
                outbox.push(Stream::Stdout, "m".into(), "waits".into(), true);
            })
        };
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(
            outbox.take(10).len(),
            1,
            "the writer is waiting, not queued"
        );
        writer.join().unwrap();
        assert_eq!(outbox.take(10), [line(Stream::Stdout, "m", "waits")]);
    }

    #[test]
    fn a_panic_comes_out_between_the_lines_around_it_and_counts_against_the_bound() {
        let outbox = Outbox::new(30);
        outbox.push(Stream::Stderr, "t".into(), "before".into(), false);
        let panic = Item::Panic {
            thread: "t".into(),
            location: "src/lib.rs:1:2".into(),
            message: "boom".into(),
        };
        outbox.enqueue(panic, false);
        // 7 + 19 of 30 bytes are queued: no room for a line of 5.
        outbox.push(Stream::Stderr, "t".into(), "lost".into(), false);
        let taken = outbox.take(10);
        assert_eq!(taken.len(), 2);
        assert!(matches!(&taken[1], Item::Panic { message, .. } if message == "boom"));
        outbox.push(Stream::Stderr, "t".into(), "after".into(), false);
        assert_eq!(
            outbox.take(10),
            [Item::Dropped(1), line(Stream::Stderr, "t", "after")]
        );
    }

    #[test]
    fn a_long_panic_message_is_cut_on_a_character() {
        // The bound falls in the middle of an "é" (two bytes, after an "a").
        let long = format!("a{}", "é".repeat(MAX_PANIC_MESSAGE));
        let Item::Panic { message, .. } = panic_item("t", None, &long) else {
            panic!("not a panic item");
        };
        assert!(message.ends_with("é…"));
        assert_eq!(message.len(), MAX_PANIC_MESSAGE - 1 + '…'.len_utf8());
        let Item::Panic { message, .. } = panic_item("t", Some("a.rs:1:2"), "short") else {
            panic!("not a panic item");
        };
        assert_eq!(message, "short");
    }

    #[test]
    fn nothing_follows_the_end() {
        let outbox = Outbox::new(1 << 10);
        outbox.push(Stream::Stdout, "m".into(), "before".into(), true);
        assert!(!outbox.end(3, false));
        outbox.push(Stream::Stdout, "m".into(), "after".into(), true);
        assert!(!outbox.end(0, false));
        assert_eq!(
            outbox.take(10),
            [
                line(Stream::Stdout, "m", "before"),
                Item::Ended {
                    code: 3,
                    aborted: false
                }
            ]
        );
    }
}
