//! The module's rayon pools. Each call asks for the number of threads scikit-learn would use
//! (`_openmp_effective_n_threads()`), capped by the limit that threadpoolctl sets through the
//! exported C functions below, so `threadpool_limits(1)` applies to sklearn_rs too.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use rayon::{ThreadPool, ThreadPoolBuilder};

/// Thread limit set by threadpoolctl; 0 means "no limit".
static LIMIT: AtomicUsize = AtomicUsize::new(0);

/// Pools by size, and the process they were built in. After `fork()` the child inherits this
/// map but not the pools' threads, so a child that used them would wait forever; the child
/// therefore builds its own (see `current_process_pools`).
struct Pools {
    pid: u32,
    by_size: HashMap<usize, Arc<ThreadPool>>,
}

static POOLS: Mutex<Option<Pools>> = Mutex::new(None);

/// The pool to run one call on: `requested` threads, capped by the threadpoolctl limit.
pub fn pool(requested: usize) -> Result<Arc<ThreadPool>, String> {
    let limit = LIMIT.load(Ordering::Relaxed);
    let n = if limit > 0 {
        requested.min(limit)
    } else {
        requested
    }
    .max(1);
    if let Some(p) = current_process_pools(&mut lock_pools()).by_size.get(&n) {
        return Ok(p.clone());
    }
    // Built without the lock held: the lock is only ever held for a map look-up, so a fork
    // from another thread cannot copy it in the locked state for long.
    let built = Arc::new(
        ThreadPoolBuilder::new()
            .num_threads(n)
            .thread_name(|i| format!("sklearn_rs-{i}"))
            .build()
            .map_err(|e| e.to_string())?,
    );
    let mut pools = lock_pools();
    let entry = current_process_pools(&mut pools).by_size.entry(n);
    Ok(entry.or_insert(built).clone())
}

fn lock_pools() -> MutexGuard<'static, Option<Pools>> {
    POOLS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// This process's pools. Pools inherited from a parent process (whose worker threads do not
/// exist here) are leaked, never used or dropped: dropping one would signal threads that are
/// not there.
fn current_process_pools(pools: &mut Option<Pools>) -> &mut Pools {
    let pid = std::process::id();
    if pools.as_ref().is_some_and(|p| p.pid != pid) {
        if let Some(inherited) = pools.take() {
            std::mem::forget(inherited);
        }
    }
    pools.get_or_insert_with(|| Pools {
        pid,
        by_size: HashMap::new(),
    })
}

/// For threadpoolctl: the current limit (the CPU count when none is set).
#[no_mangle]
pub extern "C" fn sklearn_rs_get_num_threads() -> i32 {
    match LIMIT.load(Ordering::Relaxed) {
        0 => std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1) as i32,
        n => n as i32,
    }
}

/// For threadpoolctl: sets the limit (values below 1 mean 1).
#[no_mangle]
pub extern "C" fn sklearn_rs_set_num_threads(n: i32) {
    LIMIT.store(n.max(1) as usize, Ordering::Relaxed);
}

thread_local! {
    /// A one-thread pool whose only worker is the calling thread itself, so small problems run
    /// inline: no hand-over to another thread, whose wake-up would cost more than the work.
    static INLINE_POOL: Option<ThreadPool> =
        ThreadPoolBuilder::new().num_threads(1).use_current_thread().build().ok();
}

/// Runs `f` on the calling thread (inside its one-thread pool, so rayon never hands work to
/// another thread). Returns None if that pool could not be built.
pub fn run_inline<R: Send>(f: impl FnOnce() -> R + Send) -> Option<R> {
    INLINE_POOL.with(|pool| pool.as_ref().map(|p| p.install(f)))
}
