//! Rayon pools sized to `torch.get_num_threads()`, one per size, created on first use.
//!
//! The C++ shim reads libtorch's intra-op thread count on every call, so `torch.set_num_threads`
//! takes effect immediately and our work never uses more threads than torch would.

use rayon::{ThreadPool, ThreadPoolBuilder};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// Below this many elements a call runs on the calling thread: waking a pool costs more than
/// the few microseconds the work takes.
pub const PARALLEL_MIN_ELEMENTS: usize = 64 * 1024;

/// Runs `work` on `threads` threads: directly when one thread is asked for or the work is small,
/// otherwise inside a cached rayon pool of exactly that size.
pub fn run_with<R: Send>(
    threads: usize,
    elements: usize,
    work: impl FnOnce(bool) -> R + Send,
) -> R {
    if threads <= 1 || elements < PARALLEL_MIN_ELEMENTS {
        return work(false);
    }
    pool(threads).install(|| work(true))
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
            let pool = ThreadPoolBuilder::new()
                .num_threads(threads)
                .thread_name(|i| format!("torch_rs-{i}"))
                .build()
                .expect("creating a rayon thread pool");
            Arc::new(pool)
        })
        .clone()
}
