//! DBSCAN over points in a grid: count, join, label. Each phase runs in parallel over blocks of
//! cells and writes only its own block's points, so results do not depend on the thread count.

use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};

use rayon::prelude::*;

use super::grid::{Cursor, Grid};
use super::products::{Products, Tile, TILE_CANDIDATES, TILE_QUERIES};
use super::union_find::ConcurrentUnionFind;
use super::{Clustering, CoreRule, EpsTest, MetricTest};
use crate::float::Float;
use crate::samples::{Csr, Dense, Samples};
use crate::{KernelError, StopCheck};

/// Points per block of cells (the unit of parallel work and of Ctrl-C polling).
const BLOCK_POINTS: usize = 2048;

/// Whether two points (by sorted position) are within `eps`.
pub trait PairTest: Sync {
    fn within(&self, s: usize, t: usize) -> bool;

    /// The tile-at-a-time form of the test, when it is computed by products of rows.
    fn products(&self) -> Option<&Products<'_>> {
        None
    }
}

impl<W: Fn(usize, usize) -> bool + Sync> PairTest for W {
    fn within(&self, s: usize, t: usize) -> bool {
        self(s, t)
    }
}

/// Clusters the rows of `x` (any float dtype; distances in float64 as scikit-learn's trees).
pub fn cluster_points<T: Float, M: EpsTest>(
    x: &Dense<'_, T>,
    test: &M,
    rule: CoreRule<'_>,
    stop: StopCheck,
) -> Result<Clustering, KernelError> {
    let (n, d) = (x.n_samples(), x.n_features());
    let grid = {
        let mut values = crate::alloc::with_capacity::<f64>(&[n, d])?;
        values.extend(x.rows(0, n).iter().map(|v| v.to_f64()));
        Grid::build(&values, n, d, &test.coordinate_bounds(d))?
    };
    if let Some(reduced_eps) = test.by_products(d) {
        return cluster_sorted(&grid, &Products::new(&grid, reduced_eps), rule, stop);
    }
    let within = |s: usize, t: usize| test.within(grid.point(s), grid.point(t));
    cluster_sorted(&grid, &within, rule, stop)
}

/// Clusters the rows of a CSR matrix: every pair is a candidate, as in scikit-learn's brute
/// force search for sparse input.
pub fn cluster_csr_rows<T: Float>(
    x: &Csr<'_, T>,
    test: &MetricTest,
    rule: CoreRule<'_>,
    stop: StopCheck,
) -> Result<Clustering, KernelError> {
    let within = |i: usize, j: usize| test.within_csr(x.row(i), x.row(j));
    cluster_pairs(x.n_samples(), &within, rule, stop)
}

/// Clusters `n` points that have no coordinates to grid (CSR rows, metrics that bound no
/// coordinate): every pair is a candidate. `within(i, j)` tests two points by input index.
pub fn cluster_pairs<W: Fn(usize, usize) -> bool + Sync>(
    n: usize,
    within: &W,
    rule: CoreRule<'_>,
    stop: StopCheck,
) -> Result<Clustering, KernelError> {
    cluster_sorted(&Grid::one_cell(n), within, rule, stop)
}

/// The three phases over points in `grid`; `within` takes sorted positions.
fn cluster_sorted<P: PairTest>(
    grid: &Grid,
    within: &P,
    rule: CoreRule<'_>,
    stop: StopCheck,
) -> Result<Clustering, KernelError> {
    let n = grid.order.len();
    rule.check(n)?;
    let blocks = position_blocks(n);
    let weights: Option<Vec<f64>> = rule
        .weights
        .map(|w| grid.order.iter().map(|&i| w[i]).collect());
    let search = Search {
        grid,
        within,
        blocks: &blocks,
        stop,
        interrupted: AtomicBool::new(false),
    };

    let core = search.core_flags(
        rule.min_samples,
        weights.as_deref(),
        rule.counts_only_grow(),
    );
    search.check()?;
    let components = search.join_core_points(&core)?;
    search.check()?;
    let core_labels = number_components(grid, &core, &components);
    let labels = search.label(&core, &core_labels);
    search.check()?;

    let mut out = Clustering {
        labels: vec![-1; n],
        core: vec![false; n],
    };
    for (s, &i) in grid.order.iter().enumerate() {
        out.labels[i] = labels[s];
        out.core[i] = core[s];
    }
    Ok(out)
}

struct Search<'a, P> {
    grid: &'a Grid,
    /// Whether two sorted positions are within `eps`.
    within: &'a P,
    /// Consecutive ranges of sorted positions, `BLOCK_POINTS` each.
    blocks: &'a [Range<usize>],
    stop: StopCheck<'a>,
    interrupted: AtomicBool,
}

impl<P: PairTest> Search<'_, P> {
    fn check(&self) -> Result<(), KernelError> {
        if self.interrupted.load(Ordering::Relaxed) {
            Err(KernelError::Interrupted)
        } else {
            Ok(())
        }
    }

    /// Runs `visit(positions, neighbourhood, out)` for every piece of a cell that lies in one
    /// block (a cell larger than a block is split), `out` being the piece's slots in `values`
    /// (sorted order), blocks in parallel.
    fn for_each_cell<V: Send>(
        &self,
        values: &mut [V],
        visit: impl Fn(Range<usize>, &[Range<usize>], &mut [V]) + Sync,
    ) {
        values
            .par_chunks_mut(BLOCK_POINTS)
            .zip(self.blocks.par_iter())
            .for_each(|(slots, block)| {
                if (self.stop)() {
                    self.interrupted.store(true, Ordering::Relaxed);
                    return;
                }
                let mut neighbourhood = Vec::new();
                let mut cursor = Cursor::default();
                let mut c = self.grid.cell_at(block.start);
                while c < self.grid.n_cells() && self.grid.cell(c).start < block.end {
                    let own = self.grid.cell(c);
                    let piece = own.start.max(block.start)..own.end.min(block.end);
                    self.grid.neighbourhood(c, &mut cursor, &mut neighbourhood);
                    let out = &mut slots[piece.start - block.start..piece.end - block.start];
                    visit(piece, &neighbourhood, out);
                    c += 1;
                }
            });
    }

    /// Whether each point (sorted order) has a weighted neighbour count of `min_samples`.
    fn core_flags(&self, min_samples: f64, weights: Option<&[f64]>, early_exit: bool) -> Vec<bool> {
        let grid = self.grid;
        let mut core = vec![false; grid.order.len()];
        if let Some(products) = self.within.products() {
            self.for_each_cell(&mut core, |piece, neighbourhood, out| {
                count_by_tiles(
                    products,
                    piece,
                    neighbourhood,
                    out,
                    min_samples,
                    weights,
                    early_exit,
                )
            });
            return core;
        }
        self.for_each_cell(&mut core, |piece, neighbourhood, out| {
            for (slot, s) in out.iter_mut().zip(piece) {
                let mut count = 0.0;
                'search: for range in neighbourhood {
                    for t in range.clone() {
                        if self.within.within(s, t) {
                            count += weights.map_or(1.0, |w| w[t]);
                            if early_exit && count >= min_samples {
                                break 'search;
                            }
                        }
                    }
                }
                *slot = count >= min_samples;
            }
        });
        core
    }

    /// Joins core points within `eps` of each other; each pair is tested once (from its
    /// lower sorted position).
    #[allow(clippy::needless_range_loop)] // `t` indexes the flags and names the point tested
    fn join_core_points(&self, core: &[bool]) -> Result<ConcurrentUnionFind, KernelError> {
        let n = core.len();
        let components =
            ConcurrentUnionFind::new(n).ok_or_else(|| crate::alloc::out_of_memory::<i64>(&[n]))?;
        let mut unused = vec![(); n];
        if let Some(products) = self.within.products() {
            self.for_each_cell(&mut unused, |piece, neighbourhood, _| {
                join_by_tiles(products, piece, neighbourhood, core, &components)
            });
            return Ok(components);
        }
        self.for_each_cell(&mut unused, |piece, neighbourhood, _| {
            for s in piece.filter(|&s| core[s]) {
                for range in neighbourhood {
                    for t in range.start.max(s + 1)..range.end {
                        // The distance first: most candidates are not neighbours, and a
                        // find reads the shared parents.
                        if core[t] && self.within.within(s, t) && !components.same_set(s, t) {
                            components.union(s, t);
                        }
                    }
                }
            }
        });
        Ok(components)
    }

    /// Labels in sorted order: core points their component's, other points the smallest
    /// label of the core points within `eps`, else -1.
    fn label(&self, core: &[bool], core_labels: &[i64]) -> Vec<i64> {
        let mut labels = core_labels.to_vec();
        self.for_each_cell(&mut labels, |piece, neighbourhood, out| {
            for (slot, s) in out.iter_mut().zip(piece) {
                if core[s] {
                    continue;
                }
                let mut best = i64::MAX;
                for range in neighbourhood {
                    for t in range.clone() {
                        if core[t] && core_labels[t] < best && self.within.within(s, t) {
                            best = core_labels[t];
                        }
                    }
                }
                *slot = if best == i64::MAX { -1 } else { best };
            }
        });
        labels
    }
}

/// Counts of `piece`'s points (`out`: their flags), a tile of products at a time; a group of
/// queries stops when each has reached `min_samples` (if counts only grow).
fn count_by_tiles(
    products: &Products<'_>,
    piece: Range<usize>,
    neighbourhood: &[Range<usize>],
    out: &mut [bool],
    min_samples: f64,
    weights: Option<&[f64]>,
    early_exit: bool,
) {
    let mut tile = Tile::default();
    let mut counts = [0.0f64; TILE_QUERIES];
    for (group, flags) in chunks(piece).zip(out.chunks_mut(TILE_QUERIES)) {
        let counts = &mut counts[..group.len()];
        counts.fill(0.0);
        'search: for range in neighbourhood {
            for candidates in chunks_of(range.clone(), TILE_CANDIDATES) {
                products.tile(group.clone(), candidates.clone(), &mut tile);
                for (count, row) in counts.iter_mut().zip(tile.rows()) {
                    for (t, _) in candidates.clone().zip(row).filter(|(_, &w)| w) {
                        *count += weights.map_or(1.0, |w| w[t]);
                    }
                }
                if early_exit && counts.iter().all(|&c| c >= min_samples) {
                    break 'search;
                }
            }
        }
        for (flag, &count) in flags.iter_mut().zip(counts.iter()) {
            *flag = count >= min_samples;
        }
    }
}

/// Joins the core points of `piece` with later core points within `eps`, by tiles.
fn join_by_tiles(
    products: &Products<'_>,
    piece: Range<usize>,
    neighbourhood: &[Range<usize>],
    core: &[bool],
    components: &ConcurrentUnionFind,
) {
    let mut tile = Tile::default();
    for group in chunks(piece) {
        if !core[group.clone()].iter().any(|&c| c) {
            continue;
        }
        for range in neighbourhood {
            let later = range.start.max(group.start + 1)..range.end;
            for candidates in chunks_of(later, TILE_CANDIDATES) {
                products.tile(group.clone(), candidates.clone(), &mut tile);
                for (s, row) in group.clone().zip(tile.rows()) {
                    if !core[s] {
                        continue;
                    }
                    for (t, _) in candidates.clone().zip(row).filter(|(_, &w)| w) {
                        if t > s && core[t] && !components.same_set(s, t) {
                            components.union(s, t);
                        }
                    }
                }
            }
        }
    }
}

/// `range` in consecutive pieces of `TILE_QUERIES`.
fn chunks(range: Range<usize>) -> impl Iterator<Item = Range<usize>> {
    chunks_of(range, TILE_QUERIES)
}

/// `range` in consecutive pieces of at most `size`.
fn chunks_of(range: Range<usize>, size: usize) -> impl Iterator<Item = Range<usize>> {
    range
        .clone()
        .step_by(size)
        .map(move |start| start..(start + size).min(range.end))
}

/// Component labels of the core points (sorted order; -1 elsewhere): components numbered in
/// the order of their smallest original index, as scikit-learn's walk numbers them.
fn number_components(grid: &Grid, core: &[bool], components: &ConcurrentUnionFind) -> Vec<i64> {
    let n = core.len();
    let mut smallest_index = vec![usize::MAX; n];
    for s in (0..n).filter(|&s| core[s]) {
        let root = components.find(s);
        smallest_index[root] = smallest_index[root].min(grid.order[s]);
    }
    let mut roots: Vec<usize> = (0..n)
        .filter(|&r| smallest_index[r] != usize::MAX)
        .collect();
    roots.sort_unstable_by_key(|&r| smallest_index[r]);
    let mut label_of_root = vec![-1i64; n];
    for (label, &r) in roots.iter().enumerate() {
        label_of_root[r] = label as i64;
    }
    (0..n)
        .map(|s| {
            if core[s] {
                label_of_root[components.find(s)]
            } else {
                -1
            }
        })
        .collect()
}

/// Sorted positions `0..n` in blocks of `BLOCK_POINTS` (the last one shorter).
fn position_blocks(n: usize) -> Vec<Range<usize>> {
    (0..n)
        .step_by(BLOCK_POINTS)
        .map(|start| start..(start + BLOCK_POINTS).min(n))
        .collect()
}
