//! Times the one-pass Gram matrix (`dense::gram::design_moments`) and its syrk tiles on one
//! thread: `cargo run --release -p kernels --example gram_bench [n] [d]`.
use kernels::dense::gram::{design_moments, Design};
use kernels::dense::syrk;
use kernels::samples::Dense;
use std::time::Instant;

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().unwrap())
        .collect();
    let (n, d) = (
        *args.first().unwrap_or(&200_000),
        *args.get(1).unwrap_or(&101),
    );
    let data: Vec<f64> = (0..n * d)
        .map(|i| ((i * 7919) % 1000) as f64 / 1000.0)
        .collect();
    let x = Dense::new(&data, n, d).unwrap();
    let never = || false;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    // Multiply-adds of the lower triangle, in billions per second.
    let rate = |seconds: f64| (n * d * (d + 1) / 2) as f64 / seconds / 1e9;
    pool.install(|| {
        for _ in 0..5 {
            let t = Instant::now();
            let m = design_moments(Design::unweighted(&x), &never).unwrap();
            let e = t.elapsed().as_secs_f64();
            println!("design_moments: {e:.3} s, {:.1} G multiply-adds/s", rate(e));
            std::hint::black_box(m.scatter.data[0]);
        }
        let stride = syrk::padded_width::<f64>(d);
        let rows = 256;
        let z: Vec<f64> = (0..rows * stride).map(|i| (i % 97) as f64).collect();
        let mut s = vec![0.0; stride * stride];
        let t = Instant::now();
        for _ in 0..n / rows {
            syrk::syrk_lower(&z, rows, stride, &mut s, &[]);
        }
        let e = t.elapsed().as_secs_f64();
        println!(
            "syrk tiles (cached chunk): {e:.3} s, {:.1} G multiply-adds/s",
            rate(e)
        );
    });
}
