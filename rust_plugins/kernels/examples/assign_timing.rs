//! Times the Lloyd assignment step on one problem shape, for profiling with `perf stat`:
//! `cargo run --release --example assign_timing -- n d k [f32] [repeats]`.
use kernels::kmeans::steps;
use kernels::samples::Dense;
use std::time::Instant;

fn run<T: kernels::float::Float>(n: usize, d: usize, k: usize, repeats: usize) {
    let x: Vec<T> = (0..n * d)
        .map(|i| T::from_f64(((i * 7919) % 1000) as f64 / 500.0 - 1.0))
        .collect();
    let c: Vec<T> = x[..k * d].to_vec();
    let w = vec![T::ONE; n];
    let s = Dense::new(&x, n, d).unwrap();
    let mut labels = vec![-1; n];
    let t = Instant::now();
    for _ in 0..repeats {
        let _ = steps::assign(&s, &w, &c, &mut labels, std::env::var("NOACC").is_err());
    }
    let el = t.elapsed().as_secs_f64() / repeats as f64;
    println!(
        "assign+sums: {:.2} ms, {:.1} GFLOP/s",
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
    let f32 = a.get(4).is_some_and(|s| s == "f32");
    let repeats = a
        .last()
        .and_then(|s| s.parse().ok())
        .filter(|_| a.len() > 4)
        .unwrap_or(5);
    if f32 {
        run::<f32>(n, d, k, repeats)
    } else {
        run::<f64>(n, d, k, repeats)
    }
}
