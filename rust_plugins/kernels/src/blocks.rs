//! Fixed partition of the samples into blocks of whole chunks.
//!
//! Blocks are the unit of parallel work and of partial sums. Their number depends only on the
//! problem's shape, never on the thread count, and partial sums are combined in block order,
//! so every result is bit-for-bit the same whatever the size of the thread pool.

use std::ops::Range;

/// Number of samples handled together: bounds the size of per-chunk scratch (fits in cache)
/// and is the unit of work inside a block, as in scikit-learn's Cython kernels.
pub const CHUNK: usize = 256;

/// Upper bound on the number of blocks (enough to balance any realistic pool).
const MAX_BLOCKS: usize = 64;
/// Upper bound on the elements held by all blocks' partial center sums together.
const PARTIAL_SUMS_BUDGET: usize = 1 << 22;

/// Splits `0..n` into contiguous ranges of whole chunks. `per_block_state` is the number of
/// elements each block keeps (for example `k * d + k` partial sums).
pub fn partition(n: usize, per_block_state: usize) -> Vec<Range<usize>> {
    fixed(n, rows_per_block(n, per_block_state))
}

/// The number of samples in each block of [`partition`] (the last block may hold fewer). A
/// caller that holds the samples in pieces (a row-chunked array on several machines) cuts
/// every piece that starts at a multiple of it with [`fixed`] and gets blocks of the same
/// partition, so partial sums combined in block order give the same bits.
pub fn rows_per_block(n: usize, per_block_state: usize) -> usize {
    if n == 0 {
        return CHUNK;
    }
    let n_chunks = n.div_ceil(CHUNK);
    let by_memory = (PARTIAL_SUMS_BUDGET / per_block_state.max(1)).max(1);
    let n_blocks = n_chunks.min(MAX_BLOCKS).min(by_memory).max(1);
    n_chunks.div_ceil(n_blocks) * CHUNK
}

/// Splits `0..n` into ranges of `rows` samples (the last one shorter).
pub fn fixed(n: usize, rows: usize) -> Vec<Range<usize>> {
    let rows = rows.max(1);
    (0..n.div_ceil(rows))
        .map(|b| b * rows..((b + 1) * rows).min(n))
        .collect()
}

/// The chunks of one block.
pub fn chunks(block: Range<usize>) -> impl Iterator<Item = Range<usize>> {
    block
        .clone()
        .step_by(CHUNK)
        .map(move |s| s..(s + CHUNK).min(block.end))
}

/// Splits `values` (`width` values per sample) into the mutable slices of `blocks`.
pub fn split_by_blocks<'a, V>(
    mut values: &'a mut [V],
    blocks: &[Range<usize>],
    width: usize,
) -> Vec<&'a mut [V]> {
    let mut out = Vec::with_capacity(blocks.len());
    for b in blocks {
        let (head, tail) = values.split_at_mut(b.len() * width);
        out.push(head);
        values = tail;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn covers_every_sample_once() {
        for n in [1, 255, 256, 257, 10_000, 1_000_003] {
            for state in [1, 1000, 1 << 20] {
                let blocks = partition(n, state);
                let mut next = 0;
                for b in &blocks {
                    assert_eq!(b.start, next);
                    assert!(b.end > b.start);
                    let mut c_next = b.start;
                    for c in chunks(b.clone()) {
                        assert_eq!(c.start, c_next);
                        assert!(c.len() <= CHUNK);
                        c_next = c.end;
                    }
                    assert_eq!(c_next, b.end);
                    next = b.end;
                }
                assert_eq!(next, n);
            }
        }
    }
}
