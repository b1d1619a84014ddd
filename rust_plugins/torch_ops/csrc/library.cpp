// The rs:: library itself: the namespace is claimed once here, and each op family adds its
// schemas and kernels with TORCH_LIBRARY_FRAGMENT in csrc/ops/<family>.cpp. Also the bridge that
// lets Rust run work on PyTorch's intra-op thread pool (src/threads.rs).
#include <ATen/Parallel.h>
#include <torch/library.h>

#include "torch_rs_ffi.h"

// Runs body(context, begin, end) over [0, n) on PyTorch's intra-op thread pool, so that Rust
// work shares torch's threads instead of competing with them. `body` never throws.
extern "C" void torch_rs_parallel_for(int64_t n, int64_t grain,
                                      void (*body)(void*, int64_t, int64_t), void* context) {
  at::parallel_for(0, n, grain, [&](int64_t begin, int64_t end) { body(context, begin, end); });
}

TORCH_LIBRARY(rs, m) {}
