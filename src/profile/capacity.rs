//! The pool-capacity rule: a run, an edited profile or a `POST /api/users` may ask for only as
//! many users as every tier's pool has test-user ids for.

use crate::telegram::{Tier, TierPools};

/// Checks that every tier's pool has an id for each of `users` split over `classes` (tier,
/// weight).
pub fn pool_capacity(classes: &[(Tier, u32)], users: u32, pools: &TierPools) -> Result<(), String> {
    let total: u64 = classes
        .iter()
        .map(|(_, w)| u64::from(*w))
        .sum::<u64>()
        .max(1);
    let users = u64::from(users);
    for tier in Tier::ALL {
        let needed: u64 = classes
            .iter()
            .filter(|(t, _)| *t == tier)
            .map(|(_, w)| (users * u64::from(*w)).div_ceil(total))
            .sum();
        let size = pools.user_capacity(tier);
        if needed > size {
            return Err(format!(
                "{users} users need {needed} {tier} test users, but the {tier} pool has {size} \
                 ids for users (a tenth is kept for test_user_id); lower the users or widen the \
                 pool with --pool {tier}=START..END"
            ));
        }
    }
    Ok(())
}
