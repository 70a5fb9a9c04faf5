//! Seat arithmetic: pure functions of the licenses of a product and the seats they hold.

/// One personal license of a product, as seat arithmetic needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pool {
    pub certificate_id: String,
    pub seats: u32,
    /// Seats of this license held by users (an expired license keeps its holders until recalled).
    pub held: u32,
    /// Unused or activated and in its validity: an expired or revoked license grants nothing.
    pub valid: bool,
    /// The tenant whose users alone may hold its seats (the certificate's `tenant_id`); `None`:
    /// any user's.
    pub tenant: Option<String>,
}

impl Pool {
    /// Whether a user of `tenant` may hold a seat of this license.
    pub fn serves(&self, tenant: &str) -> bool {
        self.tenant.as_deref().is_none_or(|t| t == tenant)
    }

    pub fn free(&self) -> u32 {
        if self.valid {
            self.seats.saturating_sub(self.held)
        } else {
            0
        }
    }
}

/// Totals of a product: seats of its valid licenses, seats held from them, and free seats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Totals {
    pub total: u32,
    pub used: u32,
    pub free: u32,
}

pub fn totals(pools: &[Pool]) -> Totals {
    pools
        .iter()
        .filter(|p| p.valid)
        .fold(Totals::default(), |t, p| Totals {
            total: t.total + p.seats,
            used: t.used + p.held.min(p.seats),
            free: t.free + p.free(),
        })
}

/// Which license each of `n` new holders takes a seat from, in the order given (fill the first
/// pool with room, then the next); the whole request or nothing: `Err(free)` when fewer than `n`
/// seats are free.
pub fn allocate(pools: &[Pool], n: u32) -> Result<Vec<&str>, u32> {
    let free = totals(pools).free;
    if n > free {
        return Err(free);
    }
    Ok(pools
        .iter()
        .flat_map(|p| std::iter::repeat_n(p.certificate_id.as_str(), p.free() as usize))
        .take(n as usize)
        .collect())
}

/// Like [`allocate`], for `n` users of `tenant`: from the licenses issued for that tenant first
/// (so that those issued for none stay for every tenant), then from those issued for none.
pub fn allocate_for(pools: &[Pool], tenant: &str, n: u32) -> Result<Vec<String>, u32> {
    let usable: Vec<Pool> = pools
        .iter()
        .filter(|p| p.tenant.as_deref() == Some(tenant))
        .chain(pools.iter().filter(|p| p.tenant.is_none()))
        .cloned()
        .collect();
    allocate(&usable, n).map(|from| from.into_iter().map(str::to_string).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(id: &str, seats: u32, held: u32, valid: bool) -> Pool {
        Pool {
            certificate_id: id.into(),
            seats,
            held,
            valid,
            tenant: None,
        }
    }

    #[test]
    fn a_tenants_license_serves_its_users_first_and_no_one_else() {
        let mut ours = pool("ours", 2, 0, true);
        ours.tenant = Some("t1".into());
        let mut theirs = pool("theirs", 5, 0, true);
        theirs.tenant = Some("t2".into());
        let shared = pool("shared", 1, 0, true);
        let pools = [shared, theirs, ours];
        assert_eq!(
            allocate_for(&pools, "t1", 3),
            Ok(vec!["ours".into(), "ours".into(), "shared".into()])
        );
        assert_eq!(
            allocate_for(&pools, "t1", 4),
            Err(3),
            "t2's five are not t1's"
        );
        assert_eq!(allocate_for(&pools, "t3", 2), Err(1));
    }

    #[test]
    fn totals_count_only_valid_licenses() {
        let pools = [pool("a", 5, 3, true), pool("b", 10, 4, false)];
        assert_eq!(
            totals(&pools),
            Totals {
                total: 5,
                used: 3,
                free: 2
            }
        );
        assert_eq!(totals(&[]), Totals::default());
    }

    #[test]
    fn an_expired_license_frees_nothing_and_grants_nothing() {
        let expired = pool("a", 5, 2, false);
        assert_eq!(expired.free(), 0);
        assert_eq!(allocate(&[expired], 1), Err(0));
    }

    #[test]
    fn allocation_fills_pools_in_order_and_is_whole_or_nothing() {
        let pools = [pool("a", 2, 1, true), pool("b", 3, 0, true)];
        assert_eq!(allocate(&pools, 3), Ok(vec!["a", "b", "b"]));
        assert_eq!(allocate(&pools, 4), Ok(vec!["a", "b", "b", "b"]));
        assert_eq!(
            allocate(&pools, 5),
            Err(4),
            "refused whole, saying how many are free"
        );
        assert_eq!(allocate(&pools, 0), Ok(vec![]));
    }

    #[test]
    fn more_holders_than_seats_never_counts_as_free() {
        // Seats held beyond a license's count (it cannot happen through Tessera) free nothing.
        let pools = [pool("a", 2, 3, true)];
        assert_eq!(
            totals(&pools),
            Totals {
                total: 2,
                used: 2,
                free: 0
            }
        );
    }
}

/// Properties of seat arithmetic on generated licenses.
#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    fn pools() -> impl Strategy<Value = Vec<Pool>> {
        prop::collection::vec((0u32..50, 0u32..60, any::<bool>()), 0..8).prop_map(|v| {
            v.into_iter()
                .enumerate()
                .map(|(i, (seats, held, valid))| Pool {
                    certificate_id: format!("c{i}"),
                    seats,
                    held,
                    valid,
                    tenant: (i % 3 == 1).then(|| format!("t{}", i % 2)),
                })
                .collect()
        })
    }

    proptest! {
        #[test]
        fn totals_add_up(pools in pools()) {
            let t = totals(&pools);
            prop_assert_eq!(t.used + t.free, t.total);
            prop_assert_eq!(t.free, pools.iter().map(Pool::free).sum::<u32>());
        }

        #[test]
        fn allocation_gives_all_or_nothing_and_never_more_than_free(pools in pools(), n in 0u32..200) {
            let free = totals(&pools).free;
            match allocate(&pools, n) {
                Err(said) => {
                    prop_assert!(n > free);
                    prop_assert_eq!(said, free);
                }
                Ok(from) => {
                    prop_assert!(n <= free);
                    prop_assert_eq!(from.len() as u32, n);
                    for p in &pools {
                        let taken = from.iter().filter(|c| **c == p.certificate_id).count() as u32;
                        prop_assert!(taken <= p.free(), "{} takes {taken} of {}", p.certificate_id, p.free());
                    }
                }
            }
        }

        #[test]
        fn a_tenants_users_take_seats_only_of_licenses_that_serve_it(pools in pools(), n in 0u32..100) {
            let free: u32 = pools.iter().filter(|p| p.serves("t1")).map(Pool::free).sum();
            match allocate_for(&pools, "t1", n) {
                Err(said) => prop_assert_eq!((said, n > free), (free, true)),
                Ok(from) => {
                    prop_assert_eq!(from.len() as u32, n);
                    for id in &from {
                        let p = pools.iter().find(|p| &p.certificate_id == id);
                        prop_assert!(p.is_some_and(|p| p.serves("t1")), "{id}");
                    }
                }
            }
        }
    }
}
