//! scikit-learn's fixed-size max-heap push (`sklearn/utils/_heap.pyx`) and its simultaneous
//! sort (`sklearn/utils/_sorting.pyx`, introsort with 2-way partitions), step for step, so that
//! neighbours at exactly equal distances come out in scikit-learn's order.

/// Pushes `(val, idx)` onto the max-heap `values`/`indices` (largest at 0) if `val` is smaller
/// than its largest value; a value equal to the largest is rejected (earlier candidates win).
#[inline]
#[allow(clippy::if_same_then_else)] // scikit-learn's branches, kept as written there
pub fn heap_push<V: PartialOrd + Copy>(values: &mut [V], indices: &mut [i64], val: V, idx: i64) {
    let size = values.len();
    if size == 0 || val >= values[0] {
        return;
    }
    let mut current = 0;
    loop {
        let left = 2 * current + 1;
        let right = left + 1;
        let swap = if left >= size {
            break;
        } else if right >= size {
            if values[left] > val {
                left
            } else {
                break;
            }
        } else if values[left] >= values[right] {
            if val < values[left] {
                left
            } else {
                break;
            }
        } else if val < values[right] {
            right
        } else {
            break;
        };
        values[current] = values[swap];
        indices[current] = indices[swap];
        current = swap;
    }
    values[current] = val;
    indices[current] = idx;
}

/// Empties the heap and pushes its former entries back in array order: what scikit-learn's
/// `parallel_on_Y` strategy does when it merges a thread's heap into the result's.
pub fn repush<V: PartialOrd + Copy>(values: &mut [V], indices: &mut [i64], empty: V) {
    let old: Vec<(V, i64)> = values
        .iter()
        .copied()
        .zip(indices.iter().copied())
        .collect();
    values.fill(empty);
    indices.fill(0);
    for (v, i) in old {
        heap_push(values, indices, v, i);
    }
}

/// Sorts `values` ascending, permuting `indices` alongside (scikit-learn's
/// `simultaneous_sort` without the three-way partition).
pub fn simultaneous_sort<V: PartialOrd + Copy>(values: &mut [V], indices: &mut [i64]) {
    let n = values.len();
    if n == 0 {
        return;
    }
    let maxd = 2 * (n as f64).log2() as isize;
    introsort(values, indices, maxd);
}

fn introsort<V: PartialOrd + Copy>(mut values: &mut [V], mut indices: &mut [i64], mut maxd: isize) {
    while values.len() > 15 {
        let n = values.len();
        if maxd <= 0 {
            heapsort(values, indices);
            return;
        }
        maxd -= 1;
        let pivot = median3(values, indices);
        let (mut i, mut j) = (1usize, n - 2);
        loop {
            while i <= j && values[i] < pivot {
                i += 1;
            }
            while i <= j && values[j] > pivot {
                j -= 1;
            }
            if i >= j {
                break;
            }
            swap(values, indices, i, j);
            i += 1;
            j -= 1;
        }
        swap(values, indices, i, n - 1);
        let (left_v, right_v) = std::mem::take(&mut values).split_at_mut(i);
        let (left_i, right_i) = std::mem::take(&mut indices).split_at_mut(i);
        introsort(left_v, left_i, maxd);
        values = &mut right_v[1..];
        indices = &mut right_i[1..];
    }
    insertion_sort(values, indices);
}

#[inline]
fn swap<V>(values: &mut [V], indices: &mut [i64], i: usize, j: usize) {
    values.swap(i, j);
    indices.swap(i, j);
}

/// Smallest of first, middle and last to the front, the median (returned) to the back.
fn median3<V: PartialOrd + Copy>(values: &mut [V], indices: &mut [i64]) -> V {
    let n = values.len();
    let mid = n / 2;
    if values[0] > values[n - 1] {
        swap(values, indices, 0, n - 1);
    }
    if values[n - 1] > values[mid] {
        swap(values, indices, n - 1, mid);
        if values[0] > values[n - 1] {
            swap(values, indices, 0, n - 1);
        }
    }
    values[n - 1]
}

fn heapsort<V: PartialOrd + Copy>(values: &mut [V], indices: &mut [i64]) {
    let n = values.len();
    let mut start = (n as isize - 2) / 2;
    loop {
        sift_down(values, indices, start.max(0) as usize, n);
        if start <= 0 {
            break;
        }
        start -= 1;
    }
    let mut end = n - 1;
    while end > 0 {
        swap(values, indices, 0, end);
        sift_down(values, indices, 0, end);
        end -= 1;
    }
}

fn sift_down<V: PartialOrd + Copy>(
    values: &mut [V],
    indices: &mut [i64],
    start: usize,
    end: usize,
) {
    let mut root = start;
    loop {
        let child = 2 * root + 1;
        let mut max = root;
        if child < end && values[max] < values[child] {
            max = child;
        }
        if child + 1 < end && values[max] < values[child + 1] {
            max = child + 1;
        }
        if max == root {
            break;
        }
        swap(values, indices, root, max);
        root = max;
    }
}

fn insertion_sort<V: PartialOrd + Copy>(values: &mut [V], indices: &mut [i64]) {
    for i in 1..values.len() {
        let (v, idx) = (values[i], indices[i]);
        let mut j = i;
        while j > 0 && values[j - 1] > v {
            values[j] = values[j - 1];
            indices[j] = indices[j - 1];
            j -= 1;
        }
        values[j] = v;
        indices[j] = idx;
    }
}
