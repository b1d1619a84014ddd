//! Euclidean pair tests by products of rows, for points with many features: scikit-learn's
//! brute-force search (its `auto` choice above 15 features) decides `dist <= eps` on
//! `|a|^2 - 2 a.b + |b|^2` computed by matrix products, and so do we, a tile of pairs at a time.

use std::ops::Range;

use faer::Accum;

use super::cluster::PairTest;
use super::grid::Grid;
use crate::dense;

/// Query rows per tile.
pub const TILE_QUERIES: usize = 64;
/// Candidate rows per tile.
pub const TILE_CANDIDATES: usize = 256;

pub struct Products<'a> {
    grid: &'a Grid,
    sq_norms: Vec<f64>,
    reduced_eps: f64,
}

/// Scratch of one thread's tiles.
#[derive(Default)]
pub struct Tile {
    products: Vec<f64>,
    /// `within[i * candidates + j]` for query `i` and candidate `j` of the last tile.
    pub within: Vec<bool>,
    pub candidates: usize,
}

impl Tile {
    /// The tests of the last tile, one slice per query.
    pub fn rows(&self) -> impl Iterator<Item = &[bool]> {
        // An empty tile has no rows whatever the chunk length.
        self.within.chunks_exact(self.candidates.max(1))
    }
}

impl<'a> Products<'a> {
    /// Tests of the grid's (sorted) points against `eps^2`.
    pub fn new(grid: &'a Grid, reduced_eps: f64) -> Self {
        let n = grid.order.len();
        let sq_norms = (0..n)
            .map(|s| grid.point(s).iter().map(|v| v * v).sum())
            .collect();
        Products {
            grid,
            sq_norms,
            reduced_eps,
        }
    }

    #[inline]
    fn within_given(&self, s: usize, t: usize, dot: f64) -> bool {
        (self.sq_norms[s] - 2.0 * dot + self.sq_norms[t]).max(0.0) <= self.reduced_eps
    }

    /// Fills `tile` with the tests of sorted positions `queries` x `candidates`.
    pub fn tile(&self, queries: Range<usize>, candidates: Range<usize>, tile: &mut Tile) {
        let d = self.grid.n_features;
        let (q, c) = (queries.len(), candidates.len());
        // Every entry is overwritten (`Accum::Replace`): only the length matters.
        tile.products.resize(q * c, 0.0);
        let lhs = dense::row_major(&self.grid.points[queries.start * d..queries.end * d], q, d);
        let rhs = dense::row_major(
            &self.grid.points[candidates.start * d..candidates.end * d],
            c,
            d,
        );
        dense::matmul(
            dense::row_major_mut(&mut tile.products[..q * c], q, c),
            Accum::Replace,
            lhs,
            rhs.transpose(),
            1.0,
            faer::Par::Seq,
        );
        tile.within.resize(q * c, false);
        let candidate_norms = &self.sq_norms[candidates];
        let rows = tile.products[..q * c].chunks_exact(c);
        for ((s, row), within) in queries
            .zip(rows)
            .zip(tile.within[..q * c].chunks_exact_mut(c))
        {
            let query_norm = self.sq_norms[s];
            for ((w, &dot), &norm) in within.iter_mut().zip(row).zip(candidate_norms) {
                *w = (query_norm - 2.0 * dot + norm).max(0.0) <= self.reduced_eps;
            }
        }
        tile.candidates = c;
    }
}

impl PairTest for Products<'_> {
    fn within(&self, s: usize, t: usize) -> bool {
        let dot = self
            .grid
            .point(s)
            .iter()
            .zip(self.grid.point(t))
            .map(|(a, b)| a * b)
            .sum();
        self.within_given(s, t, dot)
    }

    fn products(&self) -> Option<&Products<'_>> {
        Some(self)
    }
}
