//! Where log lines go: a shared buffer that a thread of its own writes to stderr in
//! batches. A request thread only copies its line into memory; the writer wakes when
//! 64 KiB are waiting or every 100 ms, whichever comes first, so a busy server makes one
//! `write` per few hundred lines instead of a wake-up and a system call per line. The
//! buffer is bounded: when the writer falls 1 MiB behind (a stalled stderr pipe), the
//! request thread writes its line itself, so lines are delayed, never dropped.

use std::io::{self, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

/// How much the writer lets pile up before it is woken.
const WAKE_AT: usize = 64 * 1024;
/// Past this, callers write their own lines (backpressure instead of loss).
const HARD_CAP: usize = 1024 * 1024;
/// The longest a line waits in memory.
const INTERVAL: Duration = Duration::from_millis(100);

#[derive(Default)]
struct Pending {
    buf: Vec<u8>,
    closed: bool,
}

struct Shared {
    pending: Mutex<Pending>,
    wake: Condvar,
    /// The output. Whoever writes holds it from taking the pending bytes until they are
    /// written, so lines reach it in the order they were logged. Lock order: `out`, then
    /// `pending`.
    out: Mutex<Box<dyn Write + Send>>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        // A panic while holding the lock leaves plain bytes behind: still usable.
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn out(&self) -> MutexGuard<'_, Box<dyn Write + Send>> {
        self.out.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Writes what is pending (and `line`, if any) under the output lock; returns whether
    /// the sink is closed, and how the write went.
    fn drain(&self, spare: &mut Vec<u8>, line: Option<&[u8]>) -> (bool, io::Result<()>) {
        let mut out = self.out();
        let closed = {
            let mut p = self.lock();
            std::mem::swap(&mut p.buf, spare);
            p.closed
        };
        let written = out
            .write_all(spare)
            .and_then(|()| line.map_or(Ok(()), |l| out.write_all(l)))
            .and_then(|()| out.flush());
        spare.clear();
        (closed, written)
    }
}

/// The `MakeWriter` handed to the fmt layer. Cheap to clone.
#[derive(Clone)]
pub struct LogSink {
    shared: Arc<Shared>,
}

/// Owns the writer thread; [`SinkGuard::flush`] (or drop) writes what is pending and
/// stops it.
pub struct SinkGuard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl LogSink {
    /// Starts the writer thread (`out` is stderr in the server, a buffer in tests).
    pub fn new<W: Write + Send + 'static>(out: W) -> (Self, SinkGuard) {
        let shared = Arc::new(Shared {
            pending: Mutex::new(Pending::default()),
            wake: Condvar::new(),
            out: Mutex::new(Box::new(out)),
        });
        let worker = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("log-writer".into())
            .spawn(move || {
                let mut spare = Vec::with_capacity(WAKE_AT);
                loop {
                    {
                        let p = worker.lock();
                        if p.buf.len() < WAKE_AT && !p.closed {
                            drop(
                                worker
                                    .wake
                                    .wait_timeout(p, INTERVAL)
                                    .unwrap_or_else(PoisonError::into_inner),
                            );
                        }
                    }
                    // Nowhere to report a failing stderr; the lines are gone either way.
                    let (closed, _) = worker.drain(&mut spare, None);
                    if closed {
                        return;
                    }
                    spare.shrink_to(2 * WAKE_AT);
                }
            });
        let thread = match thread {
            Ok(t) => Some(t),
            Err(e) => {
                // No writer: every line is written by the thread that logs it.
                shared.lock().closed = true;
                eprintln!("log writer thread not started ({e}); log lines are written directly");
                None
            }
        };
        let sink = Self {
            shared: Arc::clone(&shared),
        };
        (sink, SinkGuard { shared, thread })
    }

    fn push(&self, line: &[u8]) -> io::Result<()> {
        {
            let mut p = self.shared.lock();
            if !p.closed && p.buf.len() + line.len() <= HARD_CAP {
                let was_below = p.buf.len() < WAKE_AT;
                p.buf.extend_from_slice(line);
                if was_below && p.buf.len() >= WAKE_AT {
                    self.shared.wake.notify_one();
                }
                return Ok(());
            }
        }
        // Stopped, or the writer is 1 MiB behind: write it here, after what is pending.
        self.shared.drain(&mut Vec::new(), Some(line)).1
    }
}

impl SinkGuard {
    /// Writes everything pending and stops the writer thread.
    pub fn flush(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.wake.notify_one();
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                eprintln!("the log writer thread panicked; writing what is left directly");
            }
        }
        // Whatever arrived after the thread's last write (or if it never started). A failing
        // stderr has nowhere to be reported.
        let (_, written) = self.shared.drain(&mut Vec::new(), None);
        if let Err(e) = written {
            eprintln!("log lines could not be written: {e}");
        }
    }
}

impl Drop for SinkGuard {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One formatted line, handed over in a single `write_all` by the fmt layer.
pub struct SinkWriter<'a>(&'a LogSink);

impl Write for SinkWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.push(buf)?;
        Ok(buf.len())
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.0.push(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogSink {
    type Writer = SinkWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        SinkWriter(self)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[derive(Clone, Default)]
    struct Collect(Arc<Mutex<Vec<u8>>>);

    impl Write for Collect {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_reach_the_output_in_order_and_all_of_them_by_flush() {
        let out = Collect::default();
        let (sink, guard) = LogSink::new(out.clone());
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let sink = sink.clone();
                std::thread::spawn(move || {
                    for i in 0..5_000 {
                        sink.push(format!("{t} {i}\n").as_bytes()).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        guard.flush();
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        for t in 0..4 {
            let seen: Vec<usize> = text
                .lines()
                .filter_map(|l| l.strip_prefix(&format!("{t} ")))
                .map(|n| n.parse().unwrap())
                .collect();
            assert_eq!(seen, (0..5_000).collect::<Vec<_>>(), "thread {t}");
        }
    }

    #[test]
    fn lines_logged_after_the_flush_are_written_directly_and_after_the_rest() {
        let out = Collect::default();
        let (sink, guard) = LogSink::new(out.clone());
        sink.push(b"before\n").unwrap();
        guard.flush();
        sink.push(b"after\n").unwrap();
        assert_eq!(out.0.lock().unwrap().as_slice(), b"before\nafter\n");
    }

    #[test]
    fn a_quiet_line_is_written_within_the_interval() {
        let out = Collect::default();
        let (sink, _guard) = LogSink::new(out.clone());
        sink.push(b"alone\n").unwrap();
        let mut waited = Duration::ZERO;
        while out.0.lock().unwrap().is_empty() && waited < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(10));
            waited += Duration::from_millis(10);
        }
        assert_eq!(out.0.lock().unwrap().as_slice(), b"alone\n");
    }
}
