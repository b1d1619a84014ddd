//! Bindings of `kernels::neighbors`: the brute-force, k-d tree and ball tree k-nearest and
//! radius searches, and the predictions made from their neighbour lists.

use kernels::float::Float;
use kernels::metric::Metric;
use kernels::neighbors::binary_tree::radius::Radii;
use kernels::neighbors::binary_tree::TreeView;
use kernels::neighbors::predict::Weighting;
use kernels::neighbors::{self, ball_tree, kd_tree, BruteSamples};
use kernels::StopCheck;
use numpy::{
    Element, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2, PyReadwriteArray2,
    PyUntypedArrayMethods,
};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::arrays::{matrix, slice, vector};
use crate::by_dtype;
use crate::metric::metric_arg;
use crate::runtime::{RunKernel, Threads};
use crate::samples::SamplesArg;

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(kneighbors, m)?)?;
    m.add_function(wrap_pyfunction!(radius_neighbors, m)?)?;
    m.add_function(wrap_pyfunction!(kd_tree_build, m)?)?;
    m.add_function(wrap_pyfunction!(kd_tree_kneighbors, m)?)?;
    m.add_function(wrap_pyfunction!(kd_tree_radius_neighbors, m)?)?;
    m.add_function(wrap_pyfunction!(ball_tree_build, m)?)?;
    m.add_function(wrap_pyfunction!(ball_tree_kneighbors, m)?)?;
    m.add_function(wrap_pyfunction!(ball_tree_radius_neighbors, m)?)?;
    m.add_function(wrap_pyfunction!(neighbor_class_probabilities, m)?)?;
    m.add_function(wrap_pyfunction!(neighbor_means, m)?)?;
    m.add_function(wrap_pyfunction!(neighbor_weighted_class_probabilities, m)?)?;
    m.add_function(wrap_pyfunction!(neighbor_weighted_votes, m)?)?;
    m.add_function(wrap_pyfunction!(neighbor_weighted_means, m)?)?;
    Ok(())
}

/// `"kneighbors"` or `"radius"`: the scikit-learn path whose `weights="distance"` is followed.
fn weighting_arg(name: &str) -> PyResult<Weighting> {
    match name {
        "kneighbors" => Ok(Weighting::KNeighbors),
        "radius" => Ok(Weighting::Radius),
        _ => Err(PyValueError::new_err(format!(
            "weighting must be 'kneighbors' or 'radius', got {name:?}"
        ))),
    }
}

/// Runs `search` on the dense or CSR views of `fit` and `queries` (both of one storage).
fn with_pair<'py, T: Float + Element, R: Send>(
    py: Python<'py>,
    fit: &SamplesArg<'py, T>,
    queries: &SamplesArg<'py, T>,
    n_threads: usize,
    search: impl SearchFn<T, R>,
) -> PyResult<R> {
    let work = fit
        .n_samples()
        .saturating_mul(queries.n_samples())
        .saturating_mul(fit.n_features().max(1));
    let threads = Threads::for_work(n_threads, work);
    match (fit.dense()?, queries.dense()?, fit.csr()?, queries.csr()?) {
        (Some(f), Some(q), ..) => py.run_kernel(threads, |stop| search.run(&f, &q, stop)),
        (.., Some(f), Some(q)) => py.run_kernel(threads, |stop| search.run(&f, &q, stop)),
        _ => Err(PyValueError::new_err(
            "the fitted samples and the queries must both be dense or both be CSR",
        )),
    }
}

/// A search generic over the storage (a closure cannot be generic).
pub trait SearchFn<T: Float, R>: Sync {
    fn run<S: BruteSamples<T>>(
        &self,
        fit: &S,
        queries: &S,
        stop: StopCheck,
    ) -> Result<R, kernels::KernelError>;
}

struct KSearch {
    metric: Metric,
    k: usize,
    queries_are_fit: bool,
}

impl<T: Float> SearchFn<T, neighbors::KNeighbors> for &KSearch {
    fn run<S: BruteSamples<T>>(
        &self,
        fit: &S,
        queries: &S,
        stop: StopCheck,
    ) -> Result<neighbors::KNeighbors, kernels::KernelError> {
        neighbors::kneighbors(
            fit,
            queries,
            &self.metric,
            self.k,
            self.queries_are_fit,
            stop,
        )
    }
}

struct RadiusSearch {
    metric: Metric,
    radius: f64,
    sort: bool,
    exclude_self: bool,
    with_distances: bool,
}

impl<T: Float> SearchFn<T, neighbors::RadiusNeighbors> for &RadiusSearch {
    fn run<S: BruteSamples<T>>(
        &self,
        fit: &S,
        queries: &S,
        stop: StopCheck,
    ) -> Result<neighbors::RadiusNeighbors, kernels::KernelError> {
        neighbors::radius_neighbors(
            fit,
            queries,
            &self.metric,
            self.radius,
            self.sort,
            self.exclude_self,
            self.with_distances,
            stop,
        )
    }
}

fn kneighbors_t<'py, T: Float + Element>(
    py: Python<'py>,
    fit: &Bound<'py, PyAny>,
    queries: &Bound<'py, PyAny>,
    search: KSearch,
    n_threads: usize,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    let fit = SamplesArg::<T>::extract(fit)?;
    let queries = SamplesArg::<T>::extract(queries)?;
    let n_q = queries.n_samples();
    let k = search.k;
    let result = with_pair(py, &fit, &queries, n_threads, &search)?;
    Ok((
        matrix(py, result.distances, n_q, k)?,
        matrix(py, result.indices, n_q, k)?,
    ))
}

fn first_array<'py>(x: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    Ok(match x.cast::<pyo3::types::PyTuple>() {
        Ok(t) => t.get_item(0)?,
        Err(_) => x.clone(),
    })
}

/// `(distances, indices)`, `(n_queries, k)` float64 and int64: the `k` nearest rows of `fit`
/// to each row of `queries` (same dtype and storage), nearest first, ties in scikit-learn's
/// order; `queries_are_fit` says the queries are `fit` (scikit-learn's `X=None`: its sparse
/// pairwise path sets each sample's distance to itself to 0).
#[pyfunction]
#[pyo3(signature = (fit, queries, metric, k, n_threads, queries_are_fit=false))]
fn kneighbors<'py>(
    py: Python<'py>,
    fit: &Bound<'py, PyAny>,
    queries: &Bound<'py, PyAny>,
    metric: &Bound<'py, PyAny>,
    k: usize,
    n_threads: usize,
    queries_are_fit: bool,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    let search = KSearch {
        metric: metric_arg(metric)?,
        k,
        queries_are_fit,
    };
    let probe = first_array(fit)?;
    by_dtype!(py, probe, kneighbors_t(py, fit, queries, search, n_threads))
}

type TreeOut<'py> = (
    Bound<'py, PyAny>,
    Bound<'py, PyAny>,
    Bound<'py, PyAny>,
    Bound<'py, PyAny>,
);

/// A C-contiguous 2-D float64 array's data and its shape.
fn rows<'a>(a: &'a PyReadonlyArray2<'_, f64>, what: &str) -> PyResult<(&'a [f64], usize, usize)> {
    let (n, d) = (a.shape()[0], a.shape()[1]);
    let data = a
        .as_slice()
        .map_err(|_| PyValueError::new_err(format!("{what} must be C-contiguous")))?;
    Ok((data, n, d))
}

/// `(data, idx, nodes, bounds)`: scikit-learn's k-d tree over the `(n, d)` float64 `data`
/// with `leaf_size`: the samples in tree order laid out leaf by leaf, each leaf feature by
/// feature (`(n d,)` float64), their sample indices (`(n,)` uint32), `(n_nodes, 3)` int64
/// `(idx_start, idx_end, is_leaf)`, and `(n_nodes, 2, d)` float64 node minima and maxima.
#[pyfunction]
#[pyo3(signature = (data, leaf_size, n_threads))]
fn kd_tree_build<'py>(
    py: Python<'py>,
    data: PyReadonlyArray2<'py, f64>,
    leaf_size: usize,
    n_threads: usize,
) -> PyResult<TreeOut<'py>> {
    let (data, n, d) = rows(&data, "data")?;
    let work = n.saturating_mul(d).saturating_mul(64);
    let tree = py.run_kernel(Threads::for_work(n_threads, work), |stop| {
        kd_tree::build(data, n, d, leaf_size, stop)
    })?;
    let count = tree.nodes.len() / 3;
    let bounds = numpy::PyArray1::from_vec(py, tree.bounds).reshape([count, 2, d])?;
    Ok((
        vector(py, tree.data),
        vector(py, tree.idx),
        matrix(py, tree.nodes, count, 3)?,
        bounds.into_any(),
    ))
}

/// The tree `(data, idx, nodes, bounds)` that `kd_tree_build` returned, checked, and the
/// queries' rows with their count.
fn tree_and_queries<'a>(
    data: &'a PyReadonlyArray1<'_, f64>,
    idx: &'a PyReadonlyArray1<'_, u32>,
    nodes: &'a PyReadonlyArray2<'_, i64>,
    bounds: &'a numpy::PyReadonlyArray3<'_, f64>,
    queries: &'a PyReadonlyArray2<'_, f64>,
) -> PyResult<(kd_tree::KdTreeView<'a>, &'a [f64], usize)> {
    let d = bounds.shape()[2];
    let (queries, n_q, d_q) = rows(queries, "queries")?;
    if d_q != d {
        return Err(PyValueError::new_err(format!(
            "queries have {d_q} features, the fitted samples {d}"
        )));
    }
    let nodes = nodes
        .as_slice()
        .map_err(|_| PyValueError::new_err("nodes must be C-contiguous"))?;
    let bounds = bounds
        .as_slice()
        .map_err(|_| PyValueError::new_err("bounds must be C-contiguous"))?;
    let tree = kd_tree::KdTreeView::new(slice(data)?, d, slice(idx)?, nodes, bounds)
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    Ok((tree, queries, n_q))
}

/// Work of `n_q` queries descending the tree, each visiting about `per_query` samples.
fn tree_work(tree: &TreeView<'_>, n_q: usize, per_query: usize) -> usize {
    let levels = (tree.n_nodes() + 1).ilog2() as usize + 1;
    n_q.saturating_mul(per_query + levels)
        .saturating_mul(tree.n_features() * 16)
}

/// `(distances, indices)`, `(n_queries, k)` float64 and int64: scikit-learn's
/// `KDTree.query(queries, k)` on the tree `(data, idx, nodes, bounds)` that `kd_tree_build`
/// returned; with
/// `reduced` the distances are left reduced (minkowski: scikit-learn takes their root with
/// NumPy, whose `pow` may differ from the C library's in the last bit).
#[pyfunction]
#[pyo3(signature = (data, idx, nodes, bounds, queries, metric, k, n_threads, reduced=false))]
#[allow(clippy::too_many_arguments)] // the Python signature
fn kd_tree_kneighbors<'py>(
    py: Python<'py>,
    data: PyReadonlyArray1<'py, f64>,
    idx: PyReadonlyArray1<'py, u32>,
    nodes: PyReadonlyArray2<'py, i64>,
    bounds: numpy::PyReadonlyArray3<'py, f64>,
    queries: PyReadonlyArray2<'py, f64>,
    metric: &Bound<'py, PyAny>,
    k: usize,
    n_threads: usize,
    reduced: bool,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    let metric = metric_arg(metric)?;
    let (tree, queries, n_q) = tree_and_queries(&data, &idx, &nodes, &bounds, &queries)?;
    let work = tree_work(&tree, n_q, k);
    let result = py.run_kernel(Threads::for_work(n_threads, work), |stop| {
        kd_tree::kneighbors(&tree, queries, &metric, k, reduced, stop)
    })?;
    Ok((
        matrix(py, result.distances, n_q, k)?,
        matrix(py, result.indices, n_q, k)?,
    ))
}

/// A radius argument: a float, or a float64 1-D array of one radius per query.
enum RadiusArg<'py> {
    One(f64),
    Each(PyReadonlyArray1<'py, f64>),
}

impl<'py> RadiusArg<'py> {
    fn extract(radius: &Bound<'py, PyAny>) -> PyResult<Self> {
        if let Ok(each) = radius.extract::<PyReadonlyArray1<'py, f64>>() {
            return Ok(Self::Each(each));
        }
        Ok(Self::One(radius.extract::<f64>()?))
    }

    fn radii(&self) -> PyResult<Radii<'_>> {
        Ok(match self {
            Self::One(r) => Radii::One(*r),
            Self::Each(each) => Radii::Each(slice(each)?),
        })
    }
}

/// `(offsets, indices, distances)`: scikit-learn's `KDTree.query_radius(queries, radius,
/// return_distance=with_distances, sort_results=sort)` on the tree `(data, idx, nodes,
/// bounds)` that `kd_tree_build` returned, query `i`'s neighbours in
/// `indices[offsets[i]:offsets[i + 1]]` in scikit-learn's order (`radius` a float or one
/// float64 per query); with `exclude_self` (the
/// queries are the fitted samples) each query's own index is left out; `distances` (float64,
/// as scikit-learn computes them) is empty unless `with_distances`.
#[pyfunction]
#[pyo3(signature = (data, idx, nodes, bounds, queries, metric, radius, sort, exclude_self,
                    n_threads, with_distances=true))]
#[allow(clippy::too_many_arguments)] // the Python signature
fn kd_tree_radius_neighbors<'py>(
    py: Python<'py>,
    data: PyReadonlyArray1<'py, f64>,
    idx: PyReadonlyArray1<'py, u32>,
    nodes: PyReadonlyArray2<'py, i64>,
    bounds: numpy::PyReadonlyArray3<'py, f64>,
    queries: PyReadonlyArray2<'py, f64>,
    metric: &Bound<'py, PyAny>,
    radius: &Bound<'py, PyAny>,
    sort: bool,
    exclude_self: bool,
    n_threads: usize,
    with_distances: bool,
) -> PyResult<RadiusOut<'py>> {
    let metric = metric_arg(metric)?;
    let radius = RadiusArg::extract(radius)?;
    let radius = radius.radii()?;
    let (tree, queries, n_q) = tree_and_queries(&data, &idx, &nodes, &bounds, &queries)?;
    let work = tree_work(&tree, n_q, 16);
    let r = py.run_kernel(Threads::for_work(n_threads, work), |stop| {
        kd_tree::radius::radius_neighbors(
            &tree,
            queries,
            &metric,
            radius,
            sort,
            exclude_self,
            with_distances,
            stop,
        )
    })?;
    Ok((
        vector(py, r.offsets),
        vector(py, r.indices),
        vector(py, r.distances),
    ))
}

type BallTreeOut<'py> = (
    Bound<'py, PyAny>,
    Bound<'py, PyAny>,
    Bound<'py, PyAny>,
    Bound<'py, PyAny>,
    Bound<'py, PyAny>,
);

/// `(data, idx, nodes, centroids, radii)`: scikit-learn's `BallTree(data, leaf_size, metric)`
/// over the `(n, d)` float64 `data`: the samples and indices as `kd_tree_build` returns them,
/// `(n_nodes, 3)` int64 `(idx_start, idx_end, is_leaf)`, `(n_nodes, d)` centroids and
/// `(n_nodes,)` radii.
#[pyfunction]
#[pyo3(signature = (data, leaf_size, metric, n_threads))]
fn ball_tree_build<'py>(
    py: Python<'py>,
    data: PyReadonlyArray2<'py, f64>,
    leaf_size: usize,
    metric: &Bound<'py, PyAny>,
    n_threads: usize,
) -> PyResult<BallTreeOut<'py>> {
    let metric = metric_arg(metric)?;
    let (data, n, d) = rows(&data, "data")?;
    let work = n.saturating_mul(d).saturating_mul(64);
    let tree = py.run_kernel(Threads::for_work(n_threads, work), |stop| {
        ball_tree::build(data, n, d, leaf_size, &metric, stop)
    })?;
    let count = tree.radii.len();
    Ok((
        vector(py, tree.data),
        vector(py, tree.idx),
        matrix(py, tree.nodes, count, 3)?,
        matrix(py, tree.centroids, count, d)?,
        vector(py, tree.radii),
    ))
}

/// The ball tree `(data, idx, nodes, centroids, radii)` that `ball_tree_build` returned,
/// checked, and the queries' rows with their count.
fn ball_and_queries<'a>(
    data: &'a PyReadonlyArray1<'_, f64>,
    idx: &'a PyReadonlyArray1<'_, u32>,
    nodes: &'a PyReadonlyArray2<'_, i64>,
    centroids: &'a PyReadonlyArray2<'_, f64>,
    radii: &'a PyReadonlyArray1<'_, f64>,
    queries: &'a PyReadonlyArray2<'_, f64>,
) -> PyResult<(ball_tree::BallTreeView<'a>, &'a [f64], usize)> {
    let (centroids, _, d) = rows(centroids, "centroids")?;
    let (queries, n_q, d_q) = rows(queries, "queries")?;
    if d_q != d {
        return Err(PyValueError::new_err(format!(
            "queries have {d_q} features, the fitted samples {d}"
        )));
    }
    let (nodes, _, _) = rows_i64(nodes)?;
    let (data, idx, radii) = (slice(data)?, slice(idx)?, slice(radii)?);
    let tree = ball_tree::BallTreeView::new(data, d, idx, nodes, centroids, radii)
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    Ok((tree, queries, n_q))
}

fn rows_i64<'a>(a: &'a PyReadonlyArray2<'_, i64>) -> PyResult<(&'a [i64], usize, usize)> {
    let data = a
        .as_slice()
        .map_err(|_| PyValueError::new_err("nodes must be C-contiguous"))?;
    Ok((data, a.shape()[0], a.shape()[1]))
}

/// `(distances, indices)`: scikit-learn's `BallTree.query(queries, k)` on the tree that
/// `ball_tree_build` returned; with `reduced` the distances are left reduced (minkowski and
/// haversine: scikit-learn converts them with NumPy).
#[pyfunction]
#[pyo3(signature = (data, idx, nodes, centroids, radii, queries, metric, k, n_threads,
                    reduced=false))]
#[allow(clippy::too_many_arguments)] // the Python signature
fn ball_tree_kneighbors<'py>(
    py: Python<'py>,
    data: PyReadonlyArray1<'py, f64>,
    idx: PyReadonlyArray1<'py, u32>,
    nodes: PyReadonlyArray2<'py, i64>,
    centroids: PyReadonlyArray2<'py, f64>,
    radii: PyReadonlyArray1<'py, f64>,
    queries: PyReadonlyArray2<'py, f64>,
    metric: &Bound<'py, PyAny>,
    k: usize,
    n_threads: usize,
    reduced: bool,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    let metric = metric_arg(metric)?;
    let (tree, queries, n_q) = ball_and_queries(&data, &idx, &nodes, &centroids, &radii, &queries)?;
    let work = tree_work(&tree, n_q, k);
    let result = py.run_kernel(Threads::for_work(n_threads, work), |stop| {
        ball_tree::kneighbors(&tree, queries, &metric, k, reduced, stop)
    })?;
    Ok((
        matrix(py, result.distances, n_q, k)?,
        matrix(py, result.indices, n_q, k)?,
    ))
}

/// `(offsets, indices, distances)`: scikit-learn's `BallTree.query_radius` on the tree that
/// `ball_tree_build` returned, as `kd_tree_radius_neighbors` on the k-d tree.
#[pyfunction]
#[pyo3(signature = (data, idx, nodes, centroids, radii, queries, metric, radius, sort,
                    exclude_self, n_threads, with_distances=true))]
#[allow(clippy::too_many_arguments)] // the Python signature
fn ball_tree_radius_neighbors<'py>(
    py: Python<'py>,
    data: PyReadonlyArray1<'py, f64>,
    idx: PyReadonlyArray1<'py, u32>,
    nodes: PyReadonlyArray2<'py, i64>,
    centroids: PyReadonlyArray2<'py, f64>,
    radii: PyReadonlyArray1<'py, f64>,
    queries: PyReadonlyArray2<'py, f64>,
    metric: &Bound<'py, PyAny>,
    radius: &Bound<'py, PyAny>,
    sort: bool,
    exclude_self: bool,
    n_threads: usize,
    with_distances: bool,
) -> PyResult<RadiusOut<'py>> {
    let metric = metric_arg(metric)?;
    let radius = RadiusArg::extract(radius)?;
    let radius = radius.radii()?;
    let (tree, queries, n_q) = ball_and_queries(&data, &idx, &nodes, &centroids, &radii, &queries)?;
    let work = tree_work(&tree, n_q, 16);
    let r = py.run_kernel(Threads::for_work(n_threads, work), |stop| {
        ball_tree::radius_neighbors(
            &tree,
            queries,
            &metric,
            radius,
            sort,
            exclude_self,
            with_distances,
            stop,
        )
    })?;
    Ok((
        vector(py, r.offsets),
        vector(py, r.indices),
        vector(py, r.distances),
    ))
}

type RadiusOut<'py> = (Bound<'py, PyAny>, Bound<'py, PyAny>, Bound<'py, PyAny>);

fn radius_t<'py, T: Float + Element>(
    py: Python<'py>,
    fit: &Bound<'py, PyAny>,
    queries: &Bound<'py, PyAny>,
    search: RadiusSearch,
    n_threads: usize,
) -> PyResult<RadiusOut<'py>> {
    let fit = SamplesArg::<T>::extract(fit)?;
    let queries = SamplesArg::<T>::extract(queries)?;
    let r = with_pair(py, &fit, &queries, n_threads, &search)?;
    Ok((
        vector(py, r.offsets),
        vector(py, r.indices),
        vector(py, r.distances),
    ))
}

/// `(offsets, indices, distances)`: the rows of `fit` within `radius` of each query, query
/// `i`'s in `indices[offsets[i]:offsets[i + 1]]`, in index order or nearest first (`sort`);
/// with `exclude_self` (`queries` are `fit`) each query's own index is left out; `distances`
/// is empty unless `with_distances`.
#[pyfunction]
#[pyo3(signature = (fit, queries, metric, radius, sort, exclude_self, n_threads, with_distances=true))]
#[allow(clippy::too_many_arguments)] // the Python signature
fn radius_neighbors<'py>(
    py: Python<'py>,
    fit: &Bound<'py, PyAny>,
    queries: &Bound<'py, PyAny>,
    metric: &Bound<'py, PyAny>,
    radius: f64,
    sort: bool,
    exclude_self: bool,
    n_threads: usize,
    with_distances: bool,
) -> PyResult<RadiusOut<'py>> {
    let search = RadiusSearch {
        metric: metric_arg(metric)?,
        radius,
        sort,
        exclude_self,
        with_distances,
    };
    let probe = first_array(fit)?;
    by_dtype!(py, probe, radius_t(py, fit, queries, search, n_threads))
}

/// The data of `out`, checked to be `(n_queries, n_classes)` and C-contiguous.
fn probabilities_out<'a>(
    out: &'a mut PyReadwriteArray2<'_, f64>,
    n_queries: usize,
    n_classes: usize,
) -> PyResult<&'a mut [f64]> {
    if out.shape() != [n_queries, n_classes] {
        return Err(PyValueError::new_err(format!(
            "out must have shape ({n_queries}, {n_classes})"
        )));
    }
    out.as_slice_mut()
        .map_err(|_| PyValueError::new_err("out must be C-contiguous"))
}

/// `(n_queries, n_classes)` probabilities of uniform votes: the neighbour lists
/// `indices[offsets[i]:offsets[i + 1]]` counted by class (`labels`, class indices of the
/// fitted samples) and divided by their length; 0 for an empty list. Written into `out`
/// (C-contiguous float64 zeros of that shape, allocated before the search) when given.
#[pyfunction]
#[pyo3(signature = (offsets, indices, labels, n_classes, n_threads, out=None))]
fn neighbor_class_probabilities<'py>(
    py: Python<'py>,
    offsets: PyReadonlyArray1<'py, i64>,
    indices: PyReadonlyArray1<'py, i64>,
    labels: PyReadonlyArray1<'py, i64>,
    n_classes: usize,
    n_threads: usize,
    out: Option<Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let (offsets, indices, labels) = (slice(&offsets)?, slice(&indices)?, slice(&labels)?);
    let n_queries = offsets.len().saturating_sub(1);
    let threads = Threads::for_work(n_threads, indices.len().saturating_add(n_queries));
    let Some(out) = out else {
        let proba = py.run_kernel(threads, |stop| {
            neighbors::predict::class_probabilities(offsets, indices, labels, n_classes, stop)
        })?;
        return matrix(py, proba, n_queries, n_classes);
    };
    {
        let mut proba: PyReadwriteArray2<f64> = out.extract()?;
        let proba = probabilities_out(&mut proba, n_queries, n_classes)?;
        py.run_kernel(threads, |stop| {
            neighbors::predict::class_probabilities_into(
                offsets, indices, labels, n_classes, proba, stop,
            )
        })?;
    }
    Ok(out)
}

/// `(n_queries, n_outputs)` float64 means of the targets `y` (`(n_fit, n_outputs)`,
/// C-contiguous) over each neighbour list; NaN for an empty list.
#[pyfunction]
#[pyo3(signature = (offsets, indices, y, n_threads))]
fn neighbor_means<'py>(
    py: Python<'py>,
    offsets: PyReadonlyArray1<'py, i64>,
    indices: PyReadonlyArray1<'py, i64>,
    y: PyReadonlyArray2<'py, f64>,
    n_threads: usize,
) -> PyResult<Bound<'py, PyAny>> {
    let n_outputs = y.shape()[1];
    let y = y
        .as_slice()
        .map_err(|_| PyValueError::new_err("y must be C-contiguous"))?;
    let (offsets, indices) = (slice(&offsets)?, slice(&indices)?);
    let n_queries = offsets.len().saturating_sub(1);
    let work = indices.len().saturating_mul(n_outputs.max(1));
    let means = py.run_kernel(Threads::for_work(n_threads, work), |stop| {
        neighbors::predict::neighbor_means(offsets, indices, y, n_outputs, stop)
    })?;
    matrix(py, means, n_queries, n_outputs)
}

/// `(n_queries, n_classes)` probabilities of distance-weighted votes (`weights="distance"`
/// as the `weighting` path of scikit-learn computes them), into `out` (C-contiguous float64
/// zeros of that shape, allocated before the search).
#[pyfunction]
#[pyo3(signature = (offsets, indices, distances, labels, n_classes, weighting, n_threads, out))]
#[allow(clippy::too_many_arguments)] // the Python signature
fn neighbor_weighted_class_probabilities<'py>(
    py: Python<'py>,
    offsets: PyReadonlyArray1<'py, i64>,
    indices: PyReadonlyArray1<'py, i64>,
    distances: PyReadonlyArray1<'py, f64>,
    labels: PyReadonlyArray1<'py, i64>,
    n_classes: usize,
    weighting: &str,
    n_threads: usize,
    out: Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let weighting = weighting_arg(weighting)?;
    let (offsets, indices, labels) = (slice(&offsets)?, slice(&indices)?, slice(&labels)?);
    let distances = slice(&distances)?;
    let n_queries = offsets.len().saturating_sub(1);
    let threads = Threads::for_work(n_threads, indices.len().saturating_add(n_queries));
    {
        let mut proba: PyReadwriteArray2<f64> = out.extract()?;
        let proba = probabilities_out(&mut proba, n_queries, n_classes)?;
        py.run_kernel(threads, |stop| {
            neighbors::predict::weighted_class_probabilities_into(
                offsets, indices, distances, labels, n_classes, weighting, proba, stop,
            )
        })?;
    }
    Ok(out)
}

/// `(n_queries,)` int64 class indices of the distance-weighted votes of `kneighbors` lists
/// (scikit-learn's `weighted_mode`).
#[pyfunction]
#[pyo3(signature = (offsets, indices, distances, labels, n_classes, n_threads))]
fn neighbor_weighted_votes<'py>(
    py: Python<'py>,
    offsets: PyReadonlyArray1<'py, i64>,
    indices: PyReadonlyArray1<'py, i64>,
    distances: PyReadonlyArray1<'py, f64>,
    labels: PyReadonlyArray1<'py, i64>,
    n_classes: usize,
    n_threads: usize,
) -> PyResult<Bound<'py, PyAny>> {
    let (offsets, indices, labels) = (slice(&offsets)?, slice(&indices)?, slice(&labels)?);
    let distances = slice(&distances)?;
    let n_queries = offsets.len().saturating_sub(1);
    let threads = Threads::for_work(n_threads, indices.len().saturating_add(n_queries));
    let votes = py.run_kernel(threads, |stop| {
        neighbors::predict::weighted_votes(offsets, indices, distances, labels, n_classes, stop)
    })?;
    Ok(vector(py, votes))
}

/// `(n_queries, n_outputs)` float64 distance-weighted means of the targets `y`
/// (`(n_fit, n_outputs)`, C-contiguous) over each neighbour list, as the `weighting` path of
/// scikit-learn computes them; NaN for an empty list.
#[pyfunction]
#[pyo3(signature = (offsets, indices, distances, y, weighting, n_threads))]
fn neighbor_weighted_means<'py>(
    py: Python<'py>,
    offsets: PyReadonlyArray1<'py, i64>,
    indices: PyReadonlyArray1<'py, i64>,
    distances: PyReadonlyArray1<'py, f64>,
    y: PyReadonlyArray2<'py, f64>,
    weighting: &str,
    n_threads: usize,
) -> PyResult<Bound<'py, PyAny>> {
    let weighting = weighting_arg(weighting)?;
    let n_outputs = y.shape()[1];
    let y = y
        .as_slice()
        .map_err(|_| PyValueError::new_err("y must be C-contiguous"))?;
    let (offsets, indices, distances) = (slice(&offsets)?, slice(&indices)?, slice(&distances)?);
    let n_queries = offsets.len().saturating_sub(1);
    let work = indices.len().saturating_mul(n_outputs.max(1));
    let means = py.run_kernel(Threads::for_work(n_threads, work), |stop| {
        neighbors::predict::weighted_means(
            offsets, indices, distances, y, n_outputs, weighting, stop,
        )
    })?;
    matrix(py, means, n_queries, n_outputs)
}
