//! How every binding runs a kernel: `py.run_kernel(threads, |stop| kernel(..., stop))`.
//!
//! The GIL is released while Rust works; the kernel runs on the module's rayon pool of the
//! requested size (or inline on the calling thread for small problems); panics become
//! RuntimeError and kernel errors Python exceptions (see [`crate::error`]); Ctrl-C becomes
//! KeyboardInterrupt: only the thread that called into Rust can run Python's signal handlers,
//! so it polls them while the pool computes and raises a flag that kernels read through
//! their `StopCheck`.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Mutex};
use std::time::Duration;

use kernels::{KernelError, StopCheck};
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

use crate::error::{kernel_error, panic_error};
use crate::threads;

/// How often the calling thread looks at Python's signal handlers during a computation.
const SIGNAL_POLL: Duration = Duration::from_millis(50);

/// Below this many multiply-adds a call runs inline on the calling thread: handing work to
/// the pool and back would cost more than the work.
const INLINE_WORK: usize = 1 << 18;

/// Below this many multiply-adds (a few milliseconds) a call on the pool is waited for by the
/// calling thread itself: Ctrl-C is then seen when it returns, and no signal-polling thread
/// is started for it (which costs tens of microseconds, as much as a small call's work).
const BRIEF_WORK: usize = 1 << 26;

/// Where one call runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Threads {
    /// On the calling thread, without a pool hand-over or signal polling.
    Inline,
    /// On the module's pool of this many threads (capped by threadpoolctl's limit).
    Pool(usize),
    /// On the pool, as `Pool`, without polling signals while it runs (a brief call).
    BriefPool(usize),
}

impl Threads {
    /// `requested` threads for a problem of `multiply_adds`, inline when it is small.
    pub fn for_work(requested: usize, multiply_adds: usize) -> Threads {
        if multiply_adds < INLINE_WORK {
            Threads::Inline
        } else {
            Threads::Pool(requested.max(1))
        }
    }

    /// As [`Threads::for_work`], for a caller whose `multiply_adds` is the call's whole work
    /// (not a lower bound): a brief call then runs on the pool without signal polling.
    pub fn for_exact_work(requested: usize, multiply_adds: usize) -> Threads {
        match Threads::for_work(requested, multiply_adds) {
            Threads::Pool(n) if multiply_adds < BRIEF_WORK => Threads::BriefPool(n),
            threads => threads,
        }
    }
}

/// Lets a running kernel learn that Python received a signal (Ctrl-C).
struct SignalWatch {
    interrupted: AtomicBool,
    pending: Mutex<Option<PyErr>>,
}

impl SignalWatch {
    fn new() -> Self {
        SignalWatch {
            interrupted: AtomicBool::new(false),
            pending: Mutex::new(None),
        }
    }

    fn should_stop(&self) -> bool {
        self.interrupted.load(Ordering::Relaxed)
    }

    /// Runs Python's signal handlers; records their exception and raises the flag.
    fn poll(&self) {
        if let Err(err) = Python::attach(|py| py.check_signals()) {
            *self.pending.lock().unwrap_or_else(|p| p.into_inner()) = Some(err);
            self.interrupted.store(true, Ordering::Relaxed);
        }
    }

    /// The Python error to raise for a kernel error (the signal handler's, if any).
    fn error(self, e: KernelError) -> PyErr {
        match (e, self.pending.into_inner().ok().flatten()) {
            (KernelError::Interrupted, Some(err)) => err,
            (e, _) => kernel_error(e),
        }
    }
}

pub trait RunKernel {
    /// Runs `work` without the GIL where `threads` says; `work` receives the check it should
    /// poll between iterations.
    fn run_kernel<R: Send>(
        self,
        threads: Threads,
        work: impl FnOnce(StopCheck) -> Result<R, KernelError> + Send,
    ) -> PyResult<R>;
}

impl RunKernel for Python<'_> {
    fn run_kernel<R: Send>(
        self,
        threads: Threads,
        work: impl FnOnce(StopCheck) -> Result<R, KernelError> + Send,
    ) -> PyResult<R> {
        let watch = SignalWatch::new();
        let outcome = match threads {
            Threads::Inline => {
                let stop = || watch.should_stop();
                let inline = self.detach(|| {
                    catch_unwind(AssertUnwindSafe(|| threads::run_inline(|| work(&stop))))
                });
                match inline {
                    Ok(Some(result)) => Ok(result),
                    Ok(None) => {
                        return Err(PyRuntimeError::new_err("could not start a thread pool"))
                    }
                    Err(panic) => Err(panic),
                }
            }
            Threads::BriefPool(n) => {
                let pool = threads::pool(n).map_err(PyRuntimeError::new_err)?;
                let stop = || false;
                self.detach(|| catch_unwind(AssertUnwindSafe(|| pool.install(|| work(&stop)))))
            }
            Threads::Pool(n) => {
                let pool = threads::pool(n).map_err(PyRuntimeError::new_err)?;
                self.detach(|| run_on_pool_watching_signals(&pool, &watch, work))
            }
        };
        match outcome {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(e)) => Err(watch.error(e)),
            Err(panic) => Err(panic_error(panic)),
        }
    }
}

type Outcome<R> = Result<Result<R, KernelError>, Box<dyn std::any::Any + Send>>;

/// Runs `work` on `pool` from a helper thread while this thread polls Python's signals.
fn run_on_pool_watching_signals<R: Send>(
    pool: &rayon::ThreadPool,
    watch: &SignalWatch,
    work: impl FnOnce(StopCheck) -> Result<R, KernelError> + Send,
) -> Outcome<R> {
    std::thread::scope(|scope| {
        let (done, finished) = mpsc::channel();
        scope.spawn(move || {
            let stop = || watch.should_stop();
            let result = catch_unwind(AssertUnwindSafe(|| pool.install(|| work(&stop))));
            let _ = done.send(result);
        });
        loop {
            match finished.recv_timeout(SIGNAL_POLL) {
                Ok(result) => break result,
                Err(mpsc::RecvTimeoutError::Timeout) => watch.poll(),
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    break Err(Box::new("computation thread ended without a result"))
                }
            }
        }
    })
}
