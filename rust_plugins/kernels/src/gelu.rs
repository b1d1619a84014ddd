//! tanh-approximated GELU, its derivative and its second derivative, elementwise over slices.
//!
//! gelu(x) = 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), the function of PyTorch's
//! `F.gelu(x, approximate="tanh")`. `f32` and `f64` are computed in their own precision,
//! [`Bf16`] and [`F16`] in `f32` and rounded to nearest even. Every finite input gives a finite
//! value and finite derivatives; NaN gives NaN, +∞ gives +∞ and −∞ gives −0.
//!
//! The instruction set (AVX-512F, AVX2+FMA+F16C, or portable code) is chosen once at run time.
//! A slice's tail goes through the same vector code as its body (via a padded buffer), so an
//! element's result never depends on where a chunk boundary falls: results are identical for
//! every thread count and chunking.

mod formula;
mod half;
mod simd;

pub use half::{Bf16, F16};

use crate::KernelError;
use formula::Precision;
use rayon::prelude::*;
use simd::Lanes;

/// The vector instruction set a kernel call runs with.
pub use crate::cpu::Isa;

/// Whether a call may split its work over the current rayon pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parallelism {
    /// Only the calling thread (no rayon overhead: best for small slices).
    Serial,
    /// Chunks spread over the rayon pool the call runs in (`ThreadPool::install`).
    Rayon,
}

/// How a call writes its output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stores {
    /// Ordinary stores: the output stays in cache for whatever reads it next.
    Cached,
    /// Non-temporal stores that bypass the caches (x86): for outputs far larger than the
    /// last-level cache, which would be evicted before anyone reads them anyway, this saves
    /// reading every destination line before overwriting it.
    Streaming,
}

/// Threads and stores of a call; a bare [`Parallelism`] means ordinary stores.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mode {
    pub parallelism: Parallelism,
    pub stores: Stores,
}

impl From<Parallelism> for Mode {
    fn from(parallelism: Parallelism) -> Mode {
        Mode {
            parallelism,
            stores: Stores::Cached,
        }
    }
}

/// Which formula [`Element::run`] applies (an implementation detail of the public functions).
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// out = gelu(a)
    Forward,
    /// out = a · gelu'(b)
    Backward,
    /// out = gelu''(a)
    SecondDerivative,
}

/// Element types the kernels accept: `f32`, `f64`, [`Bf16`] and [`F16`].
pub trait Element: Copy + Default + Send + Sync + 'static + sealed::Sealed {
    /// Runs `op` over `len` elements. `a`/`b` may equal `out` (in place), never partially overlap.
    #[doc(hidden)]
    unsafe fn run(
        isa: Isa,
        op: Op,
        stores: Stores,
        a: *const Self,
        b: *const Self,
        out: *mut Self,
        len: usize,
    );
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
    impl Sealed for super::Bf16 {}
    impl Sealed for super::F16 {}
}

/// `out[i] = gelu(x[i])`.
pub fn forward<T: Element>(
    x: &[T],
    out: &mut [T],
    mode: impl Into<Mode>,
) -> Result<(), KernelError> {
    check_lengths(&[x.len()], out.len())?;
    let x = x.as_ptr();
    unsafe { run_chunked(Isa::detect(), Op::Forward, x, x, out, mode.into()) };
    Ok(())
}

/// `xy[i] = gelu(xy[i])`.
pub fn forward_in_place<T: Element>(xy: &mut [T], mode: impl Into<Mode>) {
    let x = xy.as_ptr();
    unsafe { run_chunked(Isa::detect(), Op::Forward, x, x, xy, mode.into()) };
}

/// `out[i] = grad[i] · gelu'(x[i])`: the gradient of the input given the gradient of the output.
pub fn backward<T: Element>(
    grad: &[T],
    x: &[T],
    out: &mut [T],
    mode: impl Into<Mode>,
) -> Result<(), KernelError> {
    check_lengths(&[grad.len(), x.len()], out.len())?;
    let (grad, x) = (grad.as_ptr(), x.as_ptr());
    unsafe { run_chunked(Isa::detect(), Op::Backward, grad, x, out, mode.into()) };
    Ok(())
}

/// `out[i] = gelu''(x[i])`, for double backward.
pub fn second_derivative<T: Element>(
    x: &[T],
    out: &mut [T],
    mode: impl Into<Mode>,
) -> Result<(), KernelError> {
    check_lengths(&[x.len()], out.len())?;
    let x = x.as_ptr();
    unsafe { run_chunked(Isa::detect(), Op::SecondDerivative, x, x, out, mode.into()) };
    Ok(())
}

fn check_lengths(inputs: &[usize], out: usize) -> Result<(), KernelError> {
    match inputs.iter().find(|&&len| len != out) {
        Some(len) => Err(KernelError::Shape(format!(
            "gelu: input has {len} elements but the output has {out}"
        ))),
        None => Ok(()),
    }
}

/// Elements per parallel task: large enough to amortise scheduling, a multiple of every
/// vector width, small enough to balance two to a few dozen threads at 1M elements.
const CHUNK: usize = 16 * 1024;

/// Raw pointers that rayon tasks share; each task touches a disjoint range.
#[derive(Clone, Copy)]
struct Operands<T> {
    a: *const T,
    b: *const T,
    out: *mut T,
}
unsafe impl<T: Send> Send for Operands<T> {}
unsafe impl<T: Send> Sync for Operands<T> {}

/// # Safety
/// `a` and `b` must be valid for `out.len()` reads; they may alias `out` exactly.
unsafe fn run_chunked<T: Element>(
    isa: Isa,
    op: Op,
    a: *const T,
    b: *const T,
    out: &mut [T],
    mode: Mode,
) {
    let len = out.len();
    let ptrs = Operands {
        a,
        b,
        out: out.as_mut_ptr(),
    };
    if mode.parallelism == Parallelism::Serial || len <= CHUNK {
        return T::run(isa, op, mode.stores, ptrs.a, ptrs.b, ptrs.out, len);
    }
    (0..len.div_ceil(CHUNK))
        .into_par_iter()
        .for_each(move |chunk| {
            let start = chunk * CHUNK;
            let n = CHUNK.min(len - start);
            let p = ptrs;
            T::run(
                isa,
                op,
                mode.stores,
                p.a.add(start),
                p.b.add(start),
                p.out.add(start),
                n,
            );
        });
}

/// One vector of results at `out`, computed from the vectors at `a` (and `b`).
#[inline(always)]
unsafe fn apply<V: Precision, T: Lanes<V>>(op: Op, a: *const T, b: *const T) -> V {
    match op {
        Op::Forward => formula::forward(T::load(a)),
        Op::Backward => formula::backward(T::load(a), T::load(b)),
        Op::SecondDerivative => formula::second_derivative(T::load(a)),
    }
}

/// Fewer than a vector of elements, through a padded copy: bit-identical to the vector loop.
#[inline(always)]
unsafe fn apply_partial<V: Precision, T: Lanes<V>>(
    op: Op,
    a: *const T,
    b: *const T,
    out: *mut T,
    count: usize,
) {
    const MAX_LANES: usize = 16;
    let mut pad_a = [T::default(); MAX_LANES];
    let mut pad_b = [T::default(); MAX_LANES];
    let mut pad_out = [T::default(); MAX_LANES];
    std::ptr::copy_nonoverlapping(a, pad_a.as_mut_ptr(), count);
    std::ptr::copy_nonoverlapping(b, pad_b.as_mut_ptr(), count);
    T::store(
        apply::<V, T>(op, pad_a.as_ptr(), pad_b.as_ptr()),
        pad_out.as_mut_ptr(),
    );
    std::ptr::copy_nonoverlapping(pad_out.as_ptr(), out, count);
}

/// The loop shared by every instruction set. With `STREAM`, a head brings `out` to the vector
/// alignment that non-temporal stores need; head and tail go through padded copies, so every
/// element gets the same bits whichever way it is reached.
#[inline(always)]
unsafe fn map<V: Precision, T: Lanes<V>, const STREAM: bool>(
    op: Op,
    a: *const T,
    b: *const T,
    out: *mut T,
    len: usize,
) {
    let vector_bytes = V::LANES * std::mem::size_of::<T>();
    let misalignment = out as usize % vector_bytes;
    let head = if !STREAM || misalignment == 0 {
        0
    } else if !misalignment.is_multiple_of(std::mem::size_of::<T>()) {
        // Elements themselves misaligned: no alignment reachable, so no streaming either.
        return map::<V, T, false>(op, a, b, out, len);
    } else {
        ((vector_bytes - misalignment) / std::mem::size_of::<T>()).min(len)
    };
    if head > 0 {
        apply_partial::<V, T>(op, a, b, out, head);
    }
    let (a, b, out, len) = (a.add(head), b.add(head), out.add(head), len - head);
    let body = len - len % V::LANES;
    // One loop per op so that the match is hoisted out of the hot loop.
    macro_rules! body_loop {
        ($op:expr) => {{
            let mut i = 0;
            while i < body {
                let value = apply::<V, T>($op, a.add(i), b.add(i));
                if STREAM {
                    T::store_streaming(value, out.add(i));
                } else {
                    T::store(value, out.add(i));
                }
                i += V::LANES;
            }
        }};
    }
    match op {
        Op::Forward => body_loop!(Op::Forward),
        Op::Backward => body_loop!(Op::Backward),
        Op::SecondDerivative => body_loop!(Op::SecondDerivative),
    }
    if body < len {
        apply_partial::<V, T>(op, a.add(body), b.add(body), out.add(body), len - body);
    }
    #[cfg(target_arch = "x86_64")]
    if STREAM {
        // Non-temporal stores are weakly ordered: publish them before returning.
        std::arch::x86_64::_mm_sfence();
    }
}

/// Monomorphises `map` for ordinary or streaming stores.
#[inline(always)]
unsafe fn map_with<V: Precision, T: Lanes<V>>(
    op: Op,
    stores: Stores,
    a: *const T,
    b: *const T,
    out: *mut T,
    len: usize,
) {
    match stores {
        Stores::Cached => map::<V, T, false>(op, a, b, out, len),
        Stores::Streaming => map::<V, T, true>(op, a, b, out, len),
    }
}

fn run_portable<V: Precision, T: Lanes<V>>(
    op: Op,
    stores: Stores,
    a: *const T,
    b: *const T,
    out: *mut T,
    n: usize,
) {
    unsafe { map_with::<V, T>(op, stores, a, b, out, n) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn run_avx2<V: Precision, T: Lanes<V>>(
    op: Op,
    stores: Stores,
    a: *const T,
    b: *const T,
    out: *mut T,
    n: usize,
) {
    map_with::<V, T>(op, stores, a, b, out, n)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn run_avx512<V: Precision, T: Lanes<V>>(
    op: Op,
    stores: Stores,
    a: *const T,
    b: *const T,
    out: *mut T,
    n: usize,
) {
    map_with::<V, T>(op, stores, a, b, out, n)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx512bf16")]
unsafe fn run_avx512_bf16<V: Precision, T: Lanes<V>>(
    op: Op,
    stores: Stores,
    a: *const T,
    b: *const T,
    out: *mut T,
    n: usize,
) {
    map_with::<V, T>(op, stores, a, b, out, n)
}

/// Binds an element type to its compute vector for each instruction set.
macro_rules! element {
    ($t:ty, portable: $portable:ty, avx2: $avx2:ident, avx512: $avx512:ident) => {
        impl Element for $t {
            #[inline]
            unsafe fn run(
                isa: Isa,
                op: Op,
                stores: Stores,
                a: *const Self,
                b: *const Self,
                out: *mut Self,
                n: usize,
            ) {
                match isa {
                    #[cfg(target_arch = "x86_64")]
                    Isa::Avx512 | Isa::Avx512Bf16 => {
                        run_avx512::<simd::$avx512, $t>(op, stores, a, b, out, n)
                    }
                    #[cfg(target_arch = "x86_64")]
                    Isa::Avx2 => run_avx2::<simd::$avx2, $t>(op, stores, a, b, out, n),
                    _ => run_portable::<$portable, $t>(op, stores, a, b, out, n),
                }
            }
        }
    };
}

element!(f32, portable: f32, avx2: F32x8, avx512: F32x16);
element!(f64, portable: f64, avx2: F64x4, avx512: F64x8);
impl Element for Bf16 {
    #[inline]
    unsafe fn run(
        isa: Isa,
        op: Op,
        stores: Stores,
        a: *const Self,
        b: *const Self,
        out: *mut Self,
        n: usize,
    ) {
        #[cfg(target_arch = "x86_64")]
        {
            use simd::{Bf16Native, F32x16, F32x8};
            match isa {
                Isa::Avx512Bf16 => {
                    let (a, b) = (a as *const Bf16Native, b as *const Bf16Native);
                    let out = out as *mut Bf16Native;
                    run_avx512_bf16::<F32x16, Bf16Native>(op, stores, a, b, out, n)
                }
                Isa::Avx512 => run_avx512::<F32x16, Bf16>(op, stores, a, b, out, n),
                Isa::Avx2 => run_avx2::<F32x8, Bf16>(op, stores, a, b, out, n),
                Isa::Portable => run_portable::<f32, Bf16>(op, stores, a, b, out, n),
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        run_portable::<f32, Bf16>(op, stores, a, b, out, n)
    }
}
element!(F16, portable: f32, avx2: F32x8, avx512: F32x16);

#[cfg(test)]
mod tests {
    use super::*;

    const K0: f64 = 0.797_884_560_802_865_4; // √(2/π)
    const K1: f64 = 0.044_715;

    /// The textbook formula in f64; for |x| > 1e3 its limits (tanh saturates, x³ would not).
    fn reference(x: f64) -> f64 {
        if x.abs() > 1e3 {
            return if x > 0.0 { x } else { -0.0 };
        }
        0.5 * x * (1.0 + (K0 * (x + K1 * x * x * x)).tanh())
    }

    fn reference_derivative(x: f64) -> f64 {
        if x.abs() > 1e3 {
            return if x > 0.0 { 1.0 } else { 0.0 };
        }
        let t = (K0 * (x + K1 * x * x * x)).tanh();
        let du = K0 * (1.0 + 3.0 * K1 * x * x);
        0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du
    }

    fn reference_second_derivative(x: f64) -> f64 {
        if x.abs() > 1e3 {
            return 0.0;
        }
        let t = (K0 * (x + K1 * x * x * x)).tanh();
        let du = K0 * (1.0 + 3.0 * K1 * x * x);
        let d2u = 6.0 * K0 * K1 * x;
        (1.0 - t * t) * (du - x * t * du * du + 0.5 * x * d2u)
    }

    fn run<T: Element>(isa: Isa, op: Op, a: &[T], b: &[T]) -> Vec<T> {
        let mut out = vec![T::default(); a.len()];
        unsafe {
            T::run(
                isa,
                op,
                Stores::Cached,
                a.as_ptr(),
                b.as_ptr(),
                out.as_mut_ptr(),
                a.len(),
            )
        };
        out
    }

    /// A dense grid around the curved part, then magnitudes up to `max`, both signs.
    fn inputs(max: f64) -> Vec<f64> {
        let mut xs: Vec<f64> = (-24_000..=24_000).map(|i| i as f64 * 1e-3).collect();
        let mut magnitude = 1e-30;
        while magnitude < max {
            xs.extend([magnitude, -magnitude]);
            magnitude *= 1.37;
        }
        xs.extend([
            0.0, -0.0, max, -max, 8.999, 9.0, 9.001, -8.999, -9.0, -9.001, 20.0, -20.0,
        ]);
        xs.extend([
            19.999, -19.999, 20.001, -20.001, 1e-45, -1e-45, 1e-310, -1e-310,
        ]);
        xs
    }

    fn assert_close(what: &str, x: f64, got: f64, want: f64, tolerance: f64) {
        let allowed = tolerance * want.abs().max(1.0);
        assert!(
            got.is_finite() && (got - want).abs() <= allowed,
            "{what}({x:e}) = {got:e}, want {want:e} (±{allowed:e})"
        );
    }

    #[test]
    fn f32_matches_f64_reference() {
        let xs: Vec<f32> = inputs(f32::MAX as f64).iter().map(|&x| x as f32).collect();
        for isa in Isa::available() {
            let y = run(isa, Op::Forward, &xs, &xs);
            let ones = vec![1.0f32; xs.len()];
            let g = run(isa, Op::Backward, &ones, &xs);
            let g2 = run(isa, Op::SecondDerivative, &xs, &xs);
            for i in 0..xs.len() {
                let x = xs[i] as f64;
                assert_close("gelu", x, y[i] as f64, reference(x), 1e-6);
                assert_close("gelu'", x, g[i] as f64, reference_derivative(x), 4e-6);
                assert_close(
                    "gelu''",
                    x,
                    g2[i] as f64,
                    reference_second_derivative(x),
                    2e-5,
                );
            }
        }
    }

    #[test]
    fn f64_matches_reference() {
        let xs = inputs(f64::MAX);
        for isa in Isa::available() {
            let y = run(isa, Op::Forward, &xs, &xs);
            let ones = vec![1.0f64; xs.len()];
            let g = run(isa, Op::Backward, &ones, &xs);
            let g2 = run(isa, Op::SecondDerivative, &xs, &xs);
            for i in 0..xs.len() {
                let x = xs[i];
                assert_close("gelu", x, y[i], reference(x), 1e-12);
                assert_close("gelu'", x, g[i], reference_derivative(x), 1e-11);
                assert_close("gelu''", x, g2[i], reference_second_derivative(x), 1e-10);
            }
        }
    }

    #[test]
    fn special_values() {
        fn check<T: Element + Into<f64> + From<f32>>() {
            let specials: Vec<T> = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY]
                .into_iter()
                .map(T::from)
                .collect();
            let ones = vec![T::from(1.0); 3];
            for isa in Isa::available() {
                let y: Vec<f64> = run(isa, Op::Forward, &specials, &specials)
                    .into_iter()
                    .map(Into::into)
                    .collect();
                assert!(y[0].is_nan());
                assert_eq!(y[1], f64::INFINITY);
                assert_eq!(y[2], 0.0);
                assert!(y[2].is_sign_negative());
                let g: Vec<f64> = run(isa, Op::Backward, &ones, &specials)
                    .into_iter()
                    .map(Into::into)
                    .collect();
                assert!(g[0].is_nan());
                assert_eq!(&g[1..], &[1.0, 0.0]);
                let g2: Vec<f64> = run(isa, Op::SecondDerivative, &specials, &specials)
                    .into_iter()
                    .map(Into::into)
                    .collect();
                assert!(g2[0].is_nan());
                assert_eq!(&g2[1..], &[0.0, 0.0]);
            }
        }
        check::<f32>();
        check::<f64>();
    }

    /// 16-bit results are exactly the f32 result of the widened input, rounded: checked for
    /// every one of the 65536 bit patterns.
    #[test]
    fn half_precision_rounds_the_f32_result() {
        fn check<T: Element>(
            from_bits: fn(u16) -> T,
            to_f32: fn(T) -> f32,
            from_f32: fn(f32) -> T,
            to_bits: fn(T) -> u16,
        ) {
            let xs: Vec<T> = (0..=u16::MAX).map(from_bits).collect();
            let wide: Vec<f32> = xs.iter().map(|&x| to_f32(x)).collect();
            let grads: Vec<T> = (0..=u16::MAX)
                .map(|i| from_f32(1.0 + (i % 7) as f32))
                .collect();
            let wide_grads: Vec<f32> = grads.iter().map(|&g| to_f32(g)).collect();
            for isa in Isa::available() {
                let cases = [
                    (
                        run(isa, Op::Forward, &xs, &xs),
                        run(isa, Op::Forward, &wide, &wide),
                    ),
                    (
                        run(isa, Op::Backward, &grads, &xs),
                        run(isa, Op::Backward, &wide_grads, &wide),
                    ),
                    (
                        run(isa, Op::SecondDerivative, &xs, &xs),
                        run(isa, Op::SecondDerivative, &wide, &wide),
                    ),
                ];
                for (narrow, wide_result) in cases {
                    for i in 0..xs.len() {
                        let want = wide_result[i];
                        let got = narrow[i];
                        if want.is_nan() {
                            assert!(to_f32(got).is_nan());
                        } else {
                            assert_eq!(
                                to_bits(got),
                                to_bits(from_f32(want)),
                                "{isa:?} x={}",
                                wide[i]
                            );
                        }
                    }
                }
                // Finite in, finite out, for the value and the gradient.
                for (i, &x) in wide.iter().enumerate() {
                    if x.is_finite() {
                        let y = run(isa, Op::Forward, &xs[i..=i], &xs[i..=i]);
                        let g = run(isa, Op::Backward, &grads[i..=i], &xs[i..=i]);
                        assert!(
                            to_f32(y[0]).is_finite() && to_f32(g[0]).is_finite(),
                            "x={x}"
                        );
                    }
                }
            }
        }
        check::<Bf16>(Bf16, Bf16::to_f32, Bf16::from_f32, |b| b.0);
        check::<F16>(F16, F16::to_f32, F16::from_f32, |h| h.0);
    }

    #[test]
    fn results_do_not_depend_on_chunking_or_threads() {
        let xs: Vec<f32> = (0..100_003)
            .map(|i| ((i * 7919) % 20_001) as f32 * 1e-3 - 10.0)
            .collect();
        let mut serial = vec![0.0; xs.len()];
        forward(&xs, &mut serial, Parallelism::Serial).unwrap();
        for threads in [1, 2, 3, 8] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let mut parallel = vec![0.0; xs.len()];
            pool.install(|| forward(&xs, &mut parallel, Parallelism::Rayon))
                .unwrap();
            assert_eq!(serial, parallel);
        }
        // Any split point gives the same bits as the whole slice.
        for split in [1, 5, 15, 17, 31, 1000] {
            let mut pieces = vec![0.0; xs.len()];
            forward(&xs[..split], &mut pieces[..split], Parallelism::Serial).unwrap();
            forward(&xs[split..], &mut pieces[split..], Parallelism::Serial).unwrap();
            assert_eq!(serial, pieces);
        }
        let mut in_place = xs.clone();
        forward_in_place(&mut in_place, Parallelism::Rayon);
        assert_eq!(serial, in_place);
    }

    #[test]
    fn backward_and_second_derivative_chunk_consistently() {
        let xs: Vec<f64> = (0..40_001).map(|i| (i as f64 - 20_000.0) * 1e-3).collect();
        let grads: Vec<f64> = (0..xs.len()).map(|i| (i % 13) as f64 - 6.0).collect();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        let mut serial = vec![0.0; xs.len()];
        let mut parallel = vec![0.0; xs.len()];
        backward(&grads, &xs, &mut serial, Parallelism::Serial).unwrap();
        pool.install(|| backward(&grads, &xs, &mut parallel, Parallelism::Rayon))
            .unwrap();
        assert_eq!(serial, parallel);
        second_derivative(&xs, &mut serial, Parallelism::Serial).unwrap();
        pool.install(|| second_derivative(&xs, &mut parallel, Parallelism::Rayon))
            .unwrap();
        assert_eq!(serial, parallel);
    }

    #[test]
    fn streaming_stores_give_the_same_bits_at_any_alignment() {
        fn check<T: Element + PartialEq + std::fmt::Debug>(values: Vec<T>) {
            for isa in Isa::available() {
                for op in [Op::Forward, Op::Backward] {
                    for out_offset in 0..9 {
                        for len in [0, 1, 7, 16, 17, 100, 1037] {
                            let (a, b) = (&values[3..3 + len], &values[5..5 + len]);
                            let mut cached = vec![T::default(); len + 9];
                            let mut streamed = vec![T::default(); len + 9];
                            for (buffer, stores) in [
                                (&mut cached, Stores::Cached),
                                (&mut streamed, Stores::Streaming),
                            ] {
                                let out = buffer[out_offset..].as_mut_ptr();
                                unsafe {
                                    T::run(isa, op, stores, a.as_ptr(), b.as_ptr(), out, len)
                                };
                            }
                            assert_eq!(cached, streamed, "{isa:?} {op:?} {out_offset} {len}");
                        }
                    }
                }
            }
        }
        check(
            (0..1100)
                .map(|i| (i as f32 - 550.0) * 0.02)
                .collect::<Vec<f32>>(),
        );
        check(
            (0..1100)
                .map(|i| (i as f64 - 550.0) * 0.02)
                .collect::<Vec<f64>>(),
        );
        let mut xs = vec![0.0f32; 1 << 16];
        let mut ys = vec![0.0f32; 1 << 16];
        forward(
            &xs,
            &mut ys,
            Mode {
                parallelism: Parallelism::Rayon,
                stores: Stores::Streaming,
            },
        )
        .unwrap();
        forward_in_place(&mut xs, Parallelism::Serial);
        assert_eq!(xs, ys);
    }

    #[test]
    fn length_mismatch_is_an_error() {
        let mut out = vec![0.0f32; 3];
        assert!(matches!(
            forward(&[1.0f32; 4], &mut out, Parallelism::Serial),
            Err(KernelError::Shape(_))
        ));
        assert!(backward(&[1.0f32; 3], &[1.0f32; 2], &mut out, Parallelism::Serial).is_err());
        assert!(forward::<f32>(&[], &mut [], Parallelism::Rayon).is_ok());
    }
}
