//! Fallible allocation of every buffer whose size depends on the input.
//!
//! Rust's `vec![..]` aborts the whole process when memory runs out; a Python user (a notebook,
//! a server) must get a `MemoryError` instead and carry on. Kernels therefore allocate their
//! input-sized buffers through these helpers, which check the size for overflow before
//! multiplying and report a failure as [`KernelError::OutOfMemory`] with the array's shape and
//! element type, which bindings turn into NumPy's own `MemoryError`.

use crate::KernelError;

/// Element types of kernel buffers: plain numbers, with NumPy's name for error messages.
///
/// # Safety
/// Implementors are types for which every byte being zero is a valid value, so that
/// [`filled`] can hand out zeroed memory.
pub unsafe trait Dtype: Sized {
    const NAME: &'static str;

    /// Whether `self` is the all-zero-bits value.
    fn is_zero_bits(&self) -> bool;
}

macro_rules! dtypes {
    ($($t:ty => $name:literal, $zero:expr);* $(;)?) => {$(
        // SAFETY: a plain number; all-zero bits is the value zero.
        unsafe impl Dtype for $t {
            const NAME: &'static str = $name;
            fn is_zero_bits(&self) -> bool {
                let is_zero: fn(&$t) -> bool = $zero;
                is_zero(self)
            }
        }
    )*};
}
dtypes! {
    f32 => "float32", |v| v.to_bits() == 0;
    f64 => "float64", |v| v.to_bits() == 0;
    i32 => "int32", |v| *v == 0;
    i64 => "int64", |v| *v == 0;
    u8 => "uint8", |v| *v == 0;
    u16 => "uint16", |v| *v == 0;
    u32 => "uint32", |v| *v == 0;
    u64 => "uint64", |v| *v == 0;
    usize => "uint64", |v| *v == 0;
}

// SAFETY: a pair of plain numbers is valid with all bytes zero.
unsafe impl<A: Dtype, B: Dtype> Dtype for (A, B) {
    const NAME: &'static str = A::NAME;
    fn is_zero_bits(&self) -> bool {
        self.0.is_zero_bits() && self.1.is_zero_bits()
    }
}

/// The error for an array of `shape` and `T` that cannot be allocated.
pub fn out_of_memory<T: Dtype>(shape: &[usize]) -> KernelError {
    let bytes = shape
        .iter()
        .fold(std::mem::size_of::<T>() as u128, |acc, &s| {
            acc.saturating_mul(s as u128)
        });
    KernelError::OutOfMemory {
        shape: shape.to_vec(),
        dtype: T::NAME,
        bytes,
    }
}

/// The number of elements of `shape`, if an array of them can exist at all.
fn checked_len<T: Dtype>(shape: &[usize]) -> Result<usize, KernelError> {
    shape
        .iter()
        .try_fold(1usize, |acc, &s| acc.checked_mul(s))
        .filter(|len| {
            len.checked_mul(std::mem::size_of::<T>())
                .is_some_and(|b| b <= isize::MAX as usize)
        })
        .ok_or_else(|| out_of_memory::<T>(shape))
}

/// An empty vector with room for an array of `shape` (the product of its sizes).
pub fn with_capacity<T: Dtype>(shape: &[usize]) -> Result<Vec<T>, KernelError> {
    let len = checked_len::<T>(shape)?;
    let mut v = Vec::new();
    v.try_reserve_exact(len)
        .map_err(|_| out_of_memory::<T>(shape))?;
    Ok(v)
}

/// An array of `shape` filled with `value`. Zeros come from zeroed pages (no writing pass, as
/// `vec![0; n]` and NumPy's `zeros` get them).
pub fn filled<T: Dtype + Clone>(shape: &[usize], value: T) -> Result<Vec<T>, KernelError> {
    let len = checked_len::<T>(shape)?;
    if value.is_zero_bits() && len > 0 && std::mem::size_of::<T>() > 0 {
        let layout = std::alloc::Layout::array::<T>(len).map_err(|_| out_of_memory::<T>(shape))?;
        // SAFETY: the layout has a non-zero size; zeroed memory holds `len` valid values equal
        // to `value` (see `Dtype`), and the vector takes over the allocation made with the
        // global allocator and this layout.
        unsafe {
            let ptr = std::alloc::alloc_zeroed(layout) as *mut T;
            if ptr.is_null() {
                return Err(out_of_memory::<T>(shape));
            }
            return Ok(Vec::from_raw_parts(ptr, len, len));
        }
    }
    let mut v = with_capacity(shape)?;
    v.resize(len, value);
    Ok(v)
}

/// A copy of `values`, seen as an array of `shape`.
pub fn copied<T: Dtype + Clone>(values: &[T], shape: &[usize]) -> Result<Vec<T>, KernelError> {
    let mut v = with_capacity(shape)?;
    v.extend_from_slice(values);
    Ok(v)
}

/// Asks the kernel to back the capacity of `v` with transparent huge pages when it spans 4 MiB
/// or more (Linux `madvise(MADV_HUGEPAGE)`, as NumPy does for its large arrays): a fresh output
/// written once then takes far fewer page faults. Advice only: failures are ignored.
pub fn advise_huge_pages<T>(v: &mut Vec<T>) {
    #[cfg(target_os = "linux")]
    {
        const MIN_BYTES: usize = 4 << 20;
        const HUGE_PAGE: usize = 2 << 20;
        const MADV_HUGEPAGE: i32 = 14;
        extern "C" {
            fn madvise(addr: *mut std::ffi::c_void, len: usize, advice: i32) -> i32;
        }
        let bytes = v.capacity() * std::mem::size_of::<T>();
        if bytes < MIN_BYTES {
            return;
        }
        let begin = v.as_mut_ptr() as usize;
        let start = begin.next_multiple_of(HUGE_PAGE);
        let end = (begin + bytes) / HUGE_PAGE * HUGE_PAGE;
        if end > start {
            // SAFETY: the range lies inside the vector's allocation; MADV_HUGEPAGE changes no
            // contents, only how the pages are backed.
            unsafe {
                madvise(start as *mut std::ffi::c_void, end - start, MADV_HUGEPAGE);
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = v;
}

/// NumPy's spelling of a byte count in its allocation errors (`_ArrayMemoryError`):
/// "149. GiB", "1.50 MiB", "12 bytes".
pub fn size_string(bytes: u128) -> String {
    const UNITS: [&str; 7] = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let bit_length = 128 - bytes.leading_zeros() as usize;
    let mut unit = (bit_length.saturating_sub(1)).max(1) / 10;
    let mut n_units = bytes as f64 / (1u128 << (unit * 10)) as f64;
    if n_units.round() == 1024.0 {
        unit += 1;
        n_units /= 1024.0;
    }
    if unit >= UNITS.len() {
        let extra = unit - (UNITS.len() - 1);
        n_units *= 1024f64.powi(extra as i32);
        unit = UNITS.len() - 1;
    }
    let number = if unit == 0 {
        format!("{n_units:.0}")
    } else if n_units.round() < 1000.0 {
        three_significant_digits(n_units)
    } else {
        format!("{n_units:.0}.")
    };
    format!("{number} {}", UNITS[unit])
}

/// Python's `f"{v:#.3g}"` for `1 <= v < 999.5`: three significant digits, trailing zeros and
/// the decimal point kept ("1.50", "10.0", "149.").
fn three_significant_digits(v: f64) -> String {
    for decimals in [2usize, 1] {
        let s = format!("{v:.decimals$}");
        let limit = if decimals == 2 { 10.0 } else { 100.0 };
        if s.parse::<f64>().is_ok_and(|r| r < limit) {
            return s;
        }
    }
    format!("{v:.0}.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_spelled_like_numpy() {
        // Expected strings from numpy._core._exceptions._ArrayMemoryError._size_to_string.
        assert_eq!(size_string(12), "12 bytes");
        assert_eq!(size_string(1), "1 bytes");
        assert_eq!(size_string(1536), "1.50 KiB");
        assert_eq!(size_string(160_000_000_000), "149. GiB");
        assert_eq!(size_string(10 << 20), "10.0 MiB");
        assert_eq!(size_string(1023 << 20), "1023. MiB");
        assert_eq!(size_string(1_048_064), "1.00 MiB");
        assert_eq!(size_string(1_023_976), "1000. KiB");
        assert_eq!(size_string(102_359), "100. KiB");
        assert_eq!(size_string(10_235), "10.0 KiB");
        assert_eq!(size_string(1 << 70), "1024. EiB");
    }

    #[test]
    fn impossible_sizes_are_errors_not_aborts() {
        let e = filled::<f64>(&[usize::MAX / 2, 3], 0.0).unwrap_err();
        assert!(matches!(
            e,
            KernelError::OutOfMemory {
                dtype: "float64",
                ..
            }
        ));
        let e = with_capacity::<f32>(&[1 << 40, 1 << 20]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Unable to allocate 4.00 EiB for an array with shape (1099511627776, 1048576) and data type float32"
        );
        assert_eq!(filled(&[2, 3], 1i32).unwrap(), vec![1; 6]);
        assert_eq!(filled(&[2, 3], 0.0f64).unwrap(), vec![0.0; 6]);
        assert_eq!(
            filled(&[4], -0.0f32).unwrap()[3].to_bits(),
            (-0.0f32).to_bits()
        );
        assert!(filled::<f64>(&[0, 5], 0.0).unwrap().is_empty());
        let e = filled::<f64>(&[1 << 40, 1 << 20], 0.0).unwrap_err();
        assert!(matches!(e, KernelError::OutOfMemory { .. }));
        assert_eq!(copied(&[1.0f32, 2.0], &[2]).unwrap(), vec![1.0, 2.0]);
    }
}
