//! Tiers (guest < user < developer < admin) and the test-user pools: one id range per tier.
//! Every virtual user takes its Telegram user id from its tier's pool, and the demo bot derives
//! a sender's tier from the same pools, so a run never invents ids outside them.

use std::fmt;
use std::ops::Range;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What a test user may do; ordered from least to most privileged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    Guest,
    User,
    Developer,
    Admin,
}

impl Tier {
    pub const ALL: [Tier; 4] = [Tier::Guest, Tier::User, Tier::Developer, Tier::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Guest => "guest",
            Tier::User => "user",
            Tier::Developer => "developer",
            Tier::Admin => "admin",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    #[error("unknown tier `{0}` (expected guest, user, developer or admin)")]
    UnknownTier(String),
    #[error("bad pool `{0}`: expected TIER=START..END, for example guest=1000..2000")]
    Syntax(String),
    #[error("the {tier} pool {start}..{end} is empty or not positive")]
    Empty { tier: Tier, start: i64, end: i64 },
    #[error("the {a} pool and the {b} pool overlap")]
    Overlap { a: Tier, b: Tier },
    #[error("the {tier} pool has {size} ids; index {index} is beyond it")]
    Exhausted { tier: Tier, size: i64, index: u64 },
}

impl FromStr for Tier {
    type Err = PoolError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "guest" => Ok(Tier::Guest),
            "user" => Ok(Tier::User),
            "developer" | "dev" => Ok(Tier::Developer),
            "admin" => Ok(Tier::Admin),
            _ => Err(PoolError::UnknownTier(s.to_string())),
        }
    }
}

/// One disjoint, non-empty id range per tier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TierPools {
    ranges: [Range<i64>; 4],
}

impl Default for TierPools {
    /// Ids in the range real Telegram user ids use today, disjoint, and recognisable (they
    /// all start with 690): guest 1,000,000 ids, user 200,000, developer 50,000, admin 20,000.
    /// With a tenth of each kept for `test_user_id`, 1,000,000 users at 80/15/4/1 fit.
    fn default() -> Self {
        Self {
            ranges: [
                6_900_100_000..6_901_100_000,
                6_901_100_000..6_901_300_000,
                6_900_030_000..6_900_080_000,
                6_900_000_100..6_900_020_100,
            ],
        }
    }
}

impl TierPools {
    /// Pools from explicit ranges, checked to be non-empty, positive and disjoint.
    pub fn new(ranges: [Range<i64>; 4]) -> Result<Self, PoolError> {
        for tier in Tier::ALL {
            let r = &ranges[tier.index()];
            if r.start <= 0 || r.end <= r.start {
                return Err(PoolError::Empty {
                    tier,
                    start: r.start,
                    end: r.end,
                });
            }
        }
        for a in Tier::ALL {
            for b in Tier::ALL.into_iter().filter(|b| *b > a) {
                let (ra, rb) = (&ranges[a.index()], &ranges[b.index()]);
                if ra.start < rb.end && rb.start < ra.end {
                    return Err(PoolError::Overlap { a, b });
                }
            }
        }
        Ok(Self { ranges })
    }

    /// The defaults with some pools replaced, from `TIER=START..END` specs.
    pub fn with_overrides<S: AsRef<str>>(specs: &[S]) -> Result<Self, PoolError> {
        let mut ranges = Self::default().ranges;
        for spec in specs {
            let spec = spec.as_ref();
            let (tier, range) = spec
                .split_once('=')
                .ok_or_else(|| PoolError::Syntax(spec.into()))?;
            let tier: Tier = tier.parse()?;
            let (start, end) = range
                .split_once("..")
                .ok_or_else(|| PoolError::Syntax(spec.into()))?;
            let parse = |s: &str| s.trim().replace('_', "").parse::<i64>();
            let (Ok(start), Ok(end)) = (parse(start), parse(end)) else {
                return Err(PoolError::Syntax(spec.into()));
            };
            ranges[tier.index()] = start..end;
        }
        Self::new(ranges)
    }

    pub fn range(&self, tier: Tier) -> Range<i64> {
        self.ranges[tier.index()].clone()
    }

    pub fn size(&self, tier: Tier) -> i64 {
        let r = &self.ranges[tier.index()];
        r.end - r.start
    }

    /// The end of a tier's pool kept for `test_user_id` (a tenth, at least one id): the ids
    /// scripts /grant and /revoke, never given to a running virtual user.
    pub fn test_ids(&self, tier: Tier) -> Range<i64> {
        let r = &self.ranges[tier.index()];
        let span = ((r.end - r.start) / 10).max(1).min(r.end - r.start);
        r.end - span..r.end
    }

    /// How many virtual users of a tier can run at once: the pool without its test ids.
    pub fn user_capacity(&self, tier: Tier) -> u64 {
        let test = self.test_ids(tier);
        (self.size(tier) - (test.end - test.start)).max(0) as u64
    }

    /// The pool an id belongs to, if any.
    pub fn tier_of(&self, id: i64) -> Option<Tier> {
        Tier::ALL
            .into_iter()
            .find(|t| self.ranges[t.index()].contains(&id))
    }

    pub fn contains(&self, id: i64) -> bool {
        self.tier_of(id).is_some()
    }

    /// The `index`-th id of a tier's pool (virtual user n of a tier gets id n).
    pub fn id(&self, tier: Tier, index: u64) -> Result<i64, PoolError> {
        let size = self.size(tier);
        match i64::try_from(index) {
            Ok(i) if i < size => Ok(self.ranges[tier.index()].start + i),
            _ => Err(PoolError::Exhausted { tier, size, index }),
        }
    }

    /// Every id of a tier's pool, in order.
    pub fn list(&self, tier: Tier) -> Range<i64> {
        self.range(tier)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_disjoint_and_classify_ids() {
        let pools = TierPools::default();
        assert_eq!(TierPools::new(pools.ranges.clone()), Ok(pools.clone()));
        for tier in Tier::ALL {
            let r = pools.range(tier);
            assert_eq!(pools.tier_of(r.start), Some(tier));
            assert_eq!(pools.tier_of(r.end - 1), Some(tier));
        }
        assert_eq!(pools.tier_of(42), None);
        assert_eq!(pools.id(Tier::Admin, 0), Ok(6_900_000_100));
        assert!(matches!(
            pools.id(Tier::Admin, 20_000),
            Err(PoolError::Exhausted { .. })
        ));
    }

    #[test]
    fn a_million_users_fit_the_default_pools() {
        let pools = TierPools::default();
        let split = [
            (Tier::Guest, 800_000),
            (Tier::User, 150_000),
            (Tier::Developer, 40_000),
            (Tier::Admin, 10_000),
        ];
        for (tier, users) in split {
            assert!(pools.user_capacity(tier) >= users, "{tier}");
        }
    }

    #[test]
    fn overrides_are_parsed_and_checked() {
        let pools = TierPools::with_overrides(&["guest=1_000..2_000", "admin=5..6"]).unwrap();
        assert_eq!(pools.range(Tier::Guest), 1000..2000);
        assert_eq!(pools.size(Tier::Admin), 1);
        assert_eq!(
            TierPools::with_overrides(&["guest=6901100000..6901100005"]),
            Err(PoolError::Overlap {
                a: Tier::Guest,
                b: Tier::User
            })
        );
        assert!(matches!(
            TierPools::with_overrides(&["boss=1..2"]),
            Err(PoolError::UnknownTier(_))
        ));
        assert!(matches!(
            TierPools::with_overrides(&["guest=1-2"]),
            Err(PoolError::Syntax(_))
        ));
        assert!(matches!(
            TierPools::with_overrides(&["guest=5..5"]),
            Err(PoolError::Empty { .. })
        ));
    }

    #[test]
    fn tiers_are_ordered_and_parse() {
        assert!(Tier::Guest < Tier::User && Tier::User < Tier::Developer);
        assert!(Tier::Developer < Tier::Admin);
        assert_eq!("Developer".parse::<Tier>(), Ok(Tier::Developer));
    }
}
