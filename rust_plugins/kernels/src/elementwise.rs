//! Elementwise kernels over slices: a formula written once on vectors ([`Kernel`]) runs over
//! `f32`, `f64`, [`Bf16`] and [`F16`] slices with the instruction set detected at run time.
//!
//! `f32` and `f64` are computed in their own precision, the half types in `f32` and rounded once
//! to nearest even. A slice's head and tail go through the same vector code as its body (via
//! padded copies), so an element's result never depends on where a chunk boundary falls:
//! results are identical for every thread count and chunking, with cached or streaming stores.

use crate::cpu::Isa;
use crate::half::{Bf16, F16};
use crate::vector::{Lanes, Math};
use crate::KernelError;
use rayon::prelude::*;

/// An elementwise function of `N` inputs, written once for every vector type.
pub trait Kernel<const N: usize>: Copy + Send + Sync {
    /// The kernel's name in error messages.
    const NAME: &'static str;
    /// One vector of results from one vector of each input.
    ///
    /// # Safety
    /// Only called from code compiled for the instruction set of `V`.
    unsafe fn apply<V: Math>(self, inputs: [V; N]) -> V;
}

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

/// Element types the kernels accept: `f32`, `f64`, [`Bf16`] and [`F16`].
pub trait Element: Copy + Default + Send + Sync + 'static + sealed::Sealed {
    /// Runs `kernel` over `len` elements with `isa`'s vectors (an implementation detail of
    /// [`map`]).
    ///
    /// # Safety
    /// As [`map_unchecked`]; `isa` is available on this CPU.
    #[doc(hidden)]
    unsafe fn run<K: Kernel<N>, const N: usize>(
        isa: Isa,
        kernel: K,
        stores: Stores,
        inputs: [*const Self; N],
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

/// `out[i] = kernel(inputs[0][i], ..., inputs[N - 1][i])`.
pub fn map<K: Kernel<N>, T: Element, const N: usize>(
    kernel: K,
    inputs: [&[T]; N],
    out: &mut [T],
    mode: impl Into<Mode>,
) -> Result<(), KernelError> {
    if let Some(input) = inputs.iter().find(|input| input.len() != out.len()) {
        return Err(KernelError::Shape(format!(
            "{}: input has {} elements but the output has {}",
            K::NAME,
            input.len(),
            out.len()
        )));
    }
    let inputs = inputs.map(<[T]>::as_ptr);
    unsafe { map_unchecked(kernel, inputs, out.as_mut_ptr(), out.len(), mode.into()) };
    Ok(())
}

/// `xy[i] = kernel(xy[i])`.
pub fn map_in_place<K: Kernel<1>, T: Element>(kernel: K, xy: &mut [T], mode: impl Into<Mode>) {
    let ptr = xy.as_mut_ptr();
    unsafe { map_unchecked(kernel, [ptr as *const T], ptr, xy.len(), mode.into()) };
}

/// [`map`] over raw pointers, for operands that cannot be borrowed as slices (an input that
/// is the output itself, or memory owned by another runtime).
///
/// # Safety
/// Every input is valid for `len` reads and `out` for `len` writes; an input either is `out`
/// exactly or does not overlap it.
pub unsafe fn map_unchecked<K: Kernel<N>, T: Element, const N: usize>(
    kernel: K,
    inputs: [*const T; N],
    out: *mut T,
    len: usize,
    mode: Mode,
) {
    let isa = Isa::detect();
    if mode.parallelism == Parallelism::Serial || len <= CHUNK {
        return T::run(isa, kernel, mode.stores, inputs, out, len);
    }
    let operands = Operands { inputs, out };
    (0..len.div_ceil(CHUNK))
        .into_par_iter()
        .for_each(move |chunk| {
            let start = chunk * CHUNK;
            let n = CHUNK.min(len - start);
            let (inputs, out) = operands.offset(start);
            T::run(isa, kernel, mode.stores, inputs, out, n);
        });
}

/// Elements per parallel task: large enough to amortise scheduling, a multiple of every
/// vector width, small enough to balance two to a few dozen threads at 1M elements.
const CHUNK: usize = 16 * 1024;

/// Raw pointers that rayon tasks share; each task touches a disjoint range.
#[derive(Clone, Copy)]
struct Operands<T, const N: usize> {
    inputs: [*const T; N],
    out: *mut T,
}
unsafe impl<T: Send, const N: usize> Send for Operands<T, N> {}
unsafe impl<T: Send, const N: usize> Sync for Operands<T, N> {}

impl<T, const N: usize> Operands<T, N> {
    /// The pointers `start` elements further (a method, so closures capture the whole struct).
    unsafe fn offset(self, start: usize) -> ([*const T; N], *mut T) {
        (self.inputs.map(|p| p.add(start)), self.out.add(start))
    }
}

/// One vector of results from the vectors at `inputs`.
#[inline(always)]
unsafe fn apply<K: Kernel<N>, V: Math, T: Lanes<V>, const N: usize>(
    kernel: K,
    inputs: [*const T; N],
    at: usize,
) -> V {
    kernel.apply(std::array::from_fn(|k| T::load(inputs[k].add(at))))
}

/// Fewer than a vector of elements, through padded copies: bit-identical to the vector loop.
#[inline(always)]
unsafe fn apply_partial<K: Kernel<N>, V: Math, T: Lanes<V>, const N: usize>(
    kernel: K,
    inputs: [*const T; N],
    out: *mut T,
    count: usize,
) {
    const MAX_LANES: usize = 16;
    let mut pads = [[T::default(); MAX_LANES]; N];
    for (pad, &input) in pads.iter_mut().zip(&inputs) {
        std::ptr::copy_nonoverlapping(input, pad.as_mut_ptr(), count);
    }
    let mut pad_out = [T::default(); MAX_LANES];
    let padded = std::array::from_fn(|k| pads[k].as_ptr());
    T::store(apply::<K, V, T, N>(kernel, padded, 0), pad_out.as_mut_ptr());
    std::ptr::copy_nonoverlapping(pad_out.as_ptr(), out, count);
}

/// The loop shared by every instruction set. With `STREAM`, a head brings `out` to the vector
/// alignment that non-temporal stores need; head and tail go through padded copies, so every
/// element gets the same bits whichever way it is reached.
#[inline(always)]
unsafe fn map_lanes<K: Kernel<N>, V: Math, T: Lanes<V>, const N: usize, const STREAM: bool>(
    kernel: K,
    inputs: [*const T; N],
    out: *mut T,
    len: usize,
) {
    let vector_bytes = V::LANES * std::mem::size_of::<T>();
    let misalignment = out as usize % vector_bytes;
    let head = if !STREAM || misalignment == 0 {
        0
    } else if !misalignment.is_multiple_of(std::mem::size_of::<T>()) {
        // Elements themselves misaligned: no alignment reachable, so no streaming either.
        return map_lanes::<K, V, T, N, false>(kernel, inputs, out, len);
    } else {
        ((vector_bytes - misalignment) / std::mem::size_of::<T>()).min(len)
    };
    if head > 0 {
        apply_partial::<K, V, T, N>(kernel, inputs, out, head);
    }
    let (inputs, out, len) = (inputs.map(|p| p.add(head)), out.add(head), len - head);
    let body = len - len % V::LANES;
    let mut i = 0;
    while i < body {
        let value = apply::<K, V, T, N>(kernel, inputs, i);
        if STREAM {
            T::store_streaming(value, out.add(i));
        } else {
            T::store(value, out.add(i));
        }
        i += V::LANES;
    }
    if body < len {
        let tail = inputs.map(|p| p.add(body));
        apply_partial::<K, V, T, N>(kernel, tail, out.add(body), len - body);
    }
    #[cfg(target_arch = "x86_64")]
    if STREAM {
        // Non-temporal stores are weakly ordered: publish them before returning.
        std::arch::x86_64::_mm_sfence();
    }
}

/// Monomorphises `map_lanes` for ordinary or streaming stores.
#[inline(always)]
unsafe fn map_with<K: Kernel<N>, V: Math, T: Lanes<V>, const N: usize>(
    kernel: K,
    stores: Stores,
    inputs: [*const T; N],
    out: *mut T,
    len: usize,
) {
    match stores {
        Stores::Cached => map_lanes::<K, V, T, N, false>(kernel, inputs, out, len),
        Stores::Streaming => map_lanes::<K, V, T, N, true>(kernel, inputs, out, len),
    }
}

/// One copy of the loop per instruction set, each compiled with its target features.
macro_rules! isa_variant {
    ($name:ident $(, $features:literal)?) => {
        $(#[cfg(target_arch = "x86_64")] #[target_feature(enable = $features)])?
        unsafe fn $name<K: Kernel<N>, V: Math, T: Lanes<V>, const N: usize>(
            kernel: K,
            stores: Stores,
            inputs: [*const T; N],
            out: *mut T,
            len: usize,
        ) {
            map_with::<K, V, T, N>(kernel, stores, inputs, out, len)
        }
    };
}

isa_variant!(run_portable);
isa_variant!(run_avx2, "avx2,fma,f16c");
isa_variant!(run_avx512, "avx512f");
isa_variant!(run_avx512_bf16, "avx512f,avx512dq,avx512bf16");

/// Binds an element type to its compute vector for each instruction set.
macro_rules! element {
    ($t:ty, portable: $portable:ty, avx2: $avx2:ident, avx512: $avx512:ident) => {
        impl Element for $t {
            #[inline]
            unsafe fn run<K: Kernel<N>, const N: usize>(
                isa: Isa,
                kernel: K,
                stores: Stores,
                inputs: [*const Self; N],
                out: *mut Self,
                n: usize,
            ) {
                use crate::vector::*;
                match isa {
                    #[cfg(target_arch = "x86_64")]
                    Isa::Avx512 | Isa::Avx512Bf16 => {
                        run_avx512::<K, $avx512, $t, N>(kernel, stores, inputs, out, n)
                    }
                    #[cfg(target_arch = "x86_64")]
                    Isa::Avx2 => run_avx2::<K, $avx2, $t, N>(kernel, stores, inputs, out, n),
                    _ => run_portable::<K, $portable, $t, N>(kernel, stores, inputs, out, n),
                }
            }
        }
    };
}

element!(f32, portable: f32, avx2: F32x8, avx512: F32x16);
element!(f64, portable: f64, avx2: F64x4, avx512: F64x8);
element!(F16, portable: f32, avx2: F32x8, avx512: F32x16);

impl Element for Bf16 {
    #[inline]
    unsafe fn run<K: Kernel<N>, const N: usize>(
        isa: Isa,
        kernel: K,
        stores: Stores,
        inputs: [*const Self; N],
        out: *mut Self,
        n: usize,
    ) {
        #[cfg(target_arch = "x86_64")]
        {
            use crate::vector::{Bf16Native, F32x16, F32x8};
            match isa {
                Isa::Avx512Bf16 => {
                    let inputs = inputs.map(|p| p as *const Bf16Native);
                    let out = out as *mut Bf16Native;
                    run_avx512_bf16::<K, F32x16, Bf16Native, N>(kernel, stores, inputs, out, n)
                }
                Isa::Avx512 => run_avx512::<K, F32x16, Bf16, N>(kernel, stores, inputs, out, n),
                Isa::Avx2 => run_avx2::<K, F32x8, Bf16, N>(kernel, stores, inputs, out, n),
                Isa::Portable => run_portable::<K, f32, Bf16, N>(kernel, stores, inputs, out, n),
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        run_portable::<K, f32, Bf16, N>(kernel, stores, inputs, out, n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// a·b + 1, rounded once per operation: any difference between paths shows in the bits.
    #[derive(Clone, Copy)]
    struct MulAddOne;

    impl Kernel<2> for MulAddOne {
        const NAME: &'static str = "mul_add_one";
        #[inline(always)]
        unsafe fn apply<V: Math>(self, [a, b]: [V; 2]) -> V {
            a.mul(b).add(V::from_f64(1.0))
        }
    }

    #[derive(Clone, Copy)]
    struct Exp;

    impl Kernel<1> for Exp {
        const NAME: &'static str = "exp";
        #[inline(always)]
        unsafe fn apply<V: Math>(self, [x]: [V; 1]) -> V {
            x.exp()
        }
    }

    fn run<K: Kernel<N>, T: Element, const N: usize>(
        isa: Isa,
        kernel: K,
        stores: Stores,
        inputs: [&[T]; N],
        out: &mut [T],
    ) {
        let inputs = inputs.map(<[T]>::as_ptr);
        unsafe { T::run(isa, kernel, stores, inputs, out.as_mut_ptr(), out.len()) };
    }

    #[test]
    fn every_isa_and_store_kind_gives_the_same_bits_at_any_alignment() {
        fn check<T: Element + PartialEq + std::fmt::Debug>(values: Vec<T>) {
            let mut want = vec![T::default(); 1037];
            run(
                Isa::Portable,
                MulAddOne,
                Stores::Cached,
                [&values[3..1040], &values[5..1042]],
                &mut want,
            );
            for isa in Isa::available() {
                for stores in [Stores::Cached, Stores::Streaming] {
                    for out_offset in 0..9 {
                        for len in [0, 1, 7, 16, 17, 100, 1037] {
                            let (a, b) = (&values[3..3 + len], &values[5..5 + len]);
                            let mut buffer = vec![T::default(); len + 9];
                            let out = &mut buffer[out_offset..out_offset + len];
                            run(isa, MulAddOne, stores, [a, b], out);
                            assert_eq!(out, &want[..len], "{isa:?} {stores:?} {out_offset}");
                        }
                    }
                }
            }
        }
        check((0..1100).map(|i| (i as f32 - 550.0) * 0.37).collect());
        check((0..1100).map(|i| (i as f64 - 550.0) * 0.37).collect());
        check((0..1100).map(|i| Bf16::from_f32(i as f32 * 0.37)).collect());
        check((0..1100).map(|i| F16::from_f32(i as f32 * 0.37)).collect());
    }

    #[test]
    fn exp_is_accurate_on_its_range() {
        for isa in Isa::available() {
            let xs: Vec<f32> = (-800..=800).map(|i| i as f32 * 0.1).collect();
            let mut ys = vec![0.0f32; xs.len()];
            run(isa, Exp, Stores::Cached, [&xs[..]], &mut ys);
            for (&x, &y) in xs.iter().zip(&ys) {
                let want = (x as f64).exp();
                assert!(
                    ((y as f64 - want) / want).abs() < 4e-7,
                    "{isa:?} exp({x}) = {y}"
                );
            }
            let xs: Vec<f64> = (-7000..=7000).map(|i| i as f64 * 0.1).collect();
            let mut ys = vec![0.0f64; xs.len()];
            run(isa, Exp, Stores::Cached, [&xs[..]], &mut ys);
            for (&x, &y) in xs.iter().zip(&ys) {
                let want = x.exp();
                assert!(((y - want) / want).abs() < 1e-15, "{isa:?} exp({x}) = {y}");
            }
        }
    }

    #[test]
    fn threads_chunks_and_in_place_give_the_same_bits() {
        let xs: Vec<f32> = (0..100_003)
            .map(|i| (i % 1000) as f32 * 0.01 - 5.0)
            .collect();
        let mut serial = vec![0.0; xs.len()];
        map(Exp, [&xs[..]], &mut serial, Parallelism::Serial).unwrap();
        for threads in [1, 3] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let mut parallel = vec![0.0; xs.len()];
            pool.install(|| map(Exp, [&xs[..]], &mut parallel, Parallelism::Rayon))
                .unwrap();
            assert_eq!(serial, parallel);
        }
        let mut in_place = xs.clone();
        map_in_place(Exp, &mut in_place, Parallelism::Rayon);
        assert_eq!(serial, in_place);
    }

    #[test]
    fn length_mismatch_is_an_error_naming_the_kernel() {
        let mut out = vec![0.0f32; 3];
        let error = map(
            MulAddOne,
            [&[1.0f32; 3], &[1.0; 2]],
            &mut out,
            Parallelism::Serial,
        );
        assert_eq!(
            error,
            Err(KernelError::Shape(
                "mul_add_one: input has 2 elements but the output has 3".into()
            ))
        );
    }
}
