//! Seconds per Lloyd iteration, full scan against Yinyang pruning, on blobs shaped as the
//! KMeans benchmark's (centers drawn with standard deviation 2, unit Gaussian noise, initial
//! centers drawn from the data), and the fraction of center distances each pruned pass
//! evaluates: `cargo run --release -p kernels --example lloyd_pruned -- n d k [f32] [threads]`.
use kernels::kmeans::iterate;
use kernels::kmeans::lloyd::Lloyd;
use kernels::kmeans::yinyang::Yinyang;
use kernels::kmeans::RunConfig;
use kernels::samples::Dense;
use std::time::Instant;

fn run<T: kernels::float::Float>(n: usize, d: usize, k: usize, threads: usize) {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut uniform = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        ((state >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    };
    let mut normal = move || {
        let (a, b) = (uniform(), uniform());
        (-2.0 * a.ln()).sqrt() * (std::f64::consts::TAU * b).cos()
    };
    let blob: Vec<f64> = (0..k * d).map(|_| 2.0 * normal()).collect();
    let mut x = Vec::with_capacity(n * d);
    for i in 0..n {
        let j = (i * 7919 + i / 3) % k;
        for f in 0..d {
            x.push(T::from_f64(blob[j * d + f] + normal()));
        }
    }
    let init: Vec<T> = (0..k)
        .flat_map(|j| {
            let i = (j * 104_729 + 17) % n;
            x[i * d..(i + 1) * d].to_vec()
        })
        .collect();
    let w = vec![T::ONE; n];
    let s = Dense::new(&x, n, d).unwrap();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    let never = || false;
    let fit = |max_iter: usize, pruned: bool| {
        let config = RunConfig {
            max_iter,
            tol: 0.0,
            verbose: false,
        };
        let t = Instant::now();
        let (r, evaluated) = if pruned {
            let mut y = Yinyang::new(&s, &w).unwrap();
            let r = iterate::run(&s, &w, &init, &config, &never, &mut y).unwrap();
            (r, y.evaluated)
        } else {
            let mut l = Lloyd::new(&s, &w);
            (
                iterate::run(&s, &w, &init, &config, &never, &mut l).unwrap(),
                vec![],
            )
        };
        (t.elapsed().as_secs_f64(), r, evaluated)
    };
    pool.install(|| {
        let config = RunConfig {
            max_iter: 10,
            tol: 0.0,
            verbose: false,
        };
        let mut full = Timed(Lloyd::new(&s, &w), vec![]);
        iterate::run(&s, &w, &init, &config, &never, &mut full).unwrap();
        let mut pruned = Timed(Yinyang::new(&s, &w).unwrap(), vec![]);
        iterate::run(&s, &w, &init, &config, &never, &mut pruned).unwrap();
        let ms = |v: &[f64]| {
            v.iter()
                .map(|t| format!("{t:.1}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        println!("ms per pass, full:   {}", ms(&full.1));
        println!("ms per pass, pruned: {}", ms(&pruned.1));
        let mut per_iter = [Vec::new(), Vec::new()];
        let mut fractions = Vec::new();
        for _ in 0..3 {
            for pruned in [false, true] {
                if !pruned && std::env::var("ONLY_PRUNED").is_ok() {
                    per_iter[0].push(f64::NAN);
                    continue;
                }
                let (t1, _, _) = fit(1, pruned);
                let (t10, r, ev) = fit(10, pruned);
                per_iter[pruned as usize].push((t10 - t1) / (r.n_iter - 1) as f64);
                if pruned {
                    fractions = ev.iter().map(|&(e, f)| e as f64 / f as f64).collect();
                }
            }
        }
        let median = |v: &mut Vec<f64>| {
            v.sort_by(|a, b| a.total_cmp(b));
            v[v.len() / 2]
        };
        let (full, pruned) = (median(&mut per_iter[0]), median(&mut per_iter[1]));
        println!(
            "{n}x{d}x{k} {} {threads} threads: full {:.2} ms/iter, pruned {:.2} ms/iter ({:.2}x)",
            std::any::type_name::<T>(),
            full * 1e3,
            pruned * 1e3,
            full / pruned
        );
        let f: Vec<String> = fractions.iter().map(|v| format!("{v:.3}")).collect();
        println!("evaluated fraction per pass: {}", f.join(" "));
    });
}

/// An assignment pass that records how long each call takes.
struct Timed<A>(A, Vec<f64>);

impl<T: kernels::float::Float, A: iterate::Assignment<T>> iterate::Assignment<T> for Timed<A> {
    fn assign(&mut self, centers: &[T], labels: &mut [i32], accumulate: bool) -> iterate::Pass<T> {
        let t = Instant::now();
        let r = self.0.assign(centers, labels, accumulate);
        self.1.push(t.elapsed().as_secs_f64() * 1e3);
        r
    }
    fn centers_moved(&mut self, labels: &[i32], shift: &[T]) {
        self.0.centers_moved(labels, shift)
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg =
        |i: usize, default: usize| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    let (n, d, k) = (arg(1, 100_000), arg(2, 64), arg(3, 256));
    let f32 = args.iter().any(|a| a == "f32");
    let threads = args.get(5).and_then(|a| a.parse().ok()).unwrap_or(2);
    if f32 {
        run::<f32>(n, d, k, threads);
    } else {
        run::<f64>(n, d, k, threads);
    }
}
