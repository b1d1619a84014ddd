//! Walking operands of any strides (transposed, sliced, expanded, channels-last) in the memory
//! order of the output, as runs of consecutive innermost elements.

/// How to walk an output and `N` inputs of the same shape.
pub struct Walk<const N: usize> {
    /// Sizes from the outermost to the innermost dimension of the walk (never empty).
    sizes: Vec<usize>,
    /// Element strides of the output, in the order of `sizes`.
    out: Vec<isize>,
    /// Element strides of each input, in the order of `sizes`.
    inputs: [Vec<isize>; N],
}

/// Element offsets of one position in the output and in each input.
#[derive(Clone, Copy)]
pub struct Offsets<const N: usize> {
    pub out: isize,
    pub inputs: [isize; N],
}

impl<const N: usize> Walk<N> {
    pub fn new(sizes: &[i64], out: &[i64], inputs: [&[i64]; N]) -> Self {
        // Size-1 dimensions never move; the rest go outermost-first in the output's memory order.
        let mut dims: Vec<usize> = (0..sizes.len()).filter(|&d| sizes[d] != 1).collect();
        dims.sort_by_key(|&d| std::cmp::Reverse(out[d]));
        let mut walk = Walk {
            sizes: Vec::with_capacity(dims.len().max(1)),
            out: Vec::new(),
            inputs: std::array::from_fn(|_| Vec::new()),
        };
        for d in dims {
            let size = sizes[d] as usize;
            let stride = |operand: &[i64]| operand[d] as isize;
            // Merge with the previous (outer) dimension when every operand steps through both
            // as one.
            let continues = |walked: &[isize], operand: &[i64]| {
                *walked.last().unwrap() == stride(operand) * size as isize
            };
            let mergeable = !walk.sizes.is_empty()
                && continues(&walk.out, out)
                && (0..N).all(|k| continues(&walk.inputs[k], inputs[k]));
            if mergeable {
                *walk.sizes.last_mut().unwrap() *= size;
                *walk.out.last_mut().unwrap() = stride(out);
                for (walked, operand) in walk.inputs.iter_mut().zip(inputs) {
                    *walked.last_mut().unwrap() = stride(operand);
                }
            } else {
                walk.sizes.push(size);
                walk.out.push(stride(out));
                for (walked, operand) in walk.inputs.iter_mut().zip(inputs) {
                    walked.push(stride(operand));
                }
            }
        }
        if walk.sizes.is_empty() {
            // A single element (0-dim or all sizes 1).
            walk.sizes.push(1);
            walk.out.push(1);
            for stride in &mut walk.inputs {
                stride.push(1);
            }
        }
        walk
    }

    pub fn numel(&self) -> usize {
        self.sizes.iter().product()
    }

    /// Strides of the innermost dimension.
    pub fn inner_strides(&self) -> Offsets<N> {
        Offsets {
            out: *self.out.last().unwrap(),
            inputs: std::array::from_fn(|k| *self.inputs[k].last().unwrap()),
        }
    }

    /// Calls `run(offsets, len)` for each run of consecutive innermost elements among walk
    /// positions `start..end`; `offsets` are the element offsets of the run's start.
    pub fn for_each_run(&self, start: usize, end: usize, mut run: impl FnMut(Offsets<N>, usize)) {
        let ndim = self.sizes.len();
        let inner = self.sizes[ndim - 1];
        let mut index = vec![0usize; ndim];
        let mut rest = start;
        for d in (0..ndim).rev() {
            index[d] = rest % self.sizes[d];
            rest /= self.sizes[d];
        }
        let offset = |index: &[usize], strides: &[isize]| -> isize {
            index
                .iter()
                .zip(strides)
                .map(|(&i, &s)| i as isize * s)
                .sum()
        };
        let mut position = start;
        while position < end {
            let offsets = Offsets {
                out: offset(&index, &self.out),
                inputs: std::array::from_fn(|k| offset(&index, &self.inputs[k])),
            };
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
