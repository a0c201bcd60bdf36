//! Exact class split: which user class the n-th virtual user belongs to, so that at every
//! count the split is as near the declared weights as integers allow (1000 users at 80/15/4/1
//! is exactly 800/150/40/10), never a random draw.

/// Assigns users to classes one at a time, keeping each class within one user of its quota.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassSplit {
    weights: Vec<u64>,
    total_weight: u64,
    counts: Vec<u64>,
    /// A shard's users, per class, by their number in the whole run (`ShardPlan`): the next
    /// user started is the one the whole run would start first, the next stopped the one it
    /// started last, so the shard's split at any size is its slice of the whole run's.
    order: Option<Vec<Vec<u64>>>,
}

impl ClassSplit {
    /// `weights` must not be empty and at least one must be positive; a class of weight 0 (a
    /// removed script) never gets a user.
    pub fn new(weights: &[u32]) -> Self {
        assert!(weights.iter().any(|w| *w > 0), "a positive weight");
        let weights: Vec<u64> = weights.iter().map(|w| u64::from(*w)).collect();
        let total_weight = weights.iter().sum();
        Self {
            counts: vec![0; weights.len()],
            weights,
            total_weight,
            order: None,
        }
    }

    /// A shard's split: its users of each class start in the whole run's order (`order[c]`
    /// holds the whole run's numbers of the shard's users of class c, ascending); past them,
    /// `weights` decide as usual.
    pub fn following(weights: &[u32], order: Vec<Vec<u64>>) -> Self {
        Self {
            order: Some(order),
            ..Self::new(weights)
        }
    }

    /// The class whose next user the whole run starts first, while the order has one.
    fn next_in_order(&self) -> Option<usize> {
        let order = self.order.as_ref()?;
        (0..self.counts.len())
            .filter_map(|c| {
                let k = usize::try_from(self.counts[c]).ok()?;
                order.get(c)?.get(k).map(|vu| (*vu, c))
            })
            .min()
            .map(|(_, c)| c)
    }

    /// The class of the user the whole run started last, among those running.
    fn last_in_order(&self) -> Option<usize> {
        let order = self.order.as_ref()?;
        (0..self.counts.len())
            .filter_map(|c| {
                let k = usize::try_from(self.counts[c].checked_sub(1)?).ok()?;
                order.get(c)?.get(k).map(|vu| (*vu, c))
            })
            .max()
            .map(|(_, c)| c)
    }

    /// New weights (a reload): the same classes first, maybe more after them. The users stay
    /// where they are; [`ClassSplit::rebalance`] then moves them one at a time.
    pub fn set_weights(&mut self, weights: &[u32]) {
        assert!(
            weights.len() >= self.counts.len() && weights.iter().any(|w| *w > 0),
            "classes are only added, and one has a positive weight"
        );
        self.weights = weights.iter().map(|w| u64::from(*w)).collect();
        self.total_weight = self.weights.iter().sum();
        self.counts.resize(weights.len(), 0);
    }

    /// One user to move after a change of weights: from the class furthest above its quota to
    /// the one furthest below, while one is a whole user off. `None` once the split is as near
    /// the weights as integers allow.
    pub fn rebalance(&mut self) -> Option<(usize, usize)> {
        let n = self.total();
        let w = i128::from(self.total_weight);
        let classes = 0..self.weights.len();
        let from = classes
            .clone()
            .filter(|&i| self.counts[i] > 0)
            .min_by_key(|&i| (self.deficit(i, n), self.weights[i]))?;
        let to = classes.max_by_key(|&i| (self.deficit(i, n), self.weights[i]))?;
        let (over, under) = (self.deficit(from, n), self.deficit(to, n));
        if from == to || self.weights[to] == 0 || (over > -w && under < w) {
            return None;
        }
        self.counts[from] -= 1;
        self.counts[to] += 1;
        Some((from, to))
    }

    pub fn counts(&self) -> &[u64] {
        &self.counts
    }

    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Deficit of class `i` once the total is `n`, scaled by the total weight to stay integral:
    /// `w_i * n - c_i * W`.
    fn deficit(&self, i: usize, n: u64) -> i128 {
        i128::from(self.weights[i]) * i128::from(n)
            - i128::from(self.counts[i]) * i128::from(self.total_weight)
    }

    /// The class of the next user started: the one furthest below its quota (ties go to the
    /// heavier class, then the first).
    pub fn add(&mut self) -> usize {
        if let Some(c) = self.next_in_order() {
            self.counts[c] += 1;
            return c;
        }
        let n = self.total() + 1;
        let i = (0..self.weights.len())
            .filter(|&i| self.weights[i] > 0)
            .max_by_key(|&i| (self.deficit(i, n), self.weights[i], std::cmp::Reverse(i)))
            .expect("at least one class");
        self.counts[i] += 1;
        i
    }

    /// Takes back a user [`ClassSplit::add`] assigned but that could not run (no pool id, or it
    /// ended by itself): the next `add` assigns it again.
    pub fn undo(&mut self, class: usize) {
        self.counts[class] = self.counts[class].saturating_sub(1);
    }

    /// Counts a user back into `class` (undoes a move's other half).
    pub fn redo(&mut self, class: usize) {
        self.counts[class] += 1;
    }

    /// The class of the next user stopped: the one furthest above its quota.
    pub fn remove(&mut self) -> Option<usize> {
        if let Some(c) = self.last_in_order() {
            self.counts[c] -= 1;
            return Some(c);
        }
        let n = self.total().checked_sub(1)?;
        let i = (0..self.weights.len())
            .filter(|&i| self.counts[i] > 0)
            .min_by_key(|&i| (self.deficit(i, n), self.weights[i], std::cmp::Reverse(i)))?;
        self.counts[i] -= 1;
        Some(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn within_one_of_quota(s: &ClassSplit) -> bool {
        let n = s.total() as f64;
        let w = s.total_weight as f64;
        s.counts
            .iter()
            .zip(&s.weights)
            .all(|(c, wi)| (*c as f64 - n * *wi as f64 / w).abs() < 1.0)
    }

    #[test]
    fn exact_at_whole_quotas_and_near_everywhere_on_the_way_up_and_down() {
        let mut s = ClassSplit::new(&[80, 15, 4, 1]);
        for n in 1..=2000u64 {
            s.add();
            assert!(within_one_of_quota(&s), "at {n}: {:?}", s.counts);
            if n == 200 {
                assert_eq!(s.counts, [160, 30, 8, 2]);
            }
            if n == 1000 {
                assert_eq!(s.counts, [800, 150, 40, 10]);
            }
        }
        for n in (0..2000u64).rev() {
            s.remove().unwrap();
            assert!(within_one_of_quota(&s), "down at {n}: {:?}", s.counts);
            if n == 200 {
                assert_eq!(s.counts, [160, 30, 8, 2]);
            }
        }
        assert_eq!(s.remove(), None);
    }

    #[test]
    fn rebalancing_after_new_weights_reaches_the_exact_split() {
        let mut s = ClassSplit::new(&[80, 15, 4, 1]);
        for _ in 0..200 {
            s.add();
        }
        assert_eq!(s.rebalance(), None, "nothing to move when the weights hold");
        // The guest weight drops, a fifth class appears, the admin class is removed.
        s.set_weights(&[40, 15, 4, 0, 41]);
        let mut moves = 0;
        while s.rebalance().is_some() {
            moves += 1;
            assert_eq!(s.total(), 200);
        }
        assert!(within_one_of_quota(&s), "{:?}", s.counts);
        assert_eq!(s.counts[3], 0, "a removed class keeps no user");
        assert_eq!(moves, 2 + 80, "admins out, guests over to the new class");
        // Adding from here keeps to the new weights.
        for _ in 0..100 {
            s.add();
            assert!(within_one_of_quota(&s), "{:?}", s.counts);
            assert_eq!(s.counts[3], 0);
        }
    }

    #[test]
    fn odd_weights_stay_within_one() {
        let mut s = ClassSplit::new(&[3, 7, 1, 13, 2]);
        for _ in 0..500 {
            s.add();
            assert!(within_one_of_quota(&s), "{:?}", s.counts);
        }
    }
}
