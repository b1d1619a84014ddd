//! tanh-approximated GELU, its derivative and its second derivative, elementwise over slices.
//!
//! gelu(x) = 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), the function of PyTorch's
//! `F.gelu(x, approximate="tanh")`. Every finite input gives a finite value and finite
//! derivatives; NaN gives NaN, +∞ gives +∞ and −∞ gives −0. The formulas are in [`formula`];
//! [`crate::elementwise`] runs them over `f32`, `f64`, bfloat16 and float16 slices with the
//! instruction set chosen at run time, identically for every thread count and chunking.

mod formula;

use crate::elementwise::{self, Element, Kernel, Mode};
use crate::vector::Math;
use crate::KernelError;

/// `out = gelu(x)`
#[derive(Clone, Copy, Debug)]
pub struct Forward;

/// `out = grad · gelu'(x)`, inputs `[grad, x]`
#[derive(Clone, Copy, Debug)]
pub struct Backward;

/// `out = gelu''(x)`
#[derive(Clone, Copy, Debug)]
pub struct SecondDerivative;

impl Kernel<1> for Forward {
    const NAME: &'static str = "gelu";
    #[inline(always)]
    unsafe fn apply<V: Math>(self, [x]: [V; 1]) -> V {
        formula::forward(x)
    }
}

impl Kernel<2> for Backward {
    const NAME: &'static str = "gelu";
    #[inline(always)]
    unsafe fn apply<V: Math>(self, [grad, x]: [V; 2]) -> V {
        formula::backward(grad, x)
    }
}

impl Kernel<1> for SecondDerivative {
    const NAME: &'static str = "gelu";
    #[inline(always)]
    unsafe fn apply<V: Math>(self, [x]: [V; 1]) -> V {
        formula::second_derivative(x)
    }
}

/// `out[i] = gelu(x[i])`.
pub fn forward<T: Element>(
    x: &[T],
    out: &mut [T],
    mode: impl Into<Mode>,
) -> Result<(), KernelError> {
    elementwise::map(Forward, [x], out, mode)
}

/// `xy[i] = gelu(xy[i])`.
pub fn forward_in_place<T: Element>(xy: &mut [T], mode: impl Into<Mode>) {
    elementwise::map_in_place(Forward, xy, mode)
}

/// `out[i] = grad[i] · gelu'(x[i])`: the gradient of the input given the gradient of the output.
pub fn backward<T: Element>(
    grad: &[T],
    x: &[T],
    out: &mut [T],
    mode: impl Into<Mode>,
) -> Result<(), KernelError> {
    elementwise::map(Backward, [grad, x], out, mode)
}

/// `out[i] = gelu''(x[i])`, for double backward.
pub fn second_derivative<T: Element>(
    x: &[T],
    out: &mut [T],
    mode: impl Into<Mode>,
) -> Result<(), KernelError> {
    elementwise::map(SecondDerivative, [x], out, mode)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::Isa;
    use crate::elementwise::{Parallelism, Stores};
    use crate::half::{Bf16, F16};

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

    #[derive(Clone, Copy, Debug)]
    enum Op {
        Forward,
        Backward,
        SecondDerivative,
    }

    /// `op` over `len` elements at `out` with `isa`'s code: Backward reads `[a, b]`, the
    /// others `a` only.
    unsafe fn run_raw<T: Element>(
        isa: Isa,
        op: Op,
        stores: Stores,
        a: *const T,
        b: *const T,
        out: *mut T,
        len: usize,
    ) {
        match op {
            Op::Forward => T::run(isa, Forward, stores, [a], out, len),
            Op::Backward => T::run(isa, Backward, stores, [a, b], out, len),
            Op::SecondDerivative => T::run(isa, SecondDerivative, stores, [a], out, len),
        }
    }

    fn run<T: Element>(isa: Isa, op: Op, a: &[T], b: &[T]) -> Vec<T> {
        let mut out = vec![T::default(); a.len()];
        let (a_ptr, b_ptr, len) = (a.as_ptr(), b.as_ptr(), a.len());
        unsafe { run_raw(isa, op, Stores::Cached, a_ptr, b_ptr, out.as_mut_ptr(), len) };
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
                                    run_raw(isa, op, stores, a.as_ptr(), b.as_ptr(), out, len)
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
