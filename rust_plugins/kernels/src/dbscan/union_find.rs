//! A union-find that several threads update at once.
//!
//! Every set's root is its smallest member: a union always hangs the larger root under the
//! smaller one. The final partition (and so every root) does not depend on the order in which
//! threads perform unions, which keeps DBSCAN's labels independent of the thread count.

use std::sync::atomic::{AtomicUsize, Ordering};

pub struct ConcurrentUnionFind {
    parent: Vec<AtomicUsize>,
}

impl ConcurrentUnionFind {
    /// `n` singleton sets; `None` when the parents cannot be allocated.
    pub fn new(n: usize) -> Option<Self> {
        let mut parent = Vec::new();
        parent.try_reserve_exact(n).ok()?;
        parent.extend((0..n).map(AtomicUsize::new));
        Some(Self { parent })
    }

    /// The root of `x`'s set, halving the path on the way (a benign race: any parent written
    /// is an ancestor, so concurrent finds stay correct).
    pub fn find(&self, mut x: usize) -> usize {
        loop {
            let p = self.parent[x].load(Ordering::Acquire);
            if p == x {
                return x;
            }
            let grandparent = self.parent[p].load(Ordering::Acquire);
            if grandparent != p {
                let _ = self.parent[x].compare_exchange_weak(
                    p,
                    grandparent,
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                );
            }
            x = p;
        }
    }

    pub fn same_set(&self, a: usize, b: usize) -> bool {
        self.find(a) == self.find(b)
    }

    /// Joins the sets of `a` and `b`.
    pub fn union(&self, a: usize, b: usize) {
        loop {
            let (ra, rb) = (self.find(a), self.find(b));
            if ra == rb {
                return;
            }
            let (small, large) = if ra < rb { (ra, rb) } else { (rb, ra) };
            // Only a root may be relinked; if `large` stopped being one meanwhile, retry.
            if self.parent[large]
                .compare_exchange(large, small, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rayon::prelude::*;

    #[test]
    fn roots_are_smallest_members_whatever_the_union_order() {
        let uf = ConcurrentUnionFind::new(10).unwrap();
        for (a, b) in [(9, 7), (7, 3), (5, 6), (6, 8)] {
            uf.union(a, b);
        }
        assert_eq!(uf.find(9), 3);
        assert_eq!(uf.find(8), 5);
        assert!(!uf.same_set(3, 5));
        assert_eq!(uf.find(0), 0);
    }

    #[test]
    fn concurrent_unions_give_the_serial_partition() {
        let n = 20_000;
        let uf = ConcurrentUnionFind::new(n).unwrap();
        // Join i with i + 7 when i % 3 != 0: the same edges from many threads.
        (0..n - 7)
            .into_par_iter()
            .filter(|i| i % 3 != 0)
            .for_each(|i| uf.union(i + 7, i));
        let serial = ConcurrentUnionFind::new(n).unwrap();
        (0..n - 7)
            .filter(|i| i % 3 != 0)
            .for_each(|i| serial.union(i, i + 7));
        for i in 0..n {
            assert_eq!(uf.find(i), serial.find(i));
        }
    }
}
