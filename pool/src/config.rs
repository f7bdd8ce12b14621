//! The pool's settings, [`PoolConfig`], and the [`PoolBuilder`] that validates them.

use std::time::Duration;

use crate::error::PoolError;
use crate::pool::TransactionalPool;
use crate::producer::ProducerFactory;

/// The largest pool size accepted: each producer holds connections and a transactional id on
/// the brokers, so a pool is meant to be small (a few per core).
pub const MAX_POOL_SIZE: usize = 1024;

/// The most requests one group may hold ([`GroupCommit::max_group`]): every member's records
/// ride in one Kafka transaction, and one failing member makes all the others run again.
pub const MAX_GROUP: usize = 4096;

/// Group commit settings ([`PoolConfig::group_commit`]): how
/// [`TransactionalPool::transaction_grouped`] calls share Kafka transactions.
///
/// A group opens when a grouped call finds no group taking members. It takes every grouped
/// call that arrives until it holds `max_group` requests, or until a producer is free for it
/// and `max_group_delay` has passed since it opened, whichever comes first. With a zero delay
/// a group holds exactly the calls that arrived while it waited for a producer: an idle pool
/// runs each call alone, a busy one shares transactions among the calls that queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupCommit {
    /// At most this many requests share one Kafka transaction (`1..=MAX_GROUP`).
    pub max_group: usize,
    /// How long a group keeps taking members once a producer is free for it, counted from
    /// its first member's arrival (zero: not at all). Each member waits that much longer when
    /// the pool is idle, so keep it well below the latency callers can accept.
    pub max_group_delay: Duration,
}

/// The pool's settings. Build them with [`TransactionalPool::builder`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolConfig {
    /// Producers are named `"{id_prefix}-{slot}"`, slot in `0..size`.
    pub id_prefix: String,
    /// Number of producers (and of transactions in flight at once).
    pub size: usize,
    /// Create producers on first use instead of all at build time.
    pub lazy: bool,
    /// At most this many callers wait for a producer at once; one more fails at once with
    /// [`PoolError::TooManyWaiters`] (load shedding instead of an unbounded queue).
    pub max_waiters: usize,
    /// How long `get` / `transaction` wait for a free producer before
    /// [`PoolError::CheckoutTimeout`].
    pub checkout_timeout: Duration,
    /// How long a `transaction` closure may run before it is dropped and the transaction
    /// aborted ([`PoolError::TransactionTimeout`]). Keep it at or below the producers'
    /// `transaction.timeout.ms`, after which the coordinator aborts the transaction anyway.
    pub transaction_timeout: Duration,
    /// How long creating and initialising one producer may take.
    pub create_timeout: Duration,
    /// How long one abort on the return path may take before the producer is replaced instead.
    pub abort_timeout: Duration,
    /// How long `close` gives each producer to finish (see [`PoolProducer::close`](crate::PoolProducer::close)).
    pub producer_close_timeout: Duration,
    /// How many times a commit whose outcome is unknown ([`Health::Completing`](crate::Health))
    /// is retried in total before the pool gives up and replaces the producer.
    pub commit_attempts: u32,
    /// Pause between commit attempts.
    pub commit_retry_backoff: Duration,
    /// First pause after a failed replacement; doubles up to `replace_backoff_max`.
    pub replace_backoff: Duration,
    /// Longest pause between replacement attempts.
    pub replace_backoff_max: Duration,
    /// Group commit for [`TransactionalPool::transaction_grouped`]; `None` (the default) runs
    /// every call in a transaction of its own.
    pub group_commit: Option<GroupCommit>,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            id_prefix: String::new(),
            size: 8,
            lazy: false,
            max_waiters: 4096,
            checkout_timeout: Duration::from_secs(5),
            transaction_timeout: Duration::from_secs(60),
            create_timeout: Duration::from_secs(30),
            abort_timeout: Duration::from_secs(30),
            producer_close_timeout: Duration::from_secs(5),
            commit_attempts: 3,
            commit_retry_backoff: Duration::from_millis(100),
            replace_backoff: Duration::from_millis(100),
            replace_backoff_max: Duration::from_secs(10),
            group_commit: None,
        }
    }
}

impl PoolConfig {
    /// Checks the settings; the error says which one is wrong and why.
    pub fn validate(&self) -> Result<(), PoolError> {
        let fail = |m: String| Err(PoolError::Config(m));
        if self.id_prefix.is_empty() {
            return fail(
                "id_prefix is empty: set a stable prefix (e.g. the service name) so a restart \
                 fences its own zombies"
                    .into(),
            );
        }
        if self.id_prefix.chars().any(char::is_control) {
            return fail(format!(
                "id_prefix {:?} contains control characters",
                self.id_prefix
            ));
        }
        if self.size == 0 || self.size > MAX_POOL_SIZE {
            return fail(format!("size {} is outside 1..={MAX_POOL_SIZE}", self.size));
        }
        if self.commit_attempts == 0 {
            return fail("commit_attempts must be at least 1".into());
        }
        if self.create_timeout.is_zero()
            || self.abort_timeout.is_zero()
            || self.transaction_timeout.is_zero()
        {
            return fail(
                "create_timeout, abort_timeout and transaction_timeout must be above zero".into(),
            );
        }
        if self.replace_backoff.is_zero() || self.replace_backoff > self.replace_backoff_max {
            return fail(format!(
                "replace_backoff ({:?}) must be above zero and at most replace_backoff_max ({:?})",
                self.replace_backoff, self.replace_backoff_max
            ));
        }
        if let Some(group) = self.group_commit {
            if group.max_group == 0 || group.max_group > MAX_GROUP {
                return fail(format!(
                    "group_commit max_group {} is outside 1..={MAX_GROUP}",
                    group.max_group
                ));
            }
            // A member's closure only starts once its group closed: a delay as long as the
            // transaction timeout would leave it no time at all.
            if group.max_group_delay >= self.transaction_timeout {
                return fail(format!(
                    "group_commit max_group_delay ({:?}) must be below transaction_timeout ({:?})",
                    group.max_group_delay, self.transaction_timeout
                ));
            }
        }
        Ok(())
    }
}

/// Builds a [`TransactionalPool`]: `TransactionalPool::builder().factory(f).id_prefix("orders")
/// .size(8).build().await?` (the factory's type is inferred from `.factory(..)`).
#[derive(Debug, Clone)]
pub struct PoolBuilder<F> {
    factory: Option<F>,
    config: PoolConfig,
}

impl<F> PoolBuilder<F> {
    pub(crate) fn new() -> Self {
        PoolBuilder {
            factory: None,
            config: PoolConfig::default(),
        }
    }

    /// The factory that creates and initialises each producer (required).
    pub fn factory(mut self, factory: F) -> Self {
        self.factory = Some(factory);
        self
    }

    /// Replaces every setting at once.
    pub fn config(mut self, config: PoolConfig) -> Self {
        self.config = config;
        self
    }

    /// Sets [`PoolConfig::id_prefix`].
    pub fn id_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.config.id_prefix = prefix.into();
        self
    }

    /// Sets [`PoolConfig::size`].
    pub fn size(mut self, size: usize) -> Self {
        self.config.size = size;
        self
    }

    /// Sets [`PoolConfig::lazy`].
    pub fn lazy(mut self, lazy: bool) -> Self {
        self.config.lazy = lazy;
        self
    }

    /// Sets [`PoolConfig::max_waiters`].
    pub fn max_waiters(mut self, max_waiters: usize) -> Self {
        self.config.max_waiters = max_waiters;
        self
    }

    /// Sets [`PoolConfig::checkout_timeout`].
    pub fn checkout_timeout(mut self, timeout: Duration) -> Self {
        self.config.checkout_timeout = timeout;
        self
    }

    /// Sets [`PoolConfig::transaction_timeout`].
    pub fn transaction_timeout(mut self, timeout: Duration) -> Self {
        self.config.transaction_timeout = timeout;
        self
    }

    /// Sets [`PoolConfig::create_timeout`].
    pub fn create_timeout(mut self, timeout: Duration) -> Self {
        self.config.create_timeout = timeout;
        self
    }

    /// Sets [`PoolConfig::abort_timeout`].
    pub fn abort_timeout(mut self, timeout: Duration) -> Self {
        self.config.abort_timeout = timeout;
        self
    }

    /// Sets [`PoolConfig::producer_close_timeout`].
    pub fn producer_close_timeout(mut self, timeout: Duration) -> Self {
        self.config.producer_close_timeout = timeout;
        self
    }

    /// Sets [`PoolConfig::commit_attempts`] and [`PoolConfig::commit_retry_backoff`].
    pub fn commit_retries(mut self, attempts: u32, backoff: Duration) -> Self {
        self.config.commit_attempts = attempts;
        self.config.commit_retry_backoff = backoff;
        self
    }

    /// Sets [`PoolConfig::replace_backoff`] and [`PoolConfig::replace_backoff_max`].
    pub fn replace_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.config.replace_backoff = initial;
        self.config.replace_backoff_max = max;
        self
    }

    /// Turns group commit on ([`PoolConfig::group_commit`]): concurrent
    /// [`transaction_grouped`](TransactionalPool::transaction_grouped) calls share one Kafka
    /// transaction, up to `max_group` of them, a group waiting at most `max_group_delay` for
    /// more members once a producer is free for it.
    pub fn group_commit(mut self, max_group: usize, max_group_delay: Duration) -> Self {
        self.config.group_commit = Some(GroupCommit {
            max_group,
            max_group_delay,
        });
        self
    }

    /// The settings so far.
    pub fn current_config(&self) -> &PoolConfig {
        &self.config
    }
}

impl<F: ProducerFactory> PoolBuilder<F> {
    /// Validates the settings and starts the pool: unless `lazy`, creates and initialises all
    /// `size` producers concurrently and fails if any of them fails (closing the others).
    ///
    /// Must be called inside a tokio runtime (the pool spawns its recovery tasks there).
    pub async fn build(self) -> Result<TransactionalPool<F>, PoolError> {
        self.config.validate()?;
        let factory = self
            .factory
            .ok_or_else(|| PoolError::Config("no producer factory: call .factory(..)".into()))?;
        TransactionalPool::start(factory, self.config).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok() -> PoolConfig {
        PoolConfig {
            id_prefix: "orders".into(),
            ..PoolConfig::default()
        }
    }

    #[test]
    fn defaults_need_only_a_prefix() {
        assert!(PoolConfig::default().validate().is_err());
        ok().validate().unwrap();
    }

    #[test]
    fn bad_settings_are_refused_with_the_setting_named() {
        let cases: Vec<(PoolConfig, &str)> = vec![
            (PoolConfig { size: 0, ..ok() }, "size"),
            (
                PoolConfig {
                    size: MAX_POOL_SIZE + 1,
                    ..ok()
                },
                "size",
            ),
            (
                PoolConfig {
                    id_prefix: "a\nb".into(),
                    ..ok()
                },
                "control",
            ),
            (
                PoolConfig {
                    commit_attempts: 0,
                    ..ok()
                },
                "commit_attempts",
            ),
            (
                PoolConfig {
                    create_timeout: Duration::ZERO,
                    ..ok()
                },
                "create_timeout",
            ),
            (
                PoolConfig {
                    replace_backoff: Duration::from_secs(20),
                    ..ok()
                },
                "replace_backoff",
            ),
            (
                PoolConfig {
                    group_commit: Some(GroupCommit {
                        max_group: 0,
                        max_group_delay: Duration::ZERO,
                    }),
                    ..ok()
                },
                "max_group",
            ),
            (
                PoolConfig {
                    group_commit: Some(GroupCommit {
                        max_group: 8,
                        max_group_delay: Duration::from_secs(60),
                    }),
                    ..ok()
                },
                "max_group_delay",
            ),
        ];
        for (cfg, word) in cases {
            let e = cfg.validate().unwrap_err().to_string();
            assert!(e.contains(word), "{e} should name {word}");
        }
    }

    #[test]
    fn builder_sets_fields() {
        let b = PoolBuilder::<()>::new()
            .id_prefix("p")
            .size(3)
            .lazy(true)
            .checkout_timeout(Duration::from_millis(7))
            .commit_retries(5, Duration::from_millis(1));
        let c = b.current_config();
        assert_eq!((c.id_prefix.as_str(), c.size, c.lazy), ("p", 3, true));
        assert_eq!(c.checkout_timeout, Duration::from_millis(7));
        assert_eq!(c.commit_attempts, 5);
        assert_eq!(c.group_commit, None, "group commit is off by default");
        let b = b.group_commit(16, Duration::from_millis(2));
        let group = b.current_config().group_commit.expect("on");
        assert_eq!(
            (group.max_group, group.max_group_delay),
            (16, Duration::from_millis(2))
        );
        PoolConfig {
            group_commit: Some(group),
            ..ok()
        }
        .validate()
        .unwrap();
    }
}
