//! Seeds for randomised tests (fault schedules, throttle schedules): taken from `KLAMM_SEED`
//! when it is set, so that a failing run can be replayed, and printed either way.

/// The seed of a randomised test: `KLAMM_SEED` when set, a random one otherwise. Printed
/// (`KLAMM_SEED=...` on stderr) so that a failure can be replayed.
pub fn seed() -> u64 {
    seed_or(rand::random())
}

/// The seed of a randomised test that runs a fixed schedule unless told otherwise:
/// `KLAMM_SEED` when set, `default` otherwise. Printed as [`seed`] does.
///
/// ```
/// use rand::{Rng, SeedableRng};
///
/// let mut rng = rand::rngs::StdRng::seed_from_u64(klamm_testkit::seed_or(0x5EED));
/// let _delay_ms: u64 = rng.random_range(0..10);
/// ```
pub fn seed_or(default: u64) -> u64 {
    let seed = std::env::var("KLAMM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default);
    eprintln!("KLAMM_SEED={seed}");
    seed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_used_unless_the_environment_names_one() {
        // The tests of this crate never set KLAMM_SEED; a run replaying one may.
        match std::env::var("KLAMM_SEED")
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
        {
            Some(set) => assert_eq!(seed_or(7), set),
            None => assert_eq!(seed_or(7), 7),
        }
    }
}
