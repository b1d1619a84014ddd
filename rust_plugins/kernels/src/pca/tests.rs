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
