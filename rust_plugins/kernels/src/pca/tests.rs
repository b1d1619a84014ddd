use super::*;

fn never() -> bool {
    false
}

#[test]
fn infer_dimension_finds_the_signal_rank() {
    // Expected ranks from scikit-learn's `_infer_dimension` on the same spectra.
    let spectrum = [50.0, 30.0, 20.0, 1.0, 0.99, 0.98, 0.97, 0.96];
    assert_eq!(infer_dimension(&spectrum, 500), 5);
    let spectrum = [
        42.89098828,
        42.675319,
        42.37517511,
        42.1455681,
        1.93768234,
        1.80829013,
        1.64644051,
        1.63464955,
        1.58668476,
        1.31276163,
        1.2709644,
        1.15032456,
    ];
    assert_eq!(infer_dimension(&spectrum, 300), 4);
}

#[test]
fn solvers_agree_on_a_low_rank_matrix() {
    let (n, d) = (200, 6);
    let mut data = vec![0.0f64; n * d];
    for i in 0..n {
        let (a, b) = ((i as f64 * 0.37).sin(), (i as f64 * 0.11).cos());
        for j in 0..d {
            data[i * d + j] =
                5.0 + a * (j as f64 + 1.0) + b * (d - j) as f64 + 1e-3 * ((i * j) % 7) as f64;
        }
    }
    let x = Dense::new(&data, n, d).unwrap();
    let full = fit_dense(&x, Solver::Full, NComponents::Count(2), true, false, &never).unwrap();
    let eigh = fit_dense(
        &x,
        Solver::CovarianceEigh,
        NComponents::Count(2),
        false,
        false,
        &never,
    )
    .unwrap();
    let arpack = fit_dense(
        &x,
        Solver::Arpack,
        NComponents::Count(2),
        false,
        false,
        &never,
    )
    .unwrap();
    for other in [&eigh, &arpack] {
        for (a, b) in full.components.iter().zip(&other.components) {
            assert!((a - b).abs() < 1e-8);
        }
        for (a, b) in full
            .explained_variance
            .iter()
            .zip(&other.explained_variance)
        {
            assert!((a - b).abs() < 1e-8 * a);
        }
    }
    let projected = full.projected.unwrap();
    let transformed =
        project::transform_dense(&x, &full.mean, &full.components, None, &never).unwrap();
    for (a, b) in projected.iter().zip(&transformed) {
        assert!((a - b).abs() < 1e-9);
    }
}

#[test]
fn block_moments_of_aligned_pieces_give_the_whole_fit() {
    let (n, d) = (20_000, 5);
    let data: Vec<f64> = (0..n * d)
        .map(|k| 1e4 + ((k * 7919) % 1013) as f64 / 97.0 + (k % d) as f64)
        .collect();
    let x = Dense::new(&data, n, d).unwrap();
    let whole = fit_dense(
        &x,
        Solver::CovarianceEigh,
        NComponents::Count(3),
        false,
        false,
        &never,
    )
    .unwrap();
    let rows = crate::blocks::rows_per_block(n, gram::block_state(d));
    assert!(rows < n / 2, "the pieces must hold several blocks");
    // Pieces starting at multiples of the block size, each cut into blocks of its own.
    let cuts = [0, rows, 3 * rows, n];
    let mut parts = Vec::new();
    for piece in cuts.windows(2) {
        let m = piece[1] - piece[0];
        let rows_of = Dense::new(&data[piece[0] * d..piece[1] * d], m, d).unwrap();
        let design = gram::Design::unweighted(&rows_of);
        parts.extend(gram::blocks_moments(design, crate::blocks::fixed(m, rows), &never).unwrap());
    }
    let merged = gram::merge_in_order(parts, d).unwrap();
    let pieces = fit_from_moments(merged, d, NComponents::Count(3), false).unwrap();
    assert_eq!(pieces.mean, whole.mean);
    assert_eq!(pieces.components, whole.components);
    assert_eq!(pieces.explained_variance, whole.explained_variance);
    assert_eq!(pieces.singular_values, whole.singular_values);
    assert_eq!(pieces.noise_variance, whole.noise_variance);
}
