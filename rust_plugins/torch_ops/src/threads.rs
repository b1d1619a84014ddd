//! Splitting a call's work over PyTorch's own intra-op thread pool.
//!
//! Running on torch's threads (through `at::parallel_for`, bridged in csrc/library.cpp) rather
//! than a separate rayon pool means the op never uses more threads than
//! `torch.get_num_threads()`, does not compete with torch's OpenMP workers that are still
//! spinning after the previous op (the usual Linear → GELU → Linear pattern), and runs inline
//! when called from inside another parallel region.

use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

/// Below this many elements a call runs on the calling thread: waking threads costs more than
/// the few microseconds the work takes.
pub const PARALLEL_MIN_ELEMENTS: usize = 64 * 1024;

extern "C" {
    /// Defined in csrc/library.cpp: `at::parallel_for(0, n, grain, body(context, begin, end))`.
    fn torch_rs_parallel_for(
        n: i64,
        grain: i64,
        body: extern "C" fn(*mut c_void, i64, i64),
        context: *mut c_void,
    );
}

/// Elements per unit of work handed to a thread: a multiple of every vector width, small enough
/// that threads can even out when the OS preempts one of them.
const CHUNK: usize = 16 * 1024;

type RangeBody<'a, E> = &'a (dyn Fn(usize, usize) -> Result<(), E> + Sync);

struct Work<'a, E> {
    body: RangeBody<'a, E>,
    len: usize,
    chunk: usize,
    chunks: usize,
    next_chunk: AtomicUsize,
    failed: AtomicBool,
    /// The first failure of any chunk: an error, or a panic to resume on the calling thread.
    failure: Mutex<Option<std::thread::Result<Result<(), E>>>>,
}

/// What each of torch's threads runs: take chunks until none are left. Dynamic rather than
/// static partitioning, so a thread that gets preempted does not hold up the call.
/// Never unwinds into C++.
extern "C" fn take_chunks<E>(work: *mut c_void, _begin: i64, _end: i64) {
    let work = unsafe { &*(work as *const Work<E>) };
    loop {
        let chunk = work.next_chunk.fetch_add(1, Ordering::Relaxed);
        if chunk >= work.chunks || work.failed.load(Ordering::Relaxed) {
            return;
        }
        let begin = chunk * work.chunk;
        let end = (begin + work.chunk).min(work.len);
        let outcome = catch_unwind(AssertUnwindSafe(|| (work.body)(begin, end)));
        if !matches!(outcome, Ok(Ok(()))) {
            work.failed.store(true, Ordering::Relaxed);
            let mut failure = work.failure.lock().unwrap_or_else(|e| e.into_inner());
            failure.get_or_insert(outcome);
            return;
        }
    }
}

/// Calls `body(begin, end)` over disjoint ranges covering `0..len`: on the calling thread for
/// small `len` or a single thread, else spread over `threads` of torch's threads.
pub fn for_each_range<E: Send>(
    len: usize,
    threads: usize,
    body: RangeBody<'_, E>,
) -> Result<(), E> {
    if len < PARALLEL_MIN_ELEMENTS {
        return body(0, len);
    }
    for_each_chunk(len, CHUNK, threads, body)
}

/// Calls `body(begin, end)` over the ranges `[k·chunk, (k + 1)·chunk) ∩ 0..len`, spread over
/// `threads` of torch's threads (taken dynamically), or all on the calling thread when
/// `threads` is 1. Callers decide whether the work is large enough to be worth threads.
pub fn for_each_chunk<E: Send>(
    len: usize,
    chunk: usize,
    threads: usize,
    body: RangeBody<'_, E>,
) -> Result<(), E> {
    let chunk = chunk.max(1);
    let chunks = len.div_ceil(chunk);
    if threads <= 1 || chunks <= 1 {
        return body(0, len);
    }
    let work = Work {
        body,
        len,
        chunk,
        chunks,
        next_chunk: AtomicUsize::new(0),
        failed: AtomicBool::new(false),
        failure: Mutex::new(None),
    };
    let workers = threads.min(chunks) as i64;
    let work_ptr = &work as *const Work<E> as *mut c_void;
    unsafe { torch_rs_parallel_for(workers, 1, take_chunks::<E>, work_ptr) };
    match work.failure.into_inner().unwrap_or_else(|e| e.into_inner()) {
        None => Ok(()),
        Some(Ok(result)) => result,
        Some(Err(panic)) => std::panic::resume_unwind(panic),
    }
}
