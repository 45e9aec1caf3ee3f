//! The threads that run database work, so that Diesel never blocks an async worker.
//!
//! A fixed set of threads, one per pooled connection, takes jobs from one queue. Compared
//! with `spawn_blocking` (a thread pool per runtime, a parked thread woken for every job,
//! threads added whenever none is idle), a busy server keeps these few threads busy: a
//! job sent while they work wakes nobody, and the process never grows past them.
//!
//! A caller waits at most the checkout timeout for its job to *start*; a job that has
//! started is always awaited to the end, so a write is never reported as failed after it
//! happened.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};

type Job = Box<dyn FnOnce() + Send>;

const QUEUED: u8 = 0;
const STARTED: u8 = 1;
const GIVEN_UP: u8 = 2;

/// Why a job produced no value.
#[derive(Debug)]
pub(crate) enum NotRun {
    /// It did not start within the timeout (every thread was busy); it never will.
    Busy,
    /// It panicked (the thread lives on), or the executor is gone.
    Failed(String),
}

/// The threads and their queue. Cheap to clone; the threads end when the last clone is
/// dropped.
#[derive(Clone)]
pub(crate) struct Executor {
    jobs: Sender<Job>,
    /// Jobs sent and not yet started.
    queued: Arc<AtomicU64>,
}

impl Executor {
    /// Starts `threads` threads named `{name}-{i}`.
    pub(crate) fn start(threads: u32, name: &str) -> std::io::Result<Self> {
        let (jobs, queue) = crossbeam_channel::unbounded::<Job>();
        for i in 0..threads.max(1) {
            let queue: Receiver<Job> = queue.clone();
            std::thread::Builder::new()
                .name(format!("{name}-{i}"))
                .spawn(move || {
                    for job in queue.iter() {
                        // A panicking job reports itself through its dropped reply channel.
                        let _ = catch_unwind(AssertUnwindSafe(job));
                    }
                })?;
        }
        Ok(Self {
            jobs,
            queued: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Jobs waiting for a thread right now.
    pub(crate) fn queued(&self) -> u64 {
        self.queued.load(Ordering::Relaxed)
    }

    /// Runs `f` on one of the threads and waits for its value. A caller that goes away
    /// (its future dropped) before the job started also withdraws the job.
    pub(crate) async fn run<T, F>(&self, start_within: Duration, f: F) -> Result<T, NotRun>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let ticket = Ticket {
            state: Arc::new(AtomicU8::new(QUEUED)),
            queued: Arc::clone(&self.queued),
        };
        let (reply, mut answer) = tokio::sync::oneshot::channel();
        let job_ticket = ticket.clone();
        let job: Job = Box::new(move || {
            if job_ticket.leave_queue(STARTED) {
                let _ = reply.send(f());
            }
        });
        // Withdraws the job if this future is dropped while it is still queued.
        let ticket = Withdraw(ticket);
        self.queued.fetch_add(1, Ordering::Relaxed);
        if self.jobs.send(job).is_err() {
            return Err(NotRun::Failed("the database threads have stopped".into()));
        }
        match tokio::time::timeout(start_within, &mut answer).await {
            Ok(value) => value.map_err(|_| panicked()),
            Err(_) if ticket.0.leave_queue(GIVEN_UP) => Err(NotRun::Busy),
            // Started in time: its outcome is the caller's, however long it takes.
            Err(_) => answer.await.map_err(|_| panicked()),
        }
    }
}

/// A job's place in the queue: whoever moves it out of `QUEUED` first (a thread starting
/// it, or its caller giving up) decides its fate and takes it off the `queued` count.
#[derive(Clone)]
struct Ticket {
    state: Arc<AtomicU8>,
    queued: Arc<AtomicU64>,
}

impl Ticket {
    fn leave_queue(&self, to: u8) -> bool {
        let moved = self
            .state
            .compare_exchange(QUEUED, to, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        if moved {
            self.queued.fetch_sub(1, Ordering::Relaxed);
        }
        moved
    }
}

struct Withdraw(Ticket);

impl Drop for Withdraw {
    fn drop(&mut self) {
        self.0.leave_queue(GIVEN_UP);
    }
}

fn panicked() -> NotRun {
    NotRun::Failed("the database job panicked".into())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use std::sync::atomic::AtomicBool;

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn jobs_run_off_the_calling_thread_and_return_their_value() {
        let ex = Executor::start(2, "test-db").unwrap();
        let caller = std::thread::current().id();
        let (value, ran_on) = rt()
            .block_on(ex.run(Duration::from_secs(5), || (42, std::thread::current().id())))
            .unwrap();
        assert_eq!(value, 42);
        assert_ne!(ran_on, caller);
    }

    #[test]
    fn a_job_that_cannot_start_in_time_is_busy_and_never_runs() {
        let ex = Executor::start(1, "test-db").unwrap();
        let rt = rt();
        let (release, first) = occupy(&ex);
        let ran = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&ran);
        let second = rt.block_on(ex.run(Duration::from_millis(50), move || {
            flag.store(true, Ordering::SeqCst)
        }));
        assert!(matches!(second, Err(NotRun::Busy)), "{second:?}");
        release.send(()).unwrap();
        first.join().unwrap().unwrap();
        // The thread has reached the abandoned job by now; it must not have run it.
        rt.block_on(ex.run(Duration::from_secs(5), || ())).unwrap();
        assert!(!ran.load(Ordering::SeqCst));
    }

    #[test]
    fn a_caller_that_goes_away_withdraws_its_queued_job() {
        let ex = Executor::start(1, "test-db").unwrap();
        let rt = rt();
        let (release, first) = occupy(&ex);
        let ran = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&ran);
        // The caller gives up after 20 ms by dropping the future (a client that left).
        let outcome = rt.block_on(async {
            tokio::time::timeout(
                Duration::from_millis(20),
                ex.run(Duration::from_secs(5), move || {
                    flag.store(true, Ordering::SeqCst)
                }),
            )
            .await
        });
        assert!(outcome.is_err(), "the job could not have started");
        assert_eq!(ex.queued(), 0, "a withdrawn job is not counted as waiting");
        release.send(()).unwrap();
        first.join().unwrap().unwrap();
        rt.block_on(ex.run(Duration::from_secs(5), || ())).unwrap();
        assert!(!ran.load(Ordering::SeqCst));
    }

    #[test]
    fn a_started_job_is_awaited_past_the_timeout() {
        let ex = Executor::start(1, "test-db").unwrap();
        let value = rt()
            .block_on(ex.run(Duration::from_millis(10), || {
                std::thread::sleep(Duration::from_millis(100));
                7
            }))
            .unwrap();
        assert_eq!(value, 7);
    }

    #[test]
    fn a_panicking_job_fails_alone_and_the_thread_goes_on() {
        let ex = Executor::start(1, "test-db").unwrap();
        let rt = rt();
        let failed = rt.block_on(ex.run(Duration::from_secs(5), || -> u8 { panic!("boom") }));
        assert!(matches!(failed, Err(NotRun::Failed(_))), "{failed:?}");
        assert_eq!(
            rt.block_on(ex.run(Duration::from_secs(5), || 1)).unwrap(),
            1
        );
    }

    /// Starts a job that holds a thread until something is sent on the returned channel;
    /// returns once the job has started.
    fn occupy(
        ex: &Executor,
    ) -> (
        std::sync::mpsc::Sender<()>,
        std::thread::JoinHandle<Result<(), NotRun>>,
    ) {
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let blocker = ex.clone();
        let first = std::thread::spawn(move || {
            rt().block_on(blocker.run(Duration::from_secs(5), move || {
                hold.recv().unwrap();
            }))
        });
        while ex.queued() > 0 {
            std::thread::yield_now();
        }
        std::thread::sleep(Duration::from_millis(20));
        (release, first)
    }
}
