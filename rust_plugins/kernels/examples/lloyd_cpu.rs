//! Thread CPU time of the Lloyd assignment step (with and without the cluster sums) on one
//! thread, less sensitive than wall time to other load on the machine:
//! `cargo run --release -p kernels --example lloyd_cpu -- n d k [f32] [repeats]`.
use kernels::kmeans::steps;
use kernels::samples::Dense;

#[repr(C)]
struct Timespec {
    sec: i64,
    nsec: i64,
}

extern "C" {
    fn clock_gettime(clock: i32, tp: *mut Timespec) -> i32;
}

fn cpu_seconds() -> f64 {
    const CLOCK_THREAD_CPUTIME_ID: i32 = 3;
    let mut t = Timespec { sec: 0, nsec: 0 };
    // SAFETY: `t` is a valid timespec.
    unsafe { clock_gettime(CLOCK_THREAD_CPUTIME_ID, &mut t) };
    t.sec as f64 + t.nsec as f64 * 1e-9
}

fn run<T: kernels::float::Float>(n: usize, d: usize, k: usize, repeats: usize) {
    // Blobs in random order: k centers with unit noise (sums of uniforms), as make_blobs.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut uniform = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let blob: Vec<f64> = (0..k * d).map(|_| uniform() * 20.0 - 10.0).collect();
    let mut x = Vec::with_capacity(n * d);
    for _ in 0..n {
        let j = ((uniform() * k as f64) as usize).min(k - 1);
        for f in 0..d {
            let noise = (0..4).map(|_| uniform()).sum::<f64>() - 2.0;
            x.push(T::from_f64(blob[j * d + f] + noise * 1.7));
        }
    }
    let c: Vec<T> = x[..k * d].to_vec();
    let w = vec![T::ONE; n];
    let s = Dense::new(&x, n, d).unwrap();
    let mut labels = vec![-1; n];
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    pool.install(|| {
        for accumulate in [false, true] {
            if std::env::var("ONLY_SUMS").is_ok() && !accumulate {
                continue;
            }
            let mut best = f64::INFINITY;
            for _ in 0..repeats {
                let t = cpu_seconds();
                let _ = steps::assign(&s, &w, &c, &mut labels, accumulate);
                best = best.min(cpu_seconds() - t);
            }
            println!(
                "{n}x{d}x{k} {}: {:.2} ms cpu (best of {repeats}), {:.2} G fma/s",
                if accumulate { "assign+sums" } else { "assign" },
                best * 1e3,
                (n * d * k) as f64 / best / 1e9
            );
        }
    });
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let (n, d, k) = (
        a[1].parse().unwrap(),
        a[2].parse().unwrap(),
        a[3].parse().unwrap(),
    );
    let f32 = a.get(4).is_some_and(|s| s == "f32");
    let repeats = a.get(5).and_then(|s| s.parse().ok()).unwrap_or(7);
    if f32 {
        run::<f32>(n, d, k, repeats)
    } else {
        run::<f64>(n, d, k, repeats)
    }
}
