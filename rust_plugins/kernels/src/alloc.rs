//! Fallible allocation of every buffer whose size depends on the input.
//!
//! Rust's `vec![..]` aborts the whole process when memory runs out; a Python user (a notebook,
//! a server) must get a `MemoryError` instead and carry on. Kernels therefore allocate their
//! input-sized buffers through these helpers, which check the size for overflow before
//! multiplying and report a failure as [`KernelError::OutOfMemory`] with the array's shape and
//! element type, which bindings turn into NumPy's own `MemoryError`.

use crate::KernelError;

/// NumPy's name of an element type, for error messages.
pub trait Dtype {
    const NAME: &'static str;
}

macro_rules! dtype_names {
    ($($t:ty => $name:literal),*) => {$(impl Dtype for $t { const NAME: &'static str = $name; })*};
}
dtype_names!(f32 => "float32", f64 => "float64", i32 => "int32", i64 => "int64",
             u32 => "uint32", u64 => "uint64", usize => "uint64", u16 => "uint16", bool => "bool");

impl<A: Dtype, B> Dtype for (A, B) {
    const NAME: &'static str = A::NAME;
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

/// An empty vector with room for an array of `shape` (the product of its sizes).
pub fn with_capacity<T: Dtype>(shape: &[usize]) -> Result<Vec<T>, KernelError> {
    let len = shape
        .iter()
        .try_fold(1usize, |acc, &s| acc.checked_mul(s))
        .filter(|len| {
            len.checked_mul(std::mem::size_of::<T>())
                .is_some_and(|b| b <= isize::MAX as usize)
        })
        .ok_or_else(|| out_of_memory::<T>(shape))?;
    let mut v = Vec::new();
    v.try_reserve_exact(len)
        .map_err(|_| out_of_memory::<T>(shape))?;
    Ok(v)
}

/// An array of `shape` filled with `value`.
pub fn filled<T: Dtype + Clone>(shape: &[usize], value: T) -> Result<Vec<T>, KernelError> {
    let mut v = with_capacity(shape)?;
    v.resize(v.capacity(), value);
    Ok(v)
}

/// A copy of `values`, seen as an array of `shape`.
pub fn copied<T: Dtype + Clone>(values: &[T], shape: &[usize]) -> Result<Vec<T>, KernelError> {
    let mut v = with_capacity(shape)?;
    v.extend_from_slice(values);
    Ok(v)
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
        assert_eq!(copied(&[1.0f32, 2.0], &[2]).unwrap(), vec![1.0, 2.0]);
    }
}
