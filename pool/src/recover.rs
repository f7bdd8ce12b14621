//! The return path: creating a slot's producer, checking a returned producer's health,
//! aborting what is open, and replacing a broken producer under the same transactional id
//! with backoff, in a background task that never blocks other borrowers.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use tracing::{debug, error, info, warn};

use crate::error::PoolError;
use crate::metrics::{Counters, GaugeGuard};
use crate::producer::{Health, PoolProducer, ProducerFactory};
use crate::shared::Shared;

/// Creates and initialises the producer of `slot`, within `create_timeout`.
pub(crate) async fn create<F: ProducerFactory>(
    shared: &Shared<F>,
    slot: usize,
) -> Result<Arc<F::Producer>, PoolError> {
    let id = &shared.ids[slot];
    let timeout = shared.config.create_timeout;
    let result = tokio::time::timeout(timeout, shared.factory.create(id)).await;
    let producer = match result {
        Ok(Ok(p)) => p,
        Ok(Err(e)) => {
            Counters::inc(&shared.counters.create_failures);
            return Err(PoolError::Create {
                id: id.to_string(),
                source: Box::new(e),
            });
        }
        Err(_) => {
            Counters::inc(&shared.counters.create_failures);
            return Err(PoolError::CreateTimeout {
                id: id.to_string(),
                timeout,
            });
        }
    };
    let health = producer.health();
    if health != Health::Ready {
        Counters::inc(&shared.counters.create_failures);
        producer.close(shared.config.producer_close_timeout).await;
        return Err(PoolError::Create {
            id: id.to_string(),
            source: format!("the new producer reports {health:?} instead of Ready").into(),
        });
    }
    Counters::inc(&shared.counters.creates);
    debug!(transactional_id = %id, "producer created and initialised");
    Ok(Arc::new(producer))
}

/// Aborts the open transaction of `producer` within `abort_timeout`. Ok when the producer is
/// Ready afterwards; Err when it must be replaced.
pub(crate) async fn abort<F: ProducerFactory>(
    shared: &Shared<F>,
    slot: usize,
    producer: &F::Producer,
) -> Result<(), PoolError> {
    let id = &shared.ids[slot];
    let result = tokio::time::timeout(shared.config.abort_timeout, producer.abort()).await;
    let err: crate::error::BoxError = match result {
        Ok(Ok(())) if producer.health() == Health::Ready => {
            Counters::inc(&shared.counters.aborts);
            return Ok(());
        }
        Ok(Ok(())) => format!(
            "abort succeeded but the producer reports {:?}",
            producer.health()
        )
        .into(),
        Ok(Err(e)) => Box::new(e),
        Err(_) => format!(
            "abort did not finish within {:?} (abort_timeout)",
            shared.config.abort_timeout
        )
        .into(),
    };
    Counters::inc(&shared.counters.abort_failures);
    warn!(transactional_id = %id, error = %err, "abort failed; the producer will be replaced");
    Err(PoolError::Abort {
        id: id.to_string(),
        source: err,
    })
}

/// Brings a returned producer back into the pool: aborts an open transaction, replaces it when
/// it is broken (or `replace` is set), closes it when the pool is closed.
pub(crate) async fn recover<F: ProducerFactory>(
    shared: Arc<Shared<F>>,
    slot: usize,
    producer: Arc<F::Producer>,
    mut replace: bool,
) {
    let _recovering = GaugeGuard::enter(&shared.counters.recovering);
    if !replace {
        replace = match producer.health() {
            Health::Ready => false,
            Health::InTransaction | Health::AbortableError => {
                abort(&shared, slot, &producer).await.is_err()
            }
            Health::Completing | Health::FatalError => true,
        };
    }
    if shared.is_closed() {
        producer.close(shared.config.producer_close_timeout).await;
        shared.retire(slot);
        return;
    }
    if !replace {
        if let Err(p) = shared.give_back(slot, producer) {
            p.close(shared.config.producer_close_timeout).await;
            shared.retire(slot);
        }
        return;
    }
    replace_slot(&shared, slot, producer).await;
}

/// [`recover`], surviving a panic of the producer or the factory: the slot then gets a new
/// producer (or, if creating one panics too, is retired with an error log) instead of
/// being lost while counted as busy.
pub(crate) async fn recover_guarded<F: ProducerFactory>(
    shared: Arc<Shared<F>>,
    slot: usize,
    producer: Arc<F::Producer>,
    replace: bool,
) {
    let run = recover(Arc::clone(&shared), slot, producer, replace);
    if AssertUnwindSafe(run).catch_unwind().await.is_ok() {
        return;
    }
    let id = &shared.ids[slot];
    error!(transactional_id = %id, "recovering the producer panicked; creating a new one");
    Counters::inc(&shared.counters.replacements);
    if AssertUnwindSafe(refill(&shared, slot))
        .catch_unwind()
        .await
        .is_err()
    {
        error!(transactional_id = %id, "creating a producer panicked; the slot is retired");
        shared.retire(slot);
    }
}

/// Closes `old` and creates a new producer under the same id (a new epoch, which also fences
/// anything still using `old`), retrying with exponential backoff until it works or the pool
/// closes.
async fn replace_slot<F: ProducerFactory>(shared: &Shared<F>, slot: usize, old: Arc<F::Producer>) {
    let id = Arc::clone(&shared.ids[slot]);
    Counters::inc(&shared.counters.replacements);
    info!(transactional_id = %id, health = ?old.health(), "replacing producer under the same id");
    old.close(shared.config.producer_close_timeout).await;
    drop(old);
    refill(shared, slot).await;
}

/// Creates a new producer for the (outstanding, empty) `slot`, retrying with exponential
/// backoff until it works or the pool closes.
async fn refill<F: ProducerFactory>(shared: &Shared<F>, slot: usize) {
    let id = Arc::clone(&shared.ids[slot]);
    shared.set_live(slot, None);
    let mut backoff = shared.config.replace_backoff;
    loop {
        let attempt = tokio::select! {
            r = create(shared, slot) => r,
            () = shared.shutdown.cancelled() => {
                shared.retire(slot);
                return;
            }
        };
        match attempt {
            Ok(producer) => {
                if let Err(p) = shared.give_back(slot, producer) {
                    p.close(shared.config.producer_close_timeout).await;
                    shared.retire(slot);
                }
                info!(transactional_id = %id, "producer replaced");
                return;
            }
            Err(e) => {
                warn!(transactional_id = %id, error = %e, retry_in = ?backoff, "replacement failed");
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    () = shared.shutdown.cancelled() => {
                        shared.retire(slot);
                        return;
                    }
                }
                backoff = next_backoff(backoff, shared.config.replace_backoff_max);
            }
        }
    }
}

/// Doubles `current`, capped at `max`.
pub(crate) fn next_backoff(current: Duration, max: Duration) -> Duration {
    current.saturating_mul(2).min(max)
}

/// Hands the producer of an outstanding slot back from a synchronous context (a guard's
/// `Drop`): straight into the queue when it is Ready, otherwise to a background recovery task.
pub(crate) fn return_from_drop<F: ProducerFactory>(
    shared: &Arc<Shared<F>>,
    slot: usize,
    producer: Arc<F::Producer>,
    replace: bool,
) {
    let producer = if !replace && producer.health() == Health::Ready {
        match shared.give_back(slot, producer) {
            Ok(()) => return,
            Err(p) => p,
        }
    } else {
        producer
    };
    let task = recover_guarded(Arc::clone(shared), slot, producer, replace);
    // At most one recovery task per slot exists at a time (the slot is outstanding until it
    // ends), so these tasks are bounded by the pool size.
    drop(shared.runtime.spawn(task));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_max() {
        let max = Duration::from_millis(500);
        let mut b = Duration::from_millis(100);
        let mut seen = vec![];
        for _ in 0..5 {
            b = next_backoff(b, max);
            seen.push(b.as_millis());
        }
        assert_eq!(seen, vec![200, 400, 500, 500, 500]);
    }
}
