use super::*;

fn all_metrics(d: usize) -> Vec<Metric> {
    vec![
        Metric::Euclidean,
        Metric::SqEuclidean,
        Metric::Manhattan,
        Metric::Chebyshev,
        Metric::Minkowski { p: 3.0, w: None },
        Metric::Minkowski {
            p: 1.5,
            w: Some((0..d).map(|j| 0.5 + j as f64).collect()),
        },
        Metric::Minkowski { p: 0.5, w: None },
        Metric::Cosine,
    ]
}

/// Dense rows with zeros in them, and their CSR form.
fn rows() -> (Vec<Vec<f64>>, Vec<(Vec<i32>, Vec<f64>)>) {
    let dense = vec![
        vec![0.0, 1.5, 0.0, -2.0, 0.25],
        vec![3.0, 0.0, 0.0, 1.0, 0.0],
        vec![0.0, 0.0, 0.0, 0.0, 0.0],
        vec![-1.0, 2.0, 4.0, 0.0, 0.5],
    ];
    let csr = dense
        .iter()
        .map(|r| {
            let idx: Vec<i32> = (0..r.len() as i32)
                .filter(|&j| r[j as usize] != 0.0)
                .collect();
            let vals = idx.iter().map(|&j| r[j as usize]).collect();
            (idx, vals)
        })
        .collect();
    (dense, csr)
}

/// The textbook formula of each metric, independently of the module's code.
fn naive(metric: &Metric, a: &[f64], b: &[f64]) -> f64 {
    let diffs = a.iter().zip(b).map(|(x, y)| (x - y).abs());
    match metric {
        Metric::Euclidean => diffs.map(|t| t * t).sum::<f64>().sqrt(),
        Metric::SqEuclidean => diffs.map(|t| t * t).sum(),
        Metric::Manhattan => diffs.sum(),
        Metric::Chebyshev => diffs.fold(0.0, f64::max),
        Metric::Minkowski { p, w } => {
            let w = w.clone().unwrap_or(vec![1.0; a.len()]);
            diffs
                .zip(&w)
                .map(|(t, wj)| wj * t.powf(*p))
                .sum::<f64>()
                .powf(1.0 / p)
        }
        Metric::Cosine => {
            let n = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
            let (na, nb) = (n(a), n(b));
            let (na, nb) = (
                if na == 0.0 { 1.0 } else { na },
                if nb == 0.0 { 1.0 } else { nb },
            );
            let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
            (1.0 - dot / (na * nb)).clamp(0.0, 2.0)
        }
        Metric::Haversine => unreachable!(),
    }
}

#[test]
fn dense_and_csr_rows_give_the_textbook_distances() {
    let (dense, csr) = rows();
    for metric in all_metrics(5) {
        for (a, ca) in dense.iter().zip(&csr) {
            for (b, cb) in dense.iter().zip(&csr) {
                let want = naive(&metric, a, b);
                let got = metric.dist(a, b);
                assert!(
                    (got - want).abs() <= 1e-12 * want.max(1.0),
                    "{metric:?} {got} {want}"
                );
                let sparse = metric.dist_csr((&ca.0, &ca.1), (&cb.0, &cb.1));
                assert!(
                    (sparse - want).abs() <= 1e-12 * want.max(1.0),
                    "{metric:?} csr"
                );
                // f32 rows accumulate in f64 too.
                let (a32, b32): (Vec<f32>, Vec<f32>) = (
                    a.iter().map(|&v| v as f32).collect(),
                    b.iter().map(|&v| v as f32).collect(),
                );
                assert!((metric.dist(&a32, &b32) - want).abs() <= 1e-6 * want.max(1.0));
            }
        }
    }
}

#[test]
fn reduced_distances_convert_both_ways() {
    let (dense, _) = rows();
    let (a, b) = (&dense[0], &dense[3]);
    let mut metrics = all_metrics(5);
    metrics.push(Metric::Haversine);
    for metric in metrics {
        let r = metric.rdist(a, b);
        let d = metric.dist(a, b);
        assert_eq!(metric.rdist_to_dist(r), d);
        assert!(
            (metric.dist_to_rdist(d) - r).abs() <= 1e-12 * r.max(1.0),
            "{metric:?}"
        );
        assert_eq!(
            metric.reduced_is_distance(),
            r == d || metric == Metric::SqEuclidean
        );
    }
}

#[test]
fn haversine_is_the_great_circle_angle() {
    // A quarter of the equator, and pole to equator.
    let h = Metric::Haversine;
    let half_pi = std::f64::consts::FRAC_PI_2;
    assert!((h.dist(&[0.0, 0.0], &[0.0, half_pi]) - half_pi).abs() < 1e-15);
    assert!((h.dist(&[half_pi, 0.3], &[0.0, 1.0]) - half_pi).abs() < 1e-15);
    let csr = h.dist_csr((&[1][..], &[half_pi][..]), (&[0, 1][..], &[0.1, 0.2][..]));
    assert!((csr - h.dist(&[0.0, half_pi], &[0.1, 0.2])).abs() < 1e-15);
}

#[test]
fn names_and_parameters_simplify_as_scikit_learn() {
    assert_eq!(Metric::from_name("l2", None, None), Ok(Metric::Euclidean));
    assert_eq!(
        Metric::from_name("minkowski", None, None),
        Ok(Metric::Euclidean)
    );
    assert_eq!(
        Metric::from_name("p", Some(1.0), None),
        Ok(Metric::Manhattan)
    );
    assert_eq!(
        Metric::from_name("cityblock", None, None),
        Ok(Metric::Manhattan)
    );
    assert_eq!(
        Metric::from_name("minkowski", Some(f64::INFINITY), None),
        Ok(Metric::Chebyshev)
    );
    assert_eq!(
        Metric::from_name("minkowski", Some(2.0), Some(vec![1.0, 2.0])),
        Ok(Metric::Minkowski {
            p: 2.0,
            w: Some(vec![1.0, 2.0])
        })
    );
    let err = |r: Result<Metric, KernelError>| match r {
        Err(KernelError::InvalidArgument(m)) => m,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        err(Metric::minkowski(0.0, None)),
        "p must be greater than 0"
    );
    assert_eq!(
        err(Metric::minkowski(2.0, Some(vec![-1.0]))),
        "w cannot contain negative weights"
    );
    assert!(err(Metric::minkowski(f64::INFINITY, Some(vec![1.0]))).contains("finite p"));
    assert_eq!(
        err(Metric::from_name("seuclidean", None, None)),
        "Unrecognized metric 'seuclidean'"
    );
    let w = Metric::minkowski(3.0, Some(vec![1.0; 3])).unwrap();
    assert!(w.check_features(3).is_ok());
    assert_eq!(
        err(w.check_features(4).map(|_| Metric::Cosine)),
        "MinkowskiDistance: the size of w must match the number of features (4). Currently len(w)=3."
    );
    assert!(Metric::Haversine.check_features(3).is_err());
}
