//! Rotary position embeddings over one row (a head's vector), as transformers'
//! `apply_rotary_pos_emb` computes them: `x·cos + rotate_half(x)·sin` on the first `r`
//! elements (`r` = the length of cos and sin, even), the others passed through (partial
//! rotary), with `rotate_half(x) = cat(−x[r/2..r], x[..r/2])`.
//!
//! Half types are rounded where the reference's three torch ops round them: both products, then
//! their sum; the backward rounds as autograd through those ops does. Everything is computed in
//! `f32` for half types and in the type itself otherwise.

use crate::rms_norm::Storage;
use crate::simd::simd_variants;

/// `out = x·cos + rotate_half(x)·sin` on the rotary part, `x` elsewhere.
pub fn forward_row<T: Storage>(x: &[T], cos: &[T], sin: &[T], out: &mut [T]) {
    let (d, r) = (x.len(), cos.len());
    assert!(r <= d && r % 2 == 0 && sin.len() == r && out.len() == d);
    forward_dispatch(x, cos, sin, out)
}

simd_variants! {
    fn forward_dispatch<T: Storage>(x: &[T], cos: &[T], sin: &[T], out: &mut [T]) -> () = forward_generic;
}

simd_variants! {
    fn backward_dispatch<T: Storage>(grad: &[T], cos: &[T], sin: &[T], dx: &mut [T]) -> () = backward_generic;
}

/// The loops, compiled once per instruction set (the conversions of half types vectorise).
#[inline(always)]
fn forward_generic<T: Storage>(x: &[T], cos: &[T], sin: &[T], out: &mut [T]) {
    let r = cos.len();
    let h = r / 2;
    let (x1, x2) = x[..r].split_at(h);
    let (c1, c2) = cos.split_at(h);
    let (s1, s2) = sin.split_at(h);
    let (o, pass) = out.split_at_mut(r);
    let (o1, o2) = o.split_at_mut(h);
    // Equal lengths stated up front, so the loop runs without bounds checks and vectorises.
    let (x2, c2, s1, s2, o1, o2) = (
        &x2[..h],
        &c2[..h],
        &s1[..h],
        &s2[..h],
        &mut o1[..h],
        &mut o2[..h],
    );
    for i in 0..h {
        let (a, b) = (x1[i].load(), x2[i].load());
        let lo = T::round(a * c1[i].load()) + T::round(-b * s1[i].load());
        let hi = T::round(b * c2[i].load()) + T::round(a * s2[i].load());
        o1[i] = T::store(lo);
        o2[i] = T::store(hi);
    }
    pass.copy_from_slice(&x[r..]);
}

/// The gradient of x given the output's, `grad·cos + rotate_halfᵀ(grad·sin)` with
/// `rotate_halfᵀ(v) = cat(v[r/2..r], −v[..r/2])`; the pass-through part unchanged.
pub fn backward_row<T: Storage>(grad: &[T], cos: &[T], sin: &[T], dx: &mut [T]) {
    let (d, r) = (grad.len(), cos.len());
    assert!(r <= d && r % 2 == 0 && sin.len() == r && dx.len() == d);
    backward_dispatch(grad, cos, sin, dx)
}

#[inline(always)]
fn backward_generic<T: Storage>(grad: &[T], cos: &[T], sin: &[T], dx: &mut [T]) {
    let r = cos.len();
    let h = r / 2;
    let (g1, g2) = grad[..r].split_at(h);
    let (c1, c2) = cos.split_at(h);
    let (s1, s2) = sin.split_at(h);
    let (d, pass) = dx.split_at_mut(r);
    let (d1, d2) = d.split_at_mut(h);
    let (g2, c2, s1, s2, d1, d2) = (
        &g2[..h],
        &c2[..h],
        &s1[..h],
        &s2[..h],
        &mut d1[..h],
        &mut d2[..h],
    );
    for i in 0..h {
        let (a, b) = (g1[i].load(), g2[i].load());
        let lo = T::round(a * c1[i].load()) + T::round(b * s2[i].load());
        let hi = T::round(b * c2[i].load()) - T::round(a * s1[i].load());
        d1[i] = T::store(lo);
        d2[i] = T::store(hi);
    }
    pass.copy_from_slice(&grad[r..]);
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
