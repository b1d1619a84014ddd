//! Page handling for large fresh outputs.
//!
//! A new output of many megabytes comes straight from the kernel and is faulted in page by
//! page while the kernel writes it; with 4 KiB pages that costs more than the arithmetic.
//! Asking for transparent huge pages on the 2 MiB-aligned interior of the buffer (as PyTorch's
//! own allocator does with THP_MEM_ALLOC_ENABLE=1) makes those faults ~500x fewer. It changes
//! nothing else: the memory is the caller's own output and is freed with it.
//! `TORCH_RS_HUGE_PAGES=0` in the environment turns the advice off.

use std::sync::OnceLock;

/// Outputs at least this large get the advice (smaller ones rarely contain an aligned 2 MiB).
pub const HUGE_PAGE_MIN_BYTES: usize = 4 << 20;

const HUGE_PAGE: usize = 2 << 20;

/// Advises the kernel to back `[ptr, ptr + bytes)` with huge pages where it can; best effort.
pub fn advise_huge_pages(ptr: *mut u8, bytes: usize) {
    if bytes < HUGE_PAGE_MIN_BYTES || !enabled() {
        return;
    }
    let start = (ptr as usize).next_multiple_of(HUGE_PAGE);
    let end = (ptr as usize + bytes) / HUGE_PAGE * HUGE_PAGE;
    if end <= start {
        return;
    }
    #[cfg(target_os = "linux")]
    unsafe {
        // Failure (for example THP disabled) only means ordinary pages.
        libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
    }
}

fn enabled() -> bool {
    static ENABLED: OnceLock<bool> = OnceLock::new();
    *ENABLED.get_or_init(|| std::env::var("TORCH_RS_HUGE_PAGES").map_or(true, |v| v != "0"))
}
