//! libstdc++'s `std::nth_element` (introselect: median-of-three quickselect, heap select when
//! the depth limit runs out, insertion sort of the last few), step for step. scikit-learn's
//! k-d tree splits its nodes with it (`_partition_nodes.pyx`, built against libstdc++), and the
//! order it leaves inside a leaf is the order the leaf's samples are scanned in, which decides
//! between neighbours at exactly equal distances.

/// Rearranges `v` so that `v[nth]` is the element a full sort by `less` would put there, with
/// nothing after it less than it and nothing before it greater.
pub fn nth_element<T: Copy>(v: &mut [T], nth: usize, less: &impl Fn(&T, &T) -> bool) {
    let n = v.len();
    if n == 0 || nth >= n {
        return;
    }
    let depth_limit = 2 * n.ilog2() as usize;
    introselect(v, nth, depth_limit, less);
}

fn introselect<T: Copy>(
    v: &mut [T],
    nth: usize,
    mut depth_limit: usize,
    less: &impl Fn(&T, &T) -> bool,
) {
    let (mut first, mut last) = (0usize, v.len());
    while last - first > 3 {
        if depth_limit == 0 {
            heap_select(&mut v[first..last], nth + 1 - first, less);
            v.swap(first, nth);
            return;
        }
        depth_limit -= 1;
        let cut = first + partition_pivot(&mut v[first..last], less);
        if cut <= nth {
            first = cut;
        } else {
            last = cut;
        }
    }
    insertion_sort(&mut v[first..last], less);
}

/// `__unguarded_partition_pivot`: median of (second, middle, last) moved to the front, then
/// Hoare's partition around it; returns the cut.
fn partition_pivot<T: Copy>(v: &mut [T], less: &impl Fn(&T, &T) -> bool) -> usize {
    let n = v.len();
    let mid = n / 2;
    move_median_to_first(v, 0, 1, mid, n - 1, less);
    let pivot = v[0];
    let (mut first, mut last) = (1usize, n);
    loop {
        while less(&v[first], &pivot) {
            first += 1;
        }
        last -= 1;
        while less(&pivot, &v[last]) {
            last -= 1;
        }
        if first >= last {
            return first;
        }
        v.swap(first, last);
        first += 1;
    }
}

fn move_median_to_first<T: Copy>(
    v: &mut [T],
    result: usize,
    a: usize,
    b: usize,
    c: usize,
    less: &impl Fn(&T, &T) -> bool,
) {
    let pick = if less(&v[a], &v[b]) {
        if less(&v[b], &v[c]) {
            b
        } else if less(&v[a], &v[c]) {
            c
        } else {
            a
        }
    } else if less(&v[a], &v[c]) {
        a
    } else if less(&v[b], &v[c]) {
        c
    } else {
        b
    };
    v.swap(result, pick);
}

fn insertion_sort<T: Copy>(v: &mut [T], less: &impl Fn(&T, &T) -> bool) {
    for i in 1..v.len() {
        let val = v[i];
        if less(&val, &v[0]) {
            v.copy_within(0..i, 1);
            v[0] = val;
        } else {
            let mut j = i;
            while less(&val, &v[j - 1]) {
                v[j] = v[j - 1];
                j -= 1;
            }
            v[j] = val;
        }
    }
}

/// `__heap_select`: a max-heap of the first `middle` elements, every later element less than
/// its top swapped in.
fn heap_select<T: Copy>(v: &mut [T], middle: usize, less: &impl Fn(&T, &T) -> bool) {
    make_heap(&mut v[..middle], less);
    for i in middle..v.len() {
        if less(&v[i], &v[0]) {
            // __pop_heap(first, middle, i)
            let value = v[i];
            v[i] = v[0];
            adjust_heap(&mut v[..middle], 0, value, less);
        }
    }
}

fn make_heap<T: Copy>(v: &mut [T], less: &impl Fn(&T, &T) -> bool) {
    let len = v.len();
    if len < 2 {
        return;
    }
    let mut parent = (len - 2) / 2;
    loop {
        let value = v[parent];
        adjust_heap(v, parent, value, less);
        if parent == 0 {
            return;
        }
        parent -= 1;
    }
}

fn adjust_heap<T: Copy>(v: &mut [T], mut hole: usize, value: T, less: &impl Fn(&T, &T) -> bool) {
    let len = v.len();
    let top = hole;
    let mut child = hole;
    while len >= 2 && child < (len - 1) / 2 {
        child = 2 * (child + 1);
        if less(&v[child], &v[child - 1]) {
            child -= 1;
        }
        v[hole] = v[child];
        hole = child;
    }
    if len.is_multiple_of(2) && len >= 2 && child == (len - 2) / 2 {
        child = 2 * (child + 1);
        v[hole] = v[child - 1];
        hole = child - 1;
    }
    // __push_heap(first, hole, top, value)
    while hole > top {
        let parent = (hole - 1) / 2;
        if !less(&v[parent], &value) {
            break;
        }
        v[hole] = v[parent];
        hole = parent;
    }
    v[hole] = value;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selects_the_nth_of_a_total_order() {
        let mut seed = 12345u64;
        for n in [1usize, 2, 3, 4, 5, 17, 100, 1000] {
            for nth in [0, n / 2, n - 1] {
                let mut v: Vec<u64> = (0..n)
                    .map(|_| {
                        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
                        (seed >> 33) % 50
                    })
                    .collect();
                let mut sorted = v.clone();
                sorted.sort();
                nth_element(&mut v, nth, &|a: &u64, b: &u64| a < b);
                assert_eq!(v[nth], sorted[nth]);
                assert!(v[..nth].iter().all(|x| *x <= v[nth]));
                assert!(v[nth..].iter().all(|x| *x >= v[nth]));
            }
        }
    }

    #[test]
    fn heap_select_path_selects_too() {
        let mut v: Vec<u32> = (0..200).rev().collect();
        heap_select(&mut v, 10, &|a: &u32, b: &u32| a < b);
        let mut head = v[..10].to_vec();
        head.sort();
        assert_eq!(head, (0..10).collect::<Vec<_>>());
    }
}
