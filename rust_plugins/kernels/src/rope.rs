//! Rotary position embeddings over one row (a head's vector), as transformers'
//! `apply_rotary_pos_emb` computes them: `x·cos + rotate_half(x)·sin` on the first `r`
//! elements (`r` = the length of cos and sin, even), the others passed through (partial
//! rotary), with `rotate_half(x) = cat(−x[r/2..r], x[..r/2])`.
//!
//! Half types are rounded where the reference's three torch ops round them: both products, then
//! their sum; the backward rounds as autograd through those ops does. Everything is computed in
//! `f32` for half types and in the type itself otherwise.

use crate::rms_norm::Storage;

/// `out = x·cos + rotate_half(x)·sin` on the rotary part, `x` elsewhere.
pub fn forward_row<T: Storage>(x: &[T], cos: &[T], sin: &[T], out: &mut [T]) {
    let (d, r) = (x.len(), cos.len());
    assert!(r <= d && r % 2 == 0 && sin.len() == r && out.len() == d);
    let h = r / 2;
    for i in 0..h {
        let (a, b) = (x[i].load(), x[i + h].load());
        let lo = T::round(a * cos[i].load()) + T::round(-b * sin[i].load());
        let hi = T::round(b * cos[i + h].load()) + T::round(a * sin[i + h].load());
        out[i] = T::store(lo);
        out[i + h] = T::store(hi);
    }
    out[r..].copy_from_slice(&x[r..]);
}

/// The gradient of x given the output's, `grad·cos + rotate_halfᵀ(grad·sin)` with
/// `rotate_halfᵀ(v) = cat(v[r/2..r], −v[..r/2])`; the pass-through part unchanged.
pub fn backward_row<T: Storage>(grad: &[T], cos: &[T], sin: &[T], dx: &mut [T]) {
    let (d, r) = (grad.len(), cos.len());
    assert!(r <= d && r % 2 == 0 && sin.len() == r && dx.len() == d);
    let h = r / 2;
    for i in 0..h {
        let (a, b) = (grad[i].load(), grad[i + h].load());
        let lo = T::round(a * cos[i].load()) + T::round(b * sin[i + h].load());
        let hi = T::round(b * cos[i + h].load()) - T::round(a * sin[i].load());
        dx[i] = T::store(lo);
        dx[i + h] = T::store(hi);
    }
    dx[r..].copy_from_slice(&grad[r..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotates_pairs_and_passes_the_rest() {
        let x = [1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0];
        let (c, s) = (0.3f64, 0.8f64);
        let cos = [c; 4];
        let sin = [s; 4];
        let mut out = [0.0; 6];
        forward_row(&x, &cos, &sin, &mut out);
        assert_eq!(out[0], 1.0 * c - 3.0 * s);
        assert_eq!(out[2], 3.0 * c + 1.0 * s);
        assert_eq!(&out[4..], &[5.0, 6.0]);
    }

    #[test]
    fn backward_is_the_transpose() {
        // <forward(x), g> == <x, backward(g)> for any x, g.
        let x: Vec<f64> = (0..10).map(|i| (i as f64 * 0.37).sin()).collect();
        let g: Vec<f64> = (0..10).map(|i| (i as f64 * 0.91).cos()).collect();
        let cos: Vec<f64> = (0..8).map(|i| (i as f64 * 0.2).cos()).collect();
        let sin: Vec<f64> = (0..8).map(|i| (i as f64 * 0.3).sin()).collect();
        let (mut y, mut dx) = (vec![0.0; 10], vec![0.0; 10]);
        forward_row(&x, &cos, &sin, &mut y);
        backward_row(&g, &cos, &sin, &mut dx);
        let lhs: f64 = y.iter().zip(&g).map(|(a, b)| a * b).sum();
        let rhs: f64 = x.iter().zip(&dx).map(|(a, b)| a * b).sum();
        assert!((lhs - rhs).abs() < 1e-12);
    }
}
