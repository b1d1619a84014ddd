//! Times the Lloyd assignment step and the bare GEMM on one problem shape:
//! `cargo run --release --example assign_timing -- n d k [f32]`.
use kernels::kmeans::{linalg, steps, Dense};
use std::time::Instant;

fn run<T: kernels::float::Float>(n: usize, d: usize, k: usize) {
    let x: Vec<T> = (0..n * d)
        .map(|i| T::from_f64(((i * 7919) % 1000) as f64 / 500.0 - 1.0))
        .collect();
    let c: Vec<T> = x[..k * d].to_vec();
    let w = vec![T::ONE; n];
    let s = Dense::new(&x, n, d).unwrap();
    let mut labels = vec![-1; n];
    for _ in 0..2 {
        let t = Instant::now();
        let _ = steps::assign(&s, &w, &c, &mut labels, true);
        println!("assign+sums: {:.2} ms", t.elapsed().as_secs_f64() * 1e3);
    }
    let mut out = vec![T::ZERO; 256 * k];
    let t = Instant::now();
    for start in (0..n).step_by(256) {
        let m = 256.min(n - start);
        linalg::gemm_abt(m, k, d, &x[start * d..(start + m) * d], &c, &mut out);
    }
    let el = t.elapsed().as_secs_f64();
    println!(
        "gemm 1 thread: {:.2} ms, {:.1} GFLOP/s",
        el * 1e3,
        2.0 * (n * d * k) as f64 / el / 1e9
    );
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let (n, d, k) = (
        a[1].parse().unwrap(),
        a[2].parse().unwrap(),
        a[3].parse().unwrap(),
    );
    if a.len() > 4 {
        run::<f32>(n, d, k)
    } else {
        run::<f64>(n, d, k)
    }
}
