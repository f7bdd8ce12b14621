//! The coordinator retries back off as KIP-580 asks: exponentially up to
//! `retry_backoff_max` for retriable errors, constant for CONCURRENT_TRANSACTIONS, both with
//! ±20 % jitter. Tokio's clock is paused, so the gaps between the fake coordinator's
//! arrivals are exactly the waits the driver chose.

use std::time::Duration;

use klamm_protocol::api::ApiKey;
use klamm_protocol::error_code::ErrorCode;

use super::fake::{FakeCoordinator, Fault};
use super::tests::{send_to, setup_with};

/// The gaps between consecutive requests of `api`.
fn gaps(fake: &FakeCoordinator, api: ApiKey) -> Vec<Duration> {
    let times: Vec<_> = fake
        .m()
        .arrivals
        .iter()
        .filter(|(a, _)| *a == api)
        .map(|&(_, t)| t)
        .collect();
    times.windows(2).map(|w| w[1] - w[0]).collect()
}

fn in_band(gap: Duration, base: Duration) -> bool {
    gap >= base.mul_f64(0.8) && gap <= base.mul_f64(1.2)
}

#[tokio::test(start_paused = true)]
async fn retriable_errors_back_off_exponentially_with_jitter() {
    let mut spread = std::collections::HashSet::new();
    for _ in 0..5 {
        let (fake, d) = setup_with(|c| {
            c.retry_backoff = Duration::from_millis(100);
            c.retry_backoff_max = Duration::from_millis(1000);
        });
        fake.inject(
            ApiKey::InitProducerId,
            &[Fault::Code(ErrorCode::CoordinatorLoadInProgress); 6],
        );
        d.init_transactions().await.expect("init after the retries");
        let gaps = gaps(&fake, ApiKey::InitProducerId);
        let bases = [100, 200, 400, 800, 1000, 1000].map(Duration::from_millis);
        assert_eq!(gaps.len(), bases.len(), "{gaps:?}");
        for (gap, base) in gaps.iter().zip(bases) {
            assert!(
                in_band(*gap, base),
                "{gap:?} outside [0.8, 1.2] x {base:?}: {gaps:?}"
            );
        }
        spread.insert(gaps);
    }
    assert!(spread.len() > 1, "the waits are jittered, not fixed");
}

#[tokio::test(start_paused = true)]
async fn concurrent_transactions_keep_the_short_backoff_with_jitter() {
    let (fake, d) = setup_with(|c| {
        c.retry_backoff = Duration::from_millis(100);
        c.short_backoff = Duration::from_millis(20);
        c.kip890_capable = false;
    });
    d.init_transactions().await.expect("init");
    d.begin_transaction().expect("begin");
    send_to(&d, "t", &[0]);
    fake.inject(
        ApiKey::AddPartitionsToTxn,
        &[Fault::Code(ErrorCode::ConcurrentTransactions); 8],
    );
    d.add_pending_partitions()
        .await
        .expect("added after the retries");
    let gaps = gaps(&fake, ApiKey::AddPartitionsToTxn);
    assert_eq!(gaps.len(), 8, "{gaps:?}");
    let short = Duration::from_millis(20);
    assert!(gaps.iter().all(|g| in_band(*g, short)), "{gaps:?}");
    assert!(gaps.iter().any(|g| *g != gaps[0]), "jittered: {gaps:?}");
}
