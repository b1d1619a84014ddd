//! Walking operands of any strides (transposed, sliced, expanded, channels-last) in the memory
//! order of the output, as runs of consecutive innermost elements.

/// How to walk `N` same-shaped operands; operand 0 is the output.
pub struct Walk<const N: usize> {
    /// Sizes from the outermost to the innermost dimension of the walk (never empty).
    sizes: Vec<usize>,
    /// Element strides of each operand, in the order of `sizes`.
    strides: [Vec<isize>; N],
}

impl<const N: usize> Walk<N> {
    pub fn new(sizes: &[i64], strides: [&[i64]; N]) -> Self {
        // Size-1 dimensions never move; the rest go outermost-first in the output's memory order.
        let mut dims: Vec<usize> = (0..sizes.len()).filter(|&d| sizes[d] != 1).collect();
        dims.sort_by_key(|&d| std::cmp::Reverse(strides[0][d]));
        let mut walk_sizes: Vec<usize> = Vec::with_capacity(dims.len().max(1));
        let mut walk_strides: [Vec<isize>; N] = std::array::from_fn(|_| Vec::new());
        for d in dims {
            let size = sizes[d] as usize;
            // Merge with the previous (outer) dimension when every operand steps through both as one.
            let mergeable = !walk_sizes.is_empty()
                && (0..N).all(|k| {
                    *walk_strides[k].last().unwrap() == strides[k][d] as isize * size as isize
                });
            if mergeable {
                *walk_sizes.last_mut().unwrap() *= size;
                for k in 0..N {
                    *walk_strides[k].last_mut().unwrap() = strides[k][d] as isize;
                }
            } else {
                walk_sizes.push(size);
                for k in 0..N {
                    walk_strides[k].push(strides[k][d] as isize);
                }
            }
        }
        if walk_sizes.is_empty() {
            // A single element (0-dim or all sizes 1).
            walk_sizes.push(1);
            for stride in &mut walk_strides {
                stride.push(1);
            }
        }
        Walk {
            sizes: walk_sizes,
            strides: walk_strides,
        }
    }

    pub fn numel(&self) -> usize {
        self.sizes.iter().product()
    }

    /// Strides of the innermost dimension.
    pub fn inner_strides(&self) -> [isize; N] {
        std::array::from_fn(|k| *self.strides[k].last().unwrap())
    }

    /// Calls `run(offsets, len)` for each run of consecutive innermost elements among walk
    /// positions `start..end`; `offsets` are each operand's element offset of the run's start.
    pub fn for_each_run(&self, start: usize, end: usize, mut run: impl FnMut([isize; N], usize)) {
        let ndim = self.sizes.len();
        let inner = self.sizes[ndim - 1];
        let mut index = vec![0usize; ndim];
        let mut rest = start;
        for d in (0..ndim).rev() {
            index[d] = rest % self.sizes[d];
            rest /= self.sizes[d];
        }
        let mut position = start;
        while position < end {
            let offsets: [isize; N] = std::array::from_fn(|k| {
                index
                    .iter()
                    .zip(&self.strides[k])
                    .map(|(&i, &s)| i as isize * s)
                    .sum()
            });
            let len = (inner - index[ndim - 1]).min(end - position);
            run(offsets, len);
            position += len;
            index[ndim - 1] += len;
            let mut d = ndim - 1;
            while d > 0 && index[d] == self.sizes[d] {
                index[d] = 0;
                d -= 1;
                index[d] += 1;
            }
        }
    }
}
