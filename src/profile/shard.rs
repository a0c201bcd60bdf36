//! One shard's slice of a test (`--shard i/n`): disjoint, and together exactly the whole.
//!
//! - **Users.** The whole test's users are numbered per class, as one run numbers them (the
//!   g-th user of a class is seeded by the run's seed, the class and g, so it behaves the same
//!   in whichever process runs it). Shard s (0-based) takes, of every class, the users whose
//!   number is `p (mod n)`, where the position p rotates by the classes' remainders so the
//!   shards' totals stay within one of each other. At every stage the shards' users of a class
//!   add up to the whole run's exactly (1,000 users at 80/15/4/1 over 3 shards are still
//!   800/150/40/10), and each user has the whole run's number (`vu()`) and seed.
//! - **Rates.** Spawn rates, arrival rates and the open model's pool are divided by n.
//! - **Pools.** A shard's users take the ids of their tier's pool whose index is `s (mod n)`.
//! - **Update ids** come from the shard's n-th of the range (`telegram::UpdateIds::shard`).

use super::{ArrivalPlan, ClassSplit, Profile, RateStage, Stage};
use crate::telegram::{Tier, TierPools};

/// `--shard index/count`: shard `index` (1-based) of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    /// Parses `i/n` with 1 ≤ i ≤ n; the error says what is wrong.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (i, n) = text
            .split_once('/')
            .ok_or_else(|| format!("`{text}` is not i/n (shard i of n, e.g. 2/3)"))?;
        let number = |s: &str| {
            s.trim()
                .parse::<u32>()
                .map_err(|_| format!("`{s}` in `{text}` is not a whole number"))
        };
        let (index, count) = (number(i)?, number(n)?);
        if count == 0 || index == 0 || index > count {
            return Err(format!(
                "`{text}`: the shard is 1 to n, and n at least 1 (e.g. 1/3, 2/3, 3/3)"
            ));
        }
        if count > MAX_SHARDS {
            return Err(format!("`{text}`: at most {MAX_SHARDS} shards"));
        }
        Ok(Self { index, count })
    }

    /// The 0-based position of this shard.
    pub fn zero_based(self) -> u32 {
        self.index - 1
    }
}

/// The most shards a test may have: each keeps a 1/n of the update-id range (over 200,000
/// ids at this count) and of every pool.
pub const MAX_SHARDS: u32 = 10_000;

/// Users of each class at `users`, as the whole run's exact split gives them.
pub fn class_counts(weights: &[u32], users: u32) -> Vec<u64> {
    let mut split = ClassSplit::new(weights);
    for _ in 0..users {
        split.add();
    }
    split.counts().to_vec()
}

/// The numbers below `total` that are `position (mod n)`.
fn taken(total: u64, position: u64, n: u64) -> u64 {
    if total > position {
        (total - position).div_ceil(n)
    } else {
        0
    }
}

/// What one shard runs of a test.
#[derive(Debug, Clone, PartialEq)]
pub struct ShardPlan {
    pub shard: Shard,
    /// The shard's profile: every stage with its users, rates divided.
    pub profile: Profile,
    /// Class weights for the shard's split: its users of each class at the peak (the declared
    /// weights when it has none).
    pub weights: Vec<u32>,
    /// Per class, the shard's position among the class's user numbers (mod n).
    positions: Vec<u64>,
    /// Per class, the whole run's user number (`vu`) of the shard's k-th user of the class,
    /// for the users of the peak.
    vus: Vec<Vec<u64>>,
    /// Users of the whole test at its peak (numbers past them are the shard's own).
    peak: u64,
}

impl ShardPlan {
    /// The slice of `profile` (the whole test's) that `shard` runs, for classes of these
    /// declared `weights`; an error when the shard would have no user.
    pub fn new(shard: Shard, profile: &Profile, weights: &[u32]) -> Result<Self, String> {
        let n = u64::from(shard.count);
        let s = u64::from(shard.zero_based());
        let peak = profile.peak_users();
        if u64::from(peak) < n {
            return Err(format!(
                "the test has {peak} users at its peak, fewer than its {n} shards: each shard \
                 needs at least one"
            ));
        }
        let at_peak = class_counts(weights, peak);
        // The classes' remainders go to the shards in turn, so no shard gets all of them.
        let mut offset = 0u64;
        let positions: Vec<u64> = at_peak
            .iter()
            .map(|c| {
                let p = (s + n - offset % n) % n;
                offset += c % n;
                p
            })
            .collect();
        let mine = |counts: &[u64]| -> Vec<u64> {
            counts
                .iter()
                .zip(&positions)
                .map(|(c, p)| taken(*c, *p, n))
                .collect()
        };
        let slice = |users: u32| -> u32 {
            let total: u64 = mine(&class_counts(weights, users)).iter().sum();
            u32::try_from(total).expect("a slice of a u32")
        };
        let peak_counts = mine(&at_peak);
        let weights_here: Vec<u32> = if peak_counts.iter().any(|c| *c > 0) {
            peak_counts.iter().map(|c| *c as u32).collect()
        } else {
            weights.to_vec()
        };
        let divide = |rate: f64| rate / n as f64;
        let stages = profile
            .stages
            .iter()
            .map(|st| Stage {
                users: slice(st.users),
                spawn_rate: divide(st.spawn_rate),
                duration: st.duration,
            })
            .collect();
        let arrivals = profile.arrivals.as_ref().map(|plan| ArrivalPlan {
            stages: plan
                .stages
                .iter()
                .map(|r| RateStage {
                    rate: divide(r.rate),
                    duration: r.duration,
                })
                .collect(),
            max_users: plan.max_users.map(slice),
        });
        // The whole run's user numbers: the n-th user it starts is `vu` n.
        let mut vus: Vec<Vec<u64>> = vec![Vec::new(); weights.len()];
        let mut split = ClassSplit::new(weights);
        for vu in 0..u64::from(peak) {
            let class = split.add();
            let g = split.counts()[class] - 1;
            if g % n == positions[class] {
                vus[class].push(vu);
            }
        }
        Ok(Self {
            shard,
            profile: Profile {
                name: profile.name.clone(),
                stages,
                thresholds: profile.thresholds.clone(),
                arrivals,
                // Every shard has the same fault windows, each against its slice of the load,
                // and its share of the bot's overall flood limit (chats are not shared, so
                // their limits stay whole).
                chaos: {
                    let mut chaos = profile.chaos.clone();
                    chaos.flood.global /= n as f64;
                    chaos.flood.global_burst = (chaos.flood.global_burst / n as f64).max(1.0);
                    chaos
                },
            },
            weights: weights_here,
            positions,
            vus,
            peak: u64::from(peak),
        })
    }

    /// The shard's split: its users start in the whole run's order, so at any size its users
    /// of each class are its slice of the whole run's exact split.
    pub fn split(&self) -> ClassSplit {
        ClassSplit::following(&self.weights, self.vus.clone())
    }

    /// The whole run's number within its class of the shard's `k`-th user of `class` (seeds
    /// its randomness).
    pub fn user_in_class(&self, class: usize, k: u64) -> u64 {
        let p = self.positions.get(class).copied().unwrap_or(0);
        k * u64::from(self.shard.count) + p
    }

    /// The user number (`vu`) of the shard's `k`-th user of `class`, its `local`-th start: the
    /// whole run's number for the users of the peak; past them, numbers of the shard's own
    /// (disjoint from the other shards').
    pub fn vu(&self, class: usize, k: u64, local: u64) -> u64 {
        match self.vus.get(class).and_then(|v| v.get(k as usize)) {
            Some(vu) => *vu,
            None => {
                self.peak + local * u64::from(self.shard.count) + u64::from(self.shard.zero_based())
            }
        }
    }

    /// The index in its tier's pool of the shard's `slot`-th id.
    pub fn pool_index(&self, slot: u64) -> u64 {
        slot * u64::from(self.shard.count) + u64::from(self.shard.zero_based())
    }

    /// How many of a pool's `capacity` ids the shard has.
    pub fn pool_capacity(&self, capacity: u64) -> u64 {
        taken(
            capacity,
            u64::from(self.shard.zero_based()),
            u64::from(self.shard.count),
        )
    }
}

/// A digest of what makes a test, equal for every shard of it: the class scripts' names and
/// sources, the profile's normal form, the settings that change what users do and the pools
/// their ids come from. Two FNV-1a hashes of different seeds, as 32 hex digits (an identity,
/// not a security measure).
pub fn test_digest(
    sources: &[(&str, &str)],
    profile: &Profile,
    iterations: Option<u64>,
    wait: Option<&str>,
    pools: &TierPools,
) -> String {
    let mut sources = sources.to_vec();
    sources.sort_unstable();
    let mut text = String::new();
    for (name, source) in sources {
        text.push_str(name);
        text.push('\0');
        text.push_str(source);
        text.push('\0');
    }
    text.push_str(&format!(
        "{:?}|{:?}|{:?}|{:?}|{iterations:?}|{wait:?}|{:?}",
        profile.stages,
        profile.arrivals,
        profile.thresholds,
        profile.chaos,
        Tier::ALL.map(|t| pools.range(t))
    ));
    let fnv = |seed: u64| {
        text.bytes().fold(seed, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        })
    };
    format!(
        "{:016x}{:016x}",
        fnv(0xcbf2_9ce4_8422_2325),
        fnv(0x8422_2325_cbf2_9ce4)
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn stage(users: u32, spawn_rate: f64, secs: u64) -> Stage {
        Stage {
            users,
            spawn_rate,
            duration: Duration::from_secs(secs),
        }
    }

    fn profile(stages: Vec<Stage>) -> Profile {
        Profile {
            name: "t".into(),
            stages,
            thresholds: Vec::new(),
            arrivals: None,
            chaos: Default::default(),
        }
    }

    fn plans(p: &Profile, weights: &[u32], n: u32) -> Vec<ShardPlan> {
        (1..=n)
            .map(|index| ShardPlan::new(Shard { index, count: n }, p, weights).unwrap())
            .collect()
    }

    #[test]
    fn shards_add_up_to_the_exact_split_at_every_stage() {
        let p = profile(vec![
            stage(1000, 30.0, 60),
            stage(400, 30.0, 60),
            stage(7, 1.0, 9),
        ]);
        let weights = [80, 15, 4, 1];
        let shards = plans(&p, &weights, 3);
        for (i, st) in p.stages.iter().enumerate() {
            let sum: u32 = shards.iter().map(|s| s.profile.stages[i].users).sum();
            assert_eq!(sum, st.users, "stage {i}");
        }
        let mut per_class = [0u64; 4];
        for s in &shards {
            for (c, w) in s.weights.iter().enumerate() {
                per_class[c] += u64::from(*w);
            }
            assert!((s.profile.stages[0].spawn_rate - 10.0).abs() < 1e-9);
            let users = s.profile.stages[0].users;
            assert!((333..=334).contains(&users), "{users}");
        }
        assert_eq!(per_class, [800, 150, 40, 10]);
    }

    #[test]
    fn the_shards_classes_add_up_to_the_whole_runs_at_every_size() {
        let weights = [80, 15, 4, 1];
        let sizes = [10u32, 25, 26, 100, 333, 1000, 400, 7];
        let p = profile(sizes.iter().map(|u| stage(*u, 30.0, 60)).collect());
        let shards = plans(&p, &weights, 3);
        let mut splits: Vec<ClassSplit> = shards.iter().map(ShardPlan::split).collect();
        for (i, users) in sizes.iter().enumerate() {
            for (s, split) in shards.iter().zip(&mut splits) {
                let want = u64::from(s.profile.stages[i].users);
                while split.total() < want {
                    split.add();
                }
                while split.total() > want {
                    split.remove();
                }
            }
            let mut sum = [0u64; 4];
            for split in &splits {
                for (c, n) in split.counts().iter().enumerate() {
                    sum[c] += n;
                }
            }
            assert_eq!(
                sum.to_vec(),
                class_counts(&weights, *users),
                "{users} users"
            );
        }
    }

    #[test]
    fn every_user_number_vu_and_pool_index_is_in_exactly_one_shard() {
        let p = profile(vec![stage(1000, 30.0, 60)]);
        let weights = [80, 15, 4, 1];
        let shards = plans(&p, &weights, 7);
        let mut numbers = std::collections::BTreeSet::new();
        let mut vus = std::collections::BTreeSet::new();
        for s in &shards {
            for (class, w) in s.weights.iter().enumerate() {
                for k in 0..u64::from(*w) {
                    assert!(numbers.insert((class, s.user_in_class(class, k))));
                    assert!(vus.insert(s.vu(class, k, 0)));
                }
            }
        }
        // The whole run's users: every class's numbers below its count, every vu below 1000.
        let whole = class_counts(&weights, 1000);
        let expected: std::collections::BTreeSet<(usize, u64)> = whole
            .iter()
            .enumerate()
            .flat_map(|(c, n)| (0..*n).map(move |g| (c, g)))
            .collect();
        assert_eq!(numbers, expected);
        assert_eq!(vus, (0..1000).collect());
        let mut pool = std::collections::BTreeSet::new();
        for s in &shards {
            for slot in 0..s.pool_capacity(100) {
                assert!(pool.insert(s.pool_index(slot)));
            }
        }
        assert_eq!(pool, (0..100).collect());
    }

    #[test]
    fn the_open_models_rates_and_pool_are_divided() {
        let mut p = profile(vec![stage(10, 20.0, 60)]);
        p.arrivals = Some(ArrivalPlan {
            stages: vec![RateStage {
                rate: 30.0,
                duration: Duration::from_secs(59),
            }],
            max_users: Some(10),
        });
        let shards = plans(&p, &[80, 15, 4, 1], 3);
        let mut pool = 0;
        for s in &shards {
            let plan = s.profile.arrivals.as_ref().unwrap();
            assert!((plan.stages[0].rate - 10.0).abs() < 1e-9);
            pool += plan.max_users.unwrap();
        }
        assert_eq!(pool, 10);
    }

    #[test]
    fn bad_shards_and_too_few_users_are_refused() {
        assert_eq!(Shard::parse("2/3"), Ok(Shard { index: 2, count: 3 }));
        for bad in ["0/3", "4/3", "1/0", "x/3", "3", "1/20000"] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
        let p = profile(vec![stage(2, 1.0, 5)]);
        let e = ShardPlan::new(Shard { index: 1, count: 3 }, &p, &[1]).unwrap_err();
        assert!(e.contains("fewer than its 3 shards"), "{e}");
    }

    #[test]
    fn the_digest_follows_the_sources_and_the_profile() {
        let p = profile(vec![stage(10, 1.0, 5)]);
        let pools = TierPools::default();
        let digest = |files: &[(&str, &str)], iterations, pools: &TierPools| {
            test_digest(files, &p, Some(iterations), None, pools)
        };
        let a = digest(&[("a.rhai", "x"), ("b.rhai", "y")], 3, &pools);
        let b = digest(&[("b.rhai", "y"), ("a.rhai", "x")], 3, &pools);
        assert_eq!(a, b, "the order of the files does not matter");
        assert_eq!(a.len(), 32);
        assert_ne!(a, digest(&[("a.rhai", "x!"), ("b.rhai", "y")], 3, &pools));
        assert_ne!(a, digest(&[("a.rhai", "x"), ("b.rhai", "y")], 4, &pools));
        let other = TierPools::with_overrides(&["guest=1000..2000"]).unwrap();
        assert_ne!(a, digest(&[("a.rhai", "x"), ("b.rhai", "y")], 3, &other));
    }
}
