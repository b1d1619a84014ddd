//! Lloyd's algorithm with exact Yinyang pruning (Ding et al., "Yinyang K-Means", 2015) for
//! dense samples and many centers: the same labels, cluster sums and inertia as
//! [`super::lloyd::Lloyd`], bit for bit, with most distances skipped after the first iteration.
//!
//! The centers are split once into groups of [`GROUP`] (balanced median splits of the initial
//! centers, so that a group's centers lie close together). Every sample keeps an upper bound on
//! its true (real-number) distance to its center and, per group, a lower bound on its true
//! distance to the group's other centers; center moves loosen them by the triangle
//! inequality. Labels, however, come from the rounded expansion `D = ||c||^2 - 2<x, c>` of the
//! full scan (see [`crate::nearest::dense`]), whose error is at most
//! `E = (3d + 32) eps (||x||^2 + max ||c||^2)` (the summation bound `d u (3||c||^2 + ||x||^2)`
//! with room for the bounds' own roundings). Since `D_j = dist_j^2 - ||x||^2 + e_j` with
//! `|e_j| <= E`, a group is skipped only when `lower^2 > upper^2 + 2E`: then each of its
//! centers has a `D` strictly above that of an evaluated center, so it can neither win nor
//! tie. The centers of the groups not skipped get the full scan's `D`, bit for bit (each
//! lane the same chain of fused multiply-adds from `||c||^2`, feature by feature, or the same
//! products and sums where the CPU has no FMA), and the smallest wins, the lowest index on
//! ties, as in the full scan. The bounds come from those `D` widened by `E`.
//!
//! The chunks, blocks and cluster sums are those of [`super::steps::assign`], so the sums
//! have its bits. Memory: one `f64` upper bound per sample and `k / GROUP` `f64` lower bounds
//! per sample (for 100 000 samples and 256 centers, 13 MB).

use rayon::prelude::*;

use super::iterate::{Assignment, Pass};
use super::steps::{self, ClusterSums};
use crate::alloc;
use crate::blocks::{self, split_by_blocks, CHUNK};
use crate::float::Float;
use crate::linalg::row_sq_norms;
use crate::nearest::NearestSearch;
use crate::KernelError;

/// Centers per group, one panel of the evaluation kernel.
pub const GROUP: usize = 16;

/// Fewest centers, features and multiply-adds per sample (`k * d`) for which Lloyd prunes:
/// below, the bounds cost more than the distances they skip (measured on blobs, 100000
/// samples, 2 threads: 1.5-2.2x faster at d = 64 with k = 128 or 256, 1.2x at d = 32 or 48 with
/// k = 256, slower at d = 16, and at d = 32 with k = 128).
pub const MIN_CLUSTERS: usize = 64;
pub const MIN_FEATURES: usize = 32;
pub const MIN_WORK: usize = 8192;

/// Whether Lloyd prunes on `k` centers of `d` features of dense samples.
pub fn suits(k: usize, d: usize, dense: bool) -> bool {
    dense && k >= MIN_CLUSTERS && d >= MIN_FEATURES && k * d >= MIN_WORK
}

/// Pairs evaluated together by the distance kernel (independent chains hide FMA latency).
const BATCH: usize = 8;

const NONE: u32 = u32::MAX;

pub struct Yinyang<'a, T, S> {
    x: &'a S,
    rows: &'a [T],
    sample_weight: &'a [T],
    d: usize,
    /// `||x||^2` per sample, in f64, and the largest.
    x_norms: Vec<f64>,
    x_norm_max: f64,
    /// Group `g` holds the centers `members[g * GROUP..(g + 1) * GROUP]` (`NONE` pads).
    members: Vec<u32>,
    group_of: Vec<u32>,
    upper: Vec<f64>,
    /// `(n, t)` lower bounds.
    lower: Vec<f64>,
    /// How far each center moved since the bounds were set (true distance, rounded up).
    drift: Vec<f64>,
    valid: bool,
    /// The bounds could not be allocated: every pass is a full scan.
    no_memory: bool,
    /// Per assignment pass: center distances evaluated and the full scan's count.
    pub evaluated: Vec<(u64, u64)>,
}

impl<'a, T: Float, S: NearestSearch<T>> Yinyang<'a, T, S> {
    /// None unless `x` is dense.
    pub fn new(x: &'a S, sample_weight: &'a [T]) -> Option<Self> {
        let n = x.n_samples();
        let d = x.n_features();
        let rows = x.dense_rows(0, n)?;
        let x_norms: Vec<f64> = rows
            .par_chunks_exact(d.max(1))
            .map(|r| r.iter().map(|v| v.to_f64() * v.to_f64()).sum())
            .collect();
        let x_norm_max = x_norms.iter().fold(0.0f64, |m, &v| m.max(v));
        Some(Yinyang {
            x,
            rows,
            sample_weight,
            d,
            x_norms,
            x_norm_max,
            members: Vec::new(),
            group_of: Vec::new(),
            upper: Vec::new(),
            lower: Vec::new(),
            drift: Vec::new(),
            valid: false,
            no_memory: false,
            evaluated: Vec::new(),
        })
    }

    fn n_groups(&self) -> usize {
        self.members.len() / GROUP
    }

    fn make_groups(&mut self, centers: &[T], k: usize) -> Result<(), KernelError> {
        let mut order: Vec<u32> = (0..k as u32).collect();
        split_groups(centers, self.d, &mut order);
        let t = k.div_ceil(GROUP);
        let mut members = vec![NONE; t * GROUP];
        let mut group_of = vec![0u32; k];
        // Each run of GROUP in `order` is a group; the last one is padded.
        for (pos, &j) in order.iter().enumerate() {
            members[pos] = j;
            group_of[j as usize] = (pos / GROUP) as u32;
        }
        let n = self.rows.len() / self.d.max(1);
        self.members = members;
        self.group_of = group_of;
        self.upper = alloc::filled(&[n], 0.0)?;
        self.lower = alloc::filled(&[n, t], 0.0)?;
        self.drift = alloc::filled(&[k], 0.0)?;
        Ok(())
    }
}

/// Orders `idx` so that consecutive runs of `GROUP` centers are groups: recursive median
/// splits along the feature of widest spread, each side a whole number of groups.
fn split_groups<T: Float>(centers: &[T], d: usize, idx: &mut [u32]) {
    if idx.len() <= GROUP {
        return;
    }
    let value = |j: u32, f: usize| centers[j as usize * d + f].to_f64();
    let spread = |f: usize| {
        let (lo, hi) = idx
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &j| {
                (lo.min(value(j, f)), hi.max(value(j, f)))
            });
        hi - lo
    };
    let feature = (0..d).fold(0, |best, f| if spread(f) > spread(best) { f } else { best });
    idx.sort_by(|&a, &b| {
        value(a, feature)
            .partial_cmp(&value(b, feature))
            .unwrap_or(std::cmp::Ordering::Equal)
            .then(a.cmp(&b))
    });
    let left = idx.len().div_ceil(GROUP).div_ceil(2) * GROUP;
    let (a, b) = idx.split_at_mut(left);
    split_groups(centers, d, a);
    split_groups(centers, d, b);
}

/// The centers of each group times -2, feature-major (`[group][feature][lane]`), and their
/// squared norms (`[group][lane]`, +inf for padding), as the full scan's panels.
fn group_panels<T: Float>(
    centers: &[T],
    norms: &[T],
    d: usize,
    members: &[u32],
) -> (Vec<T>, Vec<T>) {
    let t = members.len() / GROUP;
    let mut panels = vec![T::ZERO; t * d * GROUP];
    let mut gnorms = vec![T::INFINITY; t * GROUP];
    for (pos, &j) in members.iter().enumerate() {
        if j == NONE {
            continue;
        }
        let (g, l) = (pos / GROUP, pos % GROUP);
        let j = j as usize;
        for f in 0..d {
            panels[(g * d + f) * GROUP + l] = centers[j * d + f] * T::from_f64(-2.0);
        }
        gnorms[pos] = norms[j];
    }
    (panels, gnorms)
}

/// `D` of row `pairs[p].0` of `x` to every center of group `pairs[p].1`, into
/// `out[p * GROUP..]`: each lane the chain of the full scan's kernel.
#[inline(always)]
fn pair_distances_body<T: Float, const FMA: bool>(
    x: &[T],
    d: usize,
    panels: &[T],
    gnorms: &[T],
    pairs: &[(u32, u32)],
    out: &mut [T],
) {
    assert!(out.len() >= pairs.len() * GROUP);
    for (batch, out) in pairs.chunks(BATCH).zip(out.chunks_mut(BATCH * GROUP)) {
        // Short batches repeat their last pair (not stored).
        let pick = |h: usize| batch[h.min(batch.len() - 1)];
        let xr: [&[T]; BATCH] = std::array::from_fn(|h| {
            let r = pick(h).0 as usize;
            &x[r * d..(r + 1) * d]
        });
        let pr: [&[T]; BATCH] = std::array::from_fn(|h| {
            let g = pick(h).1 as usize;
            &panels[g * d * GROUP..(g + 1) * d * GROUP]
        });
        let mut acc: [[T; GROUP]; BATCH] = std::array::from_fn(|h| {
            let g = pick(h).1 as usize;
            gnorms[g * GROUP..(g + 1) * GROUP].try_into().unwrap()
        });
        for f in 0..d {
            for h in 0..BATCH {
                // SAFETY: f < d; each row holds d values and each panel d * GROUP.
                let xv = unsafe { *xr[h].get_unchecked(f) };
                let cv: &[T; GROUP] =
                    unsafe { &*(pr[h].as_ptr().add(f * GROUP) as *const [T; GROUP]) };
                for l in 0..GROUP {
                    acc[h][l] = if FMA {
                        xv.mul_add(cv[l], acc[h][l])
                    } else {
                        acc[h][l] + xv * cv[l]
                    };
                }
            }
        }
        for (h, o) in out.chunks_mut(GROUP).take(batch.len()).enumerate() {
            o.copy_from_slice(&acc[h]);
        }
    }
}

/// Returns the AVX-512 or AVX2 kernel's result (the widest the CPU has) on `x`, `panels`,
/// `gnorms` and `out` viewed as `$t` when the generic `$g` is `$t`; does nothing otherwise. The
/// caller has checked that the kernel's indices stay within the arrays.
#[cfg(target_arch = "x86_64")]
macro_rules! simd_dispatch {
    ($g:ident as $t:ty => $avx512:ident | $avx2:ident
     ($x:expr, $d:expr, $panels:expr, $gnorms:expr, [$($extra:expr),*], $out:expr)) => {
        if let (Some(x), Some(p), Some(n)) = (
            as_type::<$g, $t>($x),
            as_type::<$g, $t>($panels),
            as_type::<$g, $t>($gnorms),
        ) {
            let out = as_type_mut::<$g, $t>($out).unwrap();
            // SAFETY: the CPU features are detected here; the caller checked the indices.
            unsafe {
                if crate::cpu::has_avx512() {
                    return $avx512(x, $d, p, n, $($extra,)* out);
                }
                if crate::cpu::has_avx2() {
                    return $avx2(x, $d, p, n, $($extra,)* out);
                }
            }
        }
    };
}

/// [`pair_distances_body`] with the arithmetic of [`crate::nearest::dense::nearest`] on this
/// CPU: fused multiply-adds with AVX2 or AVX-512, else separate products and sums.
fn pair_distances<T: Float>(
    x: &[T],
    d: usize,
    panels: &[T],
    gnorms: &[T],
    pairs: &[(u32, u32)],
    out: &mut [T],
) {
    assert!(out.len() >= pairs.len() * GROUP && gnorms.len() * d == panels.len());
    assert!(pairs.iter().all(|&(r, g)| {
        (r as usize + 1) * d <= x.len() && (g as usize + 1) * GROUP <= gnorms.len()
    }));
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY (of the kernels called): the pairs were checked above.
        simd_dispatch!(T as f32 => pairs_avx512_f32 | pairs_avx2_f32
            (x, d, panels, gnorms, [pairs], out));
        simd_dispatch!(T as f64 => pairs_avx512_f64 | pairs_avx2_f64
            (x, d, panels, gnorms, [pairs], out));
    }
    pair_distances_body::<T, false>(x, d, panels, gnorms, pairs, out)
}

/// `values` viewed as `&[U]` when `T` and `U` are the same type.
fn as_type<T: 'static, U: 'static>(values: &[T]) -> Option<&[U]> {
    (std::any::TypeId::of::<T>() == std::any::TypeId::of::<U>())
        // SAFETY: T and U are the same type.
        .then(|| unsafe { std::slice::from_raw_parts(values.as_ptr() as *const U, values.len()) })
}

fn as_type_mut<T: 'static, U: 'static>(values: &mut [T]) -> Option<&mut [U]> {
    (std::any::TypeId::of::<T>() == std::any::TypeId::of::<U>()).then(|| {
        // SAFETY: T and U are the same type.
        unsafe { std::slice::from_raw_parts_mut(values.as_mut_ptr() as *mut U, values.len()) }
    })
}

/// [`pair_distances_body`] with vectors across a group's lanes and `B` pairs in flight (their
/// independent chains hide the FMA latency): `fmadd(x_f, -2c_f, acc)` from `||c||^2`, as the
/// full scan's kernel.
macro_rules! simd_pairs {
    ($name:ident, $features:literal, $t:ty, $v:ty, $lanes:literal, $b:literal,
     $load:ident, $set1:ident, $fmadd:ident, $store:ident) => {
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = $features)]
        unsafe fn $name(
            x: &[$t],
            d: usize,
            panels: &[$t],
            gnorms: &[$t],
            pairs: &[(u32, u32)],
            out: &mut [$t],
        ) {
            use std::arch::x86_64::*;
            const NV: usize = GROUP / $lanes;
            const B: usize = $b;
            for (bi, batch) in pairs.chunks(B).enumerate() {
                // Short batches repeat their last pair (not stored).
                let pick = |h: usize| batch[h.min(batch.len() - 1)];
                let xp: [*const $t; B] =
                    std::array::from_fn(|h| x.as_ptr().add(pick(h).0 as usize * d));
                let pp: [*const $t; B] =
                    std::array::from_fn(|h| panels.as_ptr().add(pick(h).1 as usize * d * GROUP));
                let mut acc: [[$v; NV]; B] = std::array::from_fn(|h| {
                    let n = gnorms.as_ptr().add(pick(h).1 as usize * GROUP);
                    std::array::from_fn(|v| $load(n.add(v * $lanes)))
                });
                if batch.len() == B && batch.iter().all(|p| p.0 == batch[0].0) {
                    // One row against B groups: one broadcast serves them all.
                    for f in 0..d {
                        let xb = $set1(*xp[0].add(f));
                        for h in 0..B {
                            for v in 0..NV {
                                let c = $load(pp[h].add(f * GROUP + v * $lanes));
                                acc[h][v] = $fmadd(xb, c, acc[h][v]);
                            }
                        }
                    }
                } else {
                    for f in 0..d {
                        for h in 0..B {
                            let xb = $set1(*xp[h].add(f));
                            for v in 0..NV {
                                let c = $load(pp[h].add(f * GROUP + v * $lanes));
                                acc[h][v] = $fmadd(xb, c, acc[h][v]);
                            }
                        }
                    }
                }
                let o = out.as_mut_ptr().add(bi * B * GROUP);
                for h in 0..batch.len() {
                    for v in 0..NV {
                        $store(o.add(h * GROUP + v * $lanes), acc[h][v]);
                    }
                }
            }
        }
    };
}

simd_pairs!(
    pairs_avx512_f32,
    "avx512f,avx512vl,fma",
    f32,
    __m512,
    16,
    8,
    _mm512_loadu_ps,
    _mm512_set1_ps,
    _mm512_fmadd_ps,
    _mm512_storeu_ps
);
simd_pairs!(
    pairs_avx512_f64,
    "avx512f,avx512vl,fma",
    f64,
    __m512d,
    8,
    8,
    _mm512_loadu_pd,
    _mm512_set1_pd,
    _mm512_fmadd_pd,
    _mm512_storeu_pd
);
simd_pairs!(
    pairs_avx2_f32,
    "avx2,fma",
    f32,
    __m256,
    8,
    5,
    _mm256_loadu_ps,
    _mm256_set1_ps,
    _mm256_fmadd_ps,
    _mm256_storeu_ps
);
simd_pairs!(
    pairs_avx2_f64,
    "avx2,fma",
    f64,
    __m256d,
    4,
    3,
    _mm256_loadu_pd,
    _mm256_set1_pd,
    _mm256_fmadd_pd,
    _mm256_storeu_pd
);

/// `D` of each of `rows` of `x` to every center of the `t` groups, into
/// `out[(i * t + g) * GROUP..]` for the `i`-th row: [`pair_distances`] for the pairs of every
/// row with every group, in register tiles of rows and groups where the CPU has AVX2 or
/// AVX-512 (each panel load and each broadcast serve several chains: the full scan's speed).
fn row_distances<T: Float>(
    x: &[T],
    d: usize,
    panels: &[T],
    gnorms: &[T],
    rows: &[u32],
    out: &mut [T],
) {
    let t = gnorms.len() / GROUP;
    assert!(out.len() >= rows.len() * t * GROUP && gnorms.len() * d == panels.len());
    assert!(rows.iter().all(|&r| (r as usize + 1) * d <= x.len()));
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY (of the kernels called): the rows were checked above.
        simd_dispatch!(T as f32 => tiles_avx512_f32 | tiles_avx2_f32
            (x, d, panels, gnorms, [rows, t], out));
        simd_dispatch!(T as f64 => tiles_avx512_f64 | tiles_avx2_f64
            (x, d, panels, gnorms, [rows, t], out));
    }
    let pairs: Vec<(u32, u32)> = rows
        .iter()
        .flat_map(|&r| (0..t as u32).map(move |g| (r, g)))
        .collect();
    pair_distances(x, d, panels, gnorms, &pairs, out)
}

/// [`row_distances`] in tiles of `R` rows by `GB` groups (short tiles repeat their last row
/// or group, not stored).
macro_rules! simd_tiles {
    ($name:ident, $features:literal, $t:ty, $v:ty, $lanes:literal, $r:literal, $gb:literal,
     $load:ident, $set1:ident, $fmadd:ident, $store:ident) => {
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = $features)]
        unsafe fn $name(
            x: &[$t],
            d: usize,
            panels: &[$t],
            gnorms: &[$t],
            rows: &[u32],
            t: usize,
            out: &mut [$t],
        ) {
            use std::arch::x86_64::*;
            const NV: usize = GROUP / $lanes;
            const R: usize = $r;
            const GB: usize = $gb;
            for (ri, block) in rows.chunks(R).enumerate() {
                let xp: [*const $t; R] = std::array::from_fn(|h| {
                    x.as_ptr().add(block[h.min(block.len() - 1)] as usize * d)
                });
                let mut g0 = 0;
                while g0 < t {
                    let gs: [usize; GB] = std::array::from_fn(|q| (g0 + q).min(t - 1));
                    let pp: [*const $t; GB] =
                        std::array::from_fn(|q| panels.as_ptr().add(gs[q] * d * GROUP));
                    let init: [[$v; NV]; GB] = std::array::from_fn(|q| {
                        std::array::from_fn(|v| {
                            $load(gnorms.as_ptr().add(gs[q] * GROUP + v * $lanes))
                        })
                    });
                    let mut acc: [[[$v; NV]; GB]; R] = [init; R];
                    for f in 0..d {
                        let c: [[$v; NV]; GB] = std::array::from_fn(|q| {
                            std::array::from_fn(|v| $load(pp[q].add(f * GROUP + v * $lanes)))
                        });
                        for h in 0..R {
                            let xb = $set1(*xp[h].add(f));
                            for q in 0..GB {
                                for v in 0..NV {
                                    acc[h][q][v] = $fmadd(xb, c[q][v], acc[h][q][v]);
                                }
                            }
                        }
                    }
                    for h in 0..block.len() {
                        for q in 0..GB.min(t - g0) {
                            let o = out.as_mut_ptr().add(((ri * R + h) * t + g0 + q) * GROUP);
                            for v in 0..NV {
                                $store(o.add(v * $lanes), acc[h][q][v]);
                            }
                        }
                    }
                    g0 += GB;
                }
            }
        }
    };
}

simd_tiles!(
    tiles_avx512_f32,
    "avx512f,avx512vl,fma",
    f32,
    __m512,
    16,
    4,
    4,
    _mm512_loadu_ps,
    _mm512_set1_ps,
    _mm512_fmadd_ps,
    _mm512_storeu_ps
);
simd_tiles!(
    tiles_avx512_f64,
    "avx512f,avx512vl,fma",
    f64,
    __m512d,
    8,
    4,
    2,
    _mm512_loadu_pd,
    _mm512_set1_pd,
    _mm512_fmadd_pd,
    _mm512_storeu_pd
);
simd_tiles!(
    tiles_avx2_f32,
    "avx2,fma",
    f32,
    __m256,
    8,
    2,
    2,
    _mm256_loadu_ps,
    _mm256_set1_ps,
    _mm256_fmadd_ps,
    _mm256_storeu_ps
);
simd_tiles!(
    tiles_avx2_f64,
    "avx2,fma",
    f64,
    __m256d,
    4,
    2,
    1,
    _mm256_loadu_pd,
    _mm256_set1_pd,
    _mm256_fmadd_pd,
    _mm256_storeu_pd
);

/// A chunk evaluates every group of its rows not pruned outright (with [`row_distances`])
/// once its pairs exceed this fraction of them: the tiles are about twice as fast per
/// distance as the pairs, and the bounds come out tight.
const DENSE_FRACTION: f64 = 0.5;

/// The smallest of a group's `D` (no NaN: the data and centers are finite), as a tree of
/// independent comparisons that the compiler vectorises.
#[inline(always)]
fn group_min<T: Float>(lanes: &[T]) -> T {
    let mut m: [T; GROUP] = lanes.try_into().unwrap();
    let mut width = GROUP / 2;
    while width > 0 {
        for i in 0..width {
            m[i] = if m[i + width] < m[i] {
                m[i + width]
            } else {
                m[i]
            };
        }
        width /= 2;
    }
    m[0]
}

/// Per-pass constants of the bounds.
#[derive(Clone, Copy)]
struct Margins {
    /// `E / (||x||^2 + max ||c||^2)`.
    coef: f64,
    /// Absolute slack (underflow).
    tiny: f64,
    cmax: f64,
}

impl Margins {
    fn error(&self, x_norm: f64) -> f64 {
        self.coef * (x_norm + self.cmax) + self.tiny
    }
}

/// The smallest positive normal number of `T`.
fn smallest_normal<T: Float>() -> f64 {
    if std::mem::size_of::<T>() == 4 {
        f32::MIN_POSITIVE as f64
    } else {
        f64::MIN_POSITIVE
    }
}

/// Relative widening of f64 bounds for their own roundings.
const WIDEN: f64 = 8.0 * f64::EPSILON;

/// Upper bound on the true distance of a center whose `D` is `dist`.
fn upper_of(dist: f64, x_norm: f64, e: f64) -> f64 {
    (dist + x_norm + e).max(0.0).sqrt() * (1.0 + WIDEN)
}

/// Lower bound on the true distance of a center whose `D` is `dist`.
fn lower_of(dist: f64, x_norm: f64, e: f64) -> f64 {
    (dist + x_norm - e).max(0.0).sqrt() * (1.0 - WIDEN)
}

/// Whether a group with lower bound `lower` cannot hold a center that wins or ties against
/// one whose true distance is at most `upper`.
fn prunes(lower: f64, upper: f64, e: f64) -> bool {
    lower * lower * (1.0 - WIDEN) > (upper * upper + 2.0 * e) * (1.0 + WIDEN)
}

impl<T: Float, S: NearestSearch<T>> Yinyang<'_, T, S> {
    /// Whether the bounds' arithmetic holds for these centers: finite, and far from overflow.
    fn prunable(&self, norms: &[T]) -> bool {
        let big = |v: f64| !(v.is_finite() && v * 8.0 < T::MAX.to_f64());
        let xmax = self.x_norm_max;
        let cmax = norms.iter().fold(0.0f64, |m, v| m.max(v.to_f64()));
        !(big(xmax) || big(cmax) || big(xmax + cmax))
    }

    fn pruned_assign(
        &mut self,
        centers: &[T],
        norms: &[T],
        labels: &mut [i32],
        accumulate: bool,
    ) -> Pass<T> {
        let d = self.d;
        let k = norms.len();
        let n = labels.len();
        let t = self.n_groups();
        let eps = T::EPSILON.to_f64();
        let tiny = smallest_normal::<T>();
        let margins = Margins {
            coef: (3 * d + 32) as f64 * eps,
            tiny: 4.0 * (d + 4) as f64 * tiny,
            cmax: norms.iter().fold(0.0f64, |m, v| m.max(v.to_f64())),
        };
        let (panels, gnorms) = group_panels(centers, norms, d, &self.members);
        let group_drift: Vec<f64> = (0..t)
            .map(|g| {
                self.members[g * GROUP..(g + 1) * GROUP]
                    .iter()
                    .filter(|&&j| j != NONE)
                    .fold(0.0f64, |m, &j| m.max(self.drift[j as usize]))
            })
            .collect();
        let valid = self.valid;
        let state = if accumulate { k * d + k } else { 0 };
        let blocks = blocks::partition(n, state);
        let label_slices = split_by_blocks(labels, &blocks, 1);
        let upper_slices = split_by_blocks(&mut self.upper, &blocks, 1);
        let lower_slices = split_by_blocks(&mut self.lower, &blocks, t);
        let ctx = Context {
            rows: self.rows,
            d,
            t,
            x_norms: &self.x_norms,
            members: &self.members,
            group_of: &self.group_of,
            panels: &panels,
            gnorms: &gnorms,
            drift: &self.drift,
            group_drift: &group_drift,
            margins,
            valid,
        };
        let (x, sample_weight) = (self.x, self.sample_weight);
        let parts: Vec<(bool, ClusterSums<T>, u64)> = blocks
            .par_iter()
            .zip(label_slices)
            .zip(upper_slices.into_par_iter().zip(lower_slices))
            .map(|((block, block_labels), (upper, lower))| {
                let mut sums = if accumulate {
                    ClusterSums::zeros(k, d)?
                } else {
                    ClusterSums::zeros(0, 0)?
                };
                let mut scratch = Scratch::default();
                let mut nearest = [0u32; CHUNK];
                let mut changed = false;
                let mut evaluated = 0u64;
                for chunk in blocks::chunks(block.clone()) {
                    let m = chunk.len();
                    let local = chunk.start - block.start..chunk.end - block.start;
                    let labels = &mut block_labels[local.clone()];
                    evaluated += ctx.chunk(
                        chunk.start,
                        labels,
                        &mut upper[local.clone()],
                        &mut lower[local.start * t..local.end * t],
                        &mut nearest[..m],
                        &mut scratch,
                    );
                    let weights = &sample_weight[chunk.clone()];
                    let sums = accumulate.then_some(&mut sums);
                    changed |=
                        steps::record_chunk(x, chunk.start, &nearest[..m], labels, weights, sums);
                }
                Ok((changed, sums, evaluated))
            })
            .collect::<Result<_, KernelError>>()?;
        self.valid = true;
        self.drift.fill(0.0);
        let changed = parts.iter().any(|p| p.0);
        let evaluated: u64 = parts.iter().map(|p| p.2).sum::<u64>() * GROUP as u64;
        let full = (n * t * GROUP) as u64;
        self.evaluated.push((evaluated, full));
        let sums = if accumulate {
            ClusterSums::combine(parts.into_iter().map(|p| p.1).collect(), k, d)?
        } else {
            ClusterSums::zeros(0, 0)?
        };
        Ok((changed, sums))
    }
}

/// What every chunk of a pass reads.
struct Context<'c, T> {
    rows: &'c [T],
    d: usize,
    t: usize,
    x_norms: &'c [f64],
    members: &'c [u32],
    group_of: &'c [u32],
    panels: &'c [T],
    gnorms: &'c [T],
    drift: &'c [f64],
    group_drift: &'c [f64],
    margins: Margins,
    valid: bool,
}

#[derive(Default)]
struct Scratch<T> {
    /// (row of the chunk, group) pairs to evaluate: each row's own group first, then others.
    pairs: Vec<(u32, u32)>,
    dist: Vec<T>,
    /// Each pair's smallest `D`.
    mins: Vec<T>,
    /// Per row of the chunk: its pairs' range in `pairs` for the second round.
    own: Vec<u32>,
    others: Vec<(u32, u32)>,
    /// Per row: the smallest `D` of its own group and its upper bound (first round).
    tentative: Vec<f64>,
}

impl<T: Float> Context<'_, T> {
    /// Replaces the chunk's pairs by every group of `rows` (evaluated in tiles).
    fn every_group(&self, x: &[T], rows: &[u32], s: &mut Scratch<T>) {
        let t = self.t;
        s.pairs.clear();
        for (i, &r) in rows.iter().enumerate() {
            s.own[r as usize] = NONE;
            s.others[r as usize] = ((i * t) as u32, ((i + 1) * t) as u32);
            s.pairs.extend((0..t as u32).map(|g| (r, g)));
        }
        s.dist.resize(s.pairs.len() * GROUP, T::ZERO);
        row_distances(x, self.d, self.panels, self.gnorms, rows, &mut s.dist);
    }

    /// Labels of the chunk's rows into `nearest` (the old labels in `labels`), with their
    /// bounds updated; returns the number of group evaluations.
    fn chunk(
        &self,
        start: usize,
        labels: &[i32],
        upper: &mut [f64],
        lower: &mut [f64],
        nearest: &mut [u32],
        s: &mut Scratch<T>,
    ) -> u64 {
        let (d, t) = (self.d, self.t);
        let m = nearest.len();
        let x = &self.rows[start * d..(start + m) * d];
        s.pairs.clear();
        s.own.clear();
        s.own.resize(m, NONE);
        s.others.clear();
        s.others.resize(m, (0, 0));
        s.tentative.clear();
        s.tentative.resize(m, f64::INFINITY);
        if self.valid {
            // Round one: loosen the bounds by the drifts; rows not pruned outright evaluate
            // their own group first.
            for r in 0..m {
                let i = start + r;
                let a = labels[r] as usize;
                let e = self.margins.error(self.x_norms[i]);
                let ub = upper[r] + self.drift[a];
                upper[r] = ub;
                let lb = &mut lower[r * t..(r + 1) * t];
                for (l, &gd) in lb.iter_mut().zip(self.group_drift) {
                    let v = *l - gd;
                    *l = if v > 0.0 { v } else { 0.0 };
                }
                let min_lb = lb
                    .iter()
                    .fold(f64::INFINITY, |m, &v| if v < m { v } else { m });
                if prunes(min_lb, ub, e) {
                    nearest[r] = a as u32;
                    continue;
                }
                s.own[r] = s.pairs.len() as u32;
                s.pairs.push((r as u32, self.group_of[a]));
            }
            let n_own = s.pairs.len();
            s.dist.resize(n_own * GROUP, T::ZERO);
            pair_distances(x, d, self.panels, self.gnorms, &s.pairs, &mut s.dist);
            // Round two: the other groups that the tightened bound does not prune.
            for r in 0..m {
                if s.own[r] == NONE {
                    continue;
                }
                let p = s.own[r] as usize;
                let e = self.margins.error(self.x_norms[start + r]);
                let best = group_min(&s.dist[p * GROUP..(p + 1) * GROUP]).to_f64();
                let ub = upper_of(best, self.x_norms[start + r], e);
                s.tentative[r] = ub;
                let own_group = s.pairs[p].1 as usize;
                let from = s.pairs.len() as u32;
                for (g, &l) in lower[r * t..(r + 1) * t].iter().enumerate() {
                    if g != own_group && !prunes(l, ub, e) {
                        s.pairs.push((r as u32, g as u32));
                    }
                }
                s.others[r] = (from, s.pairs.len() as u32);
            }
            let n_rows = s.own.iter().filter(|&&p| p != NONE).count();
            if s.pairs.len() as f64 > DENSE_FRACTION * (n_rows * t) as f64 {
                let rows: Vec<u32> = (0..m as u32)
                    .filter(|&r| s.own[r as usize] != NONE)
                    .collect();
                self.every_group(x, &rows, s);
            } else {
                let more = &s.pairs[n_own..];
                s.dist.resize(s.pairs.len() * GROUP, T::ZERO);
                pair_distances(
                    x,
                    d,
                    self.panels,
                    self.gnorms,
                    more,
                    &mut s.dist[n_own * GROUP..],
                );
            }
        } else {
            // No bounds yet: every group.
            let rows: Vec<u32> = (0..m as u32).collect();
            self.every_group(x, &rows, s);
        }
        // The smallest D among the evaluated centers (the lowest index on ties), and the
        // bounds from the evaluated D.
        s.mins.resize(s.pairs.len(), T::ZERO);
        for r in 0..m {
            let (from, to) = s.others[r];
            let own = s.own[r];
            if own == NONE && from == to {
                continue; // pruned outright
            }
            let evaluated = (own != NONE)
                .then_some(own as usize)
                .into_iter()
                .chain(from as usize..to as usize);
            // Each pair's smallest D (a vectorised reduction); the lowest center index among
            // equal ones only where the pair can hold the winner.
            let mut best = (T::INFINITY, NONE);
            let mut best_pair = usize::MAX;
            for p in evaluated.clone() {
                let lanes = &s.dist[p * GROUP..(p + 1) * GROUP];
                let low = group_min(lanes);
                s.mins[p] = low;
                if low <= best.0 {
                    let g = s.pairs[p].1 as usize;
                    let members = &self.members[g * GROUP..(g + 1) * GROUP];
                    let j = lanes
                        .iter()
                        .zip(members)
                        .filter(|&(&v, &j)| v == low && j != NONE)
                        .fold(NONE, |m, (_, &j)| m.min(j));
                    if low < best.0 || j < best.1 {
                        best = (low, j);
                        best_pair = p;
                    }
                }
            }
            nearest[r] = best.1;
            let i = start + r;
            let x_norm = self.x_norms[i];
            let e = self.margins.error(x_norm);
            upper[r] = upper_of(best.0.to_f64(), x_norm, e);
            let lb = &mut lower[r * t..(r + 1) * t];
            for p in evaluated {
                let g = s.pairs[p].1 as usize;
                let low = if p == best_pair {
                    // The winner's group: its other centers.
                    let members = &self.members[g * GROUP..(g + 1) * GROUP];
                    s.dist[p * GROUP..(p + 1) * GROUP]
                        .iter()
                        .zip(members)
                        .filter(|&(_, &j)| j != NONE && j != best.1)
                        .fold(T::INFINITY, |b, (&v, _)| b.min(v))
                } else {
                    s.mins[p]
                };
                lb[g] = if low == T::INFINITY {
                    f64::INFINITY
                } else {
                    lower_of(low.to_f64(), x_norm, e)
                };
            }
        }
        s.pairs.len() as u64
    }
}

impl<T: Float, S: NearestSearch<T>> Assignment<T> for Yinyang<'_, T, S> {
    fn assign(&mut self, centers: &[T], labels: &mut [i32], accumulate: bool) -> Pass<T> {
        let d = self.d;
        let k = centers.len() / d.max(1);
        let norms = row_sq_norms(centers, d);
        // Without memory for the bounds, the full scan (same result).
        if self.members.is_empty() && !self.no_memory && self.make_groups(centers, k).is_err() {
            self.no_memory = true;
        }
        let finite = centers.iter().all(|v| v.is_finite());
        if self.no_memory || !finite || !self.prunable(&norms) {
            self.valid = false;
            return steps::assign(self.x, self.sample_weight, centers, labels, accumulate);
        }
        self.pruned_assign(centers, &norms, labels, accumulate)
    }

    fn centers_moved(&mut self, _labels: &[i32], shift: &[T]) {
        if self.drift.is_empty() {
            return;
        }
        // The true distance between the old and new centers, rounded up (the shift is a
        // rounded sum of d squares and a square root).
        // Squares below the smallest normal number may round to zero: a small absolute term.
        let widen = 1.0 + (self.d + 8) as f64 * T::EPSILON.to_f64();
        let floor = 2.0 * (self.d as f64 * smallest_normal::<T>()).sqrt();
        for (dr, s) in self.drift.iter_mut().zip(shift) {
            *dr += s.to_f64() * widen + floor;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kmeans::iterate;
    use crate::kmeans::lloyd::Lloyd;
    use crate::kmeans::{RunConfig, RunResult};
    use crate::samples::Dense;

    fn bits<T: Float>(v: &[T]) -> Vec<u64> {
        v.iter().map(|x| x.to_f64().to_bits()).collect()
    }

    /// Runs the full scan and the pruned one in pools of 1 and 3 threads: the same labels,
    /// centers, inertia and iterations. Returns the pruned runs' evaluated fractions.
    fn check_same<T: Float>(x: &[T], n: usize, d: usize, init: &[T], max_iter: usize) -> Vec<f64> {
        let w: Vec<T> = (0..n).map(|i| T::from_f64(0.5 + (i % 3) as f64)).collect();
        let samples = Dense::new(x, n, d).unwrap();
        let config = RunConfig {
            max_iter,
            tol: 0.0,
            verbose: true,
        };
        let never = || false;
        let in_pool = |threads: usize, pruned: bool| -> (RunResult<T>, Vec<(u64, u64)>) {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                if pruned {
                    let mut y = Yinyang::new(&samples, &w).unwrap();
                    let r = iterate::run(&samples, &w, init, &config, &never, &mut y).unwrap();
                    (r, y.evaluated)
                } else {
                    let mut l = Lloyd::new(&samples, &w);
                    let r = iterate::run(&samples, &w, init, &config, &never, &mut l).unwrap();
                    (r, Vec::new())
                }
            })
        };
        let (want, _) = in_pool(1, false);
        let mut fractions = Vec::new();
        for threads in [1, 3] {
            let (got, evaluated) = in_pool(threads, true);
            assert_eq!(got.labels, want.labels, "labels, {threads} threads");
            assert_eq!(bits(&got.centers), bits(&want.centers), "centers");
            assert_eq!(got.inertia.to_bits(), want.inertia.to_bits(), "inertia");
            assert_eq!(got.n_iter, want.n_iter, "n_iter");
            assert_eq!(got.events, want.events, "per-iteration inertia");
            fractions = evaluated
                .iter()
                .map(|&(e, f)| e as f64 / f as f64)
                .collect();
        }
        fractions
    }

    fn blobs<T: Float>(n: usize, d: usize, k: usize, spread: f64) -> (Vec<T>, Vec<T>) {
        // Deterministic pseudo-random blobs: k centers, uniform noise around them.
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let centers: Vec<f64> = (0..k * d).map(|_| (next() - 0.5) * spread).collect();
        let mut x = Vec::with_capacity(n * d);
        for i in 0..n {
            let c = (i * 7919) % k;
            for f in 0..d {
                x.push(T::from_f64(centers[c * d + f] + (next() - 0.5) * 2.0));
            }
        }
        let init: Vec<T> = (0..k)
            .flat_map(|j| {
                let i = (j * 104_729 + 13) % n;
                x[i * d..(i + 1) * d].to_vec()
            })
            .collect();
        (x, init)
    }

    #[test]
    fn pruned_lloyd_is_the_full_scan_on_blobs() {
        for (n, d, k) in [(4000, 16, 64), (3000, 9, 70), (2500, 64, 100)] {
            let (x, init) = blobs::<f64>(n, d, k, 12.0);
            let f64_fractions = check_same(&x, n, d, &init, 25);
            let (x, init) = blobs::<f32>(n, d, k, 12.0);
            let f32_fractions = check_same(&x, n, d, &init, 25);
            // The first pass evaluates everything; later ones skip most groups.
            for fractions in [f64_fractions, f32_fractions] {
                assert_eq!(fractions[0], 1.0);
                let last = *fractions.last().unwrap();
                assert!(last < 0.5, "n={n} d={d} k={k}: {fractions:?}");
            }
        }
    }

    #[test]
    fn pruned_lloyd_is_the_full_scan_on_blobs_far_from_the_origin() {
        // A large offset makes ||x||^2 dominate the distances: the margins must hold there.
        let (n, d, k) = (3000, 8, 64);
        let (mut x, _) = blobs::<f32>(n, d, k, 3.0);
        x.iter_mut().for_each(|v| *v += 1000.0);
        let init: Vec<f32> = x[..k * d].to_vec();
        check_same(&x, n, d, &init, 30);
        let x64: Vec<f64> = x.iter().map(|&v| v as f64 + 1e6).collect();
        let init: Vec<f64> = x64[..k * d].to_vec();
        check_same(&x64, n, d, &init, 30);
    }

    #[test]
    fn pruned_lloyd_is_the_full_scan_on_ties() {
        fn check<T: Float>() {
            // Integer grid points with many duplicates: duplicate centers (exact ties), samples
            // halfway between centers, and empty clusters to relocate.
            for (n, d, k) in [(3000, 3, 64), (2000, 2, 80), (1500, 5, 96)] {
                let x: Vec<T> = (0..n * d)
                    .map(|i| T::from_f64(((i * 7 + i / d * 3) % 5) as f64))
                    .collect();
                let init: Vec<T> = (0..k)
                    .flat_map(|j| {
                        let i = (j * 31) % n;
                        x[i * d..(i + 1) * d].to_vec()
                    })
                    .collect();
                check_same(&x, n, d, &init, 20);
                // Centers halfway between grid points.
                let half: Vec<T> = init
                    .iter()
                    .enumerate()
                    .map(|(i, &v)| v + T::from_f64(if i % 3 == 0 { 0.5 } else { 0.0 }))
                    .collect();
                check_same(&x, n, d, &half, 20);
            }
        }
        check::<f64>();
        check::<f32>();
    }

    /// Each lane is the full scan's chain: `||c||^2`, then `x_f * (-2 c_f)` added feature by
    /// feature (fused where the CPU has FMA, as the full scan's kernels).
    #[test]
    fn pair_distances_are_the_full_scans_chains() {
        fn check<T: Float>(d: usize, k: usize) {
            let value = |i: usize, m: usize| T::from_f64(((i * m) % 1013) as f64 / 37.0 - 13.0);
            let (n, t) = (11, k.div_ceil(GROUP));
            let x: Vec<T> = (0..n * d).map(|i| value(i, 7919)).collect();
            let centers: Vec<T> = (0..k * d).map(|i| value(i, 104_729)).collect();
            let norms = row_sq_norms(&centers, d);
            let members: Vec<u32> = (0..t * GROUP)
                .map(|p| if p < k { ((p * 5) % k) as u32 } else { NONE })
                .collect();
            let (panels, gnorms) = group_panels(&centers, &norms, d, &members);
            let pairs: Vec<(u32, u32)> = (0..n * t)
                .map(|p| ((p * 3 % n) as u32, (p % t) as u32))
                .collect();
            let mut out = vec![T::ZERO; pairs.len() * GROUP];
            pair_distances(&x, d, &panels, &gnorms, &pairs, &mut out);
            // The tiles of every group give the same lanes as the pairs.
            let rows: Vec<u32> = (0..n as u32).rev().collect();
            let mut tiled = vec![T::ZERO; n * t * GROUP];
            row_distances(&x, d, &panels, &gnorms, &rows, &mut tiled);
            for (p, &(r, g)) in pairs.iter().enumerate() {
                let i = n - 1 - r as usize;
                let at = (i * t + g as usize) * GROUP;
                assert!(tiled[at..at + GROUP] == out[p * GROUP..(p + 1) * GROUP]);
            }
            let fma = crate::cpu::has_avx2();
            for (p, &(r, g)) in pairs.iter().enumerate() {
                for l in 0..GROUP {
                    let j = members[g as usize * GROUP + l];
                    let got = out[p * GROUP + l];
                    if j == NONE {
                        assert!(got == T::INFINITY);
                        continue;
                    }
                    let (r, j) = (r as usize, j as usize);
                    let want = (0..d).fold(norms[j], |acc, f| {
                        let (xv, c) = (x[r * d + f], centers[j * d + f] * T::from_f64(-2.0));
                        if fma {
                            xv.mul_add(c, acc)
                        } else {
                            acc + xv * c
                        }
                    });
                    assert!(got == want, "d={d} k={k} pair {p} lane {l}");
                }
            }
        }
        for d in [1, 7, 64] {
            for k in [16, 70, 130] {
                check::<f64>(d, k);
                check::<f32>(d, k);
            }
        }
    }

    #[test]
    fn groups_are_balanced_and_cover_every_center() {
        let (_, init) = blobs::<f64>(500, 4, 77, 10.0);
        let mut idx: Vec<u32> = (0..77).collect();
        split_groups(&init, 4, &mut idx);
        let mut sorted = idx.clone();
        sorted.sort();
        assert_eq!(sorted, (0..77).collect::<Vec<_>>());
    }
}
