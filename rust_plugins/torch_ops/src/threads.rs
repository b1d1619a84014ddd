//! Splitting a call's work over PyTorch's own intra-op thread pool.
//!
//! Running on torch's threads (through `at::parallel_for` in the C++ shim) rather than a
//! separate rayon pool means the op never uses more threads than `torch.get_num_threads()`, does
//! not compete with torch's OpenMP workers that are still spinning after the previous op (the
//! usual Linear → GELU → Linear pattern), and runs inline when called from inside another
//! parallel region.

use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Mutex;

/// Below this many elements a call runs on the calling thread: waking threads costs more than
/// the few microseconds the work takes.
pub const PARALLEL_MIN_ELEMENTS: usize = 64 * 1024;

extern "C" {
    /// Defined in csrc/ops.cpp: `at::parallel_for(0, n, grain, body(context, begin, end))`.
    fn torch_rs_parallel_for(
        n: i64,
        grain: i64,
        body: extern "C" fn(*mut c_void, i64, i64),
        context: *mut c_void,
    );
}

type RangeBody<'a, E> = &'a (dyn Fn(usize, usize) -> Result<(), E> + Sync);

struct Context<'a, E> {
    body: RangeBody<'a, E>,
    /// The first failure of any range: an error, or a panic to resume on the calling thread.
    failure: Mutex<Option<std::thread::Result<Result<(), E>>>>,
}

/// Runs one range for `at::parallel_for`; never unwinds into C++.
extern "C" fn run_range<E>(context: *mut c_void, begin: i64, end: i64) {
    let context = unsafe { &*(context as *const Context<E>) };
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        (context.body)(begin as usize, end as usize)
    }));
    if !matches!(outcome, Ok(Ok(()))) {
        let mut failure = context.failure.lock().unwrap_or_else(|e| e.into_inner());
        failure.get_or_insert(outcome);
    }
}

/// Calls `body(begin, end)` over disjoint ranges covering `0..n`: on the calling thread for
/// small `n` or a single thread, else one contiguous range per torch thread.
pub fn for_each_range<E: Send>(n: usize, threads: usize, body: RangeBody<'_, E>) -> Result<(), E> {
    if threads <= 1 || n < PARALLEL_MIN_ELEMENTS {
        return body(0, n);
    }
    let context = Context {
        body,
        failure: Mutex::new(None),
    };
    let grain = (PARALLEL_MIN_ELEMENTS / 2) as i64;
    let context_ptr = &context as *const Context<E> as *mut c_void;
    unsafe { torch_rs_parallel_for(n as i64, grain, run_range::<E>, context_ptr) };
    match context
        .failure
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
    {
        None => Ok(()),
        Some(Ok(result)) => result,
        Some(Err(panic)) => std::panic::resume_unwind(panic),
    }
}
