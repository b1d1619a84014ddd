//! Splitting a call's work over threads without exceeding `torch.get_num_threads()`.

use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Mutex;

use rayon::{ThreadPool, ThreadPoolBuilder};
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

/// Below this many elements a call runs on the calling thread: waking threads costs more than
/// the few microseconds the work takes.
pub const PARALLEL_MIN_ELEMENTS: usize = 64 * 1024;

extern "C" {
    fn torch_rs_parallel_for(
        n: i64,
        grain: i64,
        body: extern "C" fn(*mut c_void, i64, i64),
        context: *mut c_void,
    );
}

fn use_rayon() -> bool {
    static RAYON: OnceLock<bool> = OnceLock::new();
    *RAYON.get_or_init(|| std::env::var("TORCH_RS_POOL").as_deref() == Ok("rayon"))
}

/// Calls `body(begin, end)` over ranges covering `0..n`, in parallel when `n` is large.
pub fn for_each_range<E: Send>(
    n: usize,
    threads: usize,
    body: &(dyn Fn(usize, usize) -> Result<(), E> + Sync),
) -> Result<(), E> {
    if threads <= 1 || n < PARALLEL_MIN_ELEMENTS {
        return body(0, n);
    }
    if use_rayon() {
        use rayon::prelude::*;
        let chunk = n.div_ceil(threads * 4).max(16 * 1024).next_multiple_of(64);
        return pool(threads).install(|| {
            (0..n.div_ceil(chunk))
                .into_par_iter()
                .try_for_each(|i| body(i * chunk, ((i + 1) * chunk).min(n)))
        });
    }
    struct Context<'a, E> {
        body: &'a (dyn Fn(usize, usize) -> Result<(), E> + Sync),
        failure: Mutex<Option<std::thread::Result<Result<(), E>>>>,
    }
    extern "C" fn trampoline<E>(context: *mut c_void, begin: i64, end: i64) {
        let context = unsafe { &*(context as *const Context<E>) };
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            (context.body)(begin as usize, end as usize)
        }));
        if !matches!(outcome, Ok(Ok(()))) {
            let mut failure = context.failure.lock().unwrap_or_else(|e| e.into_inner());
            failure.get_or_insert(outcome);
        }
    }
    let context = Context {
        body,
        failure: Mutex::new(None),
    };
    // Each thread gets one contiguous range (at least PARALLEL_MIN_ELEMENTS / 2 elements).
    let grain = (PARALLEL_MIN_ELEMENTS / 2) as i64;
    unsafe {
        torch_rs_parallel_for(
            n as i64,
            grain,
            trampoline::<E>,
            &context as *const _ as *mut c_void,
        )
    };
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

fn pool(threads: usize) -> Arc<ThreadPool> {
    static POOLS: OnceLock<Mutex<HashMap<usize, Arc<ThreadPool>>>> = OnceLock::new();
    let mut pools = POOLS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    pools
        .entry(threads)
        .or_insert_with(|| {
            Arc::new(
                ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .expect("rayon pool"),
            )
        })
        .clone()
}
