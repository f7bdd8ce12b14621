//! The pool's errors: [`PoolError`] for everything the pool itself reports, and
//! [`TransactionError`] for [`TransactionalPool::transaction`](crate::TransactionalPool::transaction),
//! which adds the closure's own error.

use std::time::Duration;

/// A producer's error, boxed so the pool's error type does not depend on the producer type.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What is known about a transaction whose commit failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CommitOutcome {
    /// The transaction was aborted: none of its records or offsets become visible.
    Aborted,
    /// The commit may or may not have been applied (e.g. it timed out repeatedly, or the
    /// producer was fenced while committing). The producer is replaced under the same id,
    /// which makes the broker finish the transaction one way or the other before the new
    /// producer is used; read back `read_committed` to find out which.
    Unknown,
}

impl std::fmt::Display for CommitOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CommitOutcome::Aborted => "the transaction was aborted",
            CommitOutcome::Unknown => "the outcome is unknown (read back read_committed)",
        })
    }
}

/// Everything the pool itself can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PoolError {
    /// The configuration was refused.
    #[error("invalid pool configuration: {0}")]
    Config(String),
    /// Every producer stayed busy for `checkout_timeout`.
    #[error(
        "no producer became free within {waited:?} (checkout_timeout; pool size {size}): \
         raise size or checkout_timeout, or make transactions shorter"
    )]
    CheckoutTimeout {
        /// How long the caller waited.
        waited: Duration,
        /// The pool's size.
        size: usize,
    },
    /// `max_waiters` callers were already waiting.
    #[error(
        "{max_waiters} callers are already waiting for a producer (max_waiters): the service \
         is overloaded; shed load or raise size"
    )]
    TooManyWaiters {
        /// The configured `max_waiters`.
        max_waiters: usize,
    },
    /// The pool was closed (before or while waiting).
    #[error("the pool is closed")]
    Closed,
    /// Creating or initialising a producer failed.
    #[error("creating transactional producer {id} failed: {source}")]
    Create {
        /// The transactional id.
        id: String,
        /// The producer's error.
        source: BoxError,
    },
    /// Creating or initialising a producer did not finish within `create_timeout`.
    #[error(
        "creating transactional producer {id} did not finish within {timeout:?} (create_timeout)"
    )]
    CreateTimeout {
        /// The transactional id.
        id: String,
        /// The configured `create_timeout`.
        timeout: Duration,
    },
    /// `begin_transaction` failed; nothing was written.
    #[error("begin_transaction on {id} failed: {source}")]
    Begin {
        /// The transactional id.
        id: String,
        /// The producer's error.
        source: BoxError,
    },
    /// `commit_transaction` failed.
    #[error("commit on {id} failed, {outcome}: {source}")]
    Commit {
        /// The transactional id.
        id: String,
        /// Whether the transaction was aborted or its outcome is unknown.
        outcome: CommitOutcome,
        /// The producer's error.
        source: BoxError,
    },
    /// `abort_transaction` failed; the producer is replaced under the same id, which makes the
    /// broker abort the transaction.
    #[error(
        "abort on {id} failed (the producer is replaced, which aborts the transaction): {source}"
    )]
    Abort {
        /// The transactional id.
        id: String,
        /// The producer's error.
        source: BoxError,
    },
    /// The closure passed to `transaction` panicked; the transaction was aborted.
    #[error("the transaction closure on {id} panicked ({message}); the transaction was aborted")]
    Panicked {
        /// The transactional id.
        id: String,
        /// The panic's message, when it was a string.
        message: String,
    },
    /// The closure ran longer than `transaction_timeout`; it was dropped and the transaction
    /// aborted.
    #[error(
        "the transaction closure on {id} ran longer than {timeout:?} (transaction_timeout); \
         the transaction was aborted"
    )]
    TransactionTimeout {
        /// The transactional id.
        id: String,
        /// The configured `transaction_timeout`.
        timeout: Duration,
    },
    /// The closure kept a [`Txn`](crate::Txn) handle beyond its end (e.g. in a spawned task),
    /// so the transaction could still change after the commit. It was aborted instead, and the
    /// producer is replaced under the same id, which fences the escaped handle.
    #[error(
        "a Txn handle for {id} outlived the transaction closure; the transaction was aborted \
         and the producer replaced: join every task that uses the handle before returning"
    )]
    HandleEscaped {
        /// The transactional id.
        id: String,
    },
    /// Group commit: the task running this caller's group ended without telling the caller
    /// the outcome (the runtime is shutting down). Read back `read_committed` to find out
    /// whether the request's records were committed.
    #[error(
        "the group transaction this request was part of ended without an outcome (the runtime \
         shut down?); read back read_committed to find out whether it was committed"
    )]
    GroupLost,
}

/// A producer's error shared by every member of a group transaction that failed with it.
#[derive(Debug)]
struct SharedSource(std::sync::Arc<BoxError>);

impl std::fmt::Display for SharedSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for SharedSource {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

impl PoolError {
    /// `n` copies of this error, one for each member of a group transaction that failed with
    /// it (a producer's error inside is shared, as it is not `Clone`).
    pub(crate) fn fan_out(self, n: usize) -> Vec<PoolError> {
        fn share(source: BoxError) -> impl Fn() -> BoxError {
            let shared = std::sync::Arc::new(source);
            move || Box::new(SharedSource(std::sync::Arc::clone(&shared)))
        }
        let one: Box<dyn Fn() -> PoolError> = match self {
            PoolError::Config(m) => Box::new(move || PoolError::Config(m.clone())),
            PoolError::CheckoutTimeout { waited, size } => {
                Box::new(move || PoolError::CheckoutTimeout { waited, size })
            }
            PoolError::TooManyWaiters { max_waiters } => {
                Box::new(move || PoolError::TooManyWaiters { max_waiters })
            }
            PoolError::Closed => Box::new(|| PoolError::Closed),
            PoolError::Create { id, source } => {
                let source = share(source);
                Box::new(move || PoolError::Create {
                    id: id.clone(),
                    source: source(),
                })
            }
            PoolError::CreateTimeout { id, timeout } => {
                Box::new(move || PoolError::CreateTimeout {
                    id: id.clone(),
                    timeout,
                })
            }
            PoolError::Begin { id, source } => {
                let source = share(source);
                Box::new(move || PoolError::Begin {
                    id: id.clone(),
                    source: source(),
                })
            }
            PoolError::Commit {
                id,
                outcome,
                source,
            } => {
                let source = share(source);
                Box::new(move || PoolError::Commit {
                    id: id.clone(),
                    outcome,
                    source: source(),
                })
            }
            PoolError::Abort { id, source } => {
                let source = share(source);
                Box::new(move || PoolError::Abort {
                    id: id.clone(),
                    source: source(),
                })
            }
            PoolError::Panicked { id, message } => Box::new(move || PoolError::Panicked {
                id: id.clone(),
                message: message.clone(),
            }),
            PoolError::TransactionTimeout { id, timeout } => {
                Box::new(move || PoolError::TransactionTimeout {
                    id: id.clone(),
                    timeout,
                })
            }
            PoolError::HandleEscaped { id } => {
                Box::new(move || PoolError::HandleEscaped { id: id.clone() })
            }
            PoolError::GroupLost => Box::new(|| PoolError::GroupLost),
        };
        (0..n).map(|_| one()).collect()
    }
}

/// The error of [`TransactionalPool::transaction`](crate::TransactionalPool::transaction).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransactionError<E> {
    /// The closure returned this error; the transaction was aborted (its records never become
    /// visible to `read_committed` readers).
    #[error("transaction aborted: {0}")]
    Aborted(E),
    /// The pool or the producer failed (checkout, begin, commit, a panic...).
    #[error(transparent)]
    Pool(#[from] PoolError),
}

impl<E> TransactionError<E> {
    /// The closure's error, if the transaction was aborted because of it.
    pub fn user_error(&self) -> Option<&E> {
        match self {
            TransactionError::Aborted(e) => Some(e),
            TransactionError::Pool(_) => None,
        }
    }

    /// The pool's error, if the pool or the producer failed.
    pub fn pool_error(&self) -> Option<&PoolError> {
        match self {
            TransactionError::Aborted(_) => None,
            TransactionError::Pool(e) => Some(e),
        }
    }
}

/// The message of a panic payload, when it is a string.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_say_what_to_do() {
        let e = PoolError::CheckoutTimeout {
            waited: Duration::from_millis(250),
            size: 8,
        };
        let s = e.to_string();
        assert!(
            s.contains("250ms") && s.contains("size 8") && s.contains("raise"),
            "{s}"
        );
        let e: TransactionError<std::io::Error> =
            TransactionError::Aborted(std::io::Error::other("nope"));
        assert_eq!(e.to_string(), "transaction aborted: nope");
        assert!(e.user_error().is_some() && e.pool_error().is_none());
    }

    #[test]
    fn a_fanned_out_commit_error_keeps_its_variant_outcome_and_message() {
        let e = PoolError::Commit {
            id: "orders-3".into(),
            outcome: CommitOutcome::Unknown,
            source: Box::new(std::io::Error::other("timed out")),
        };
        let message = e.to_string();
        let copies = e.fan_out(3);
        assert_eq!(copies.len(), 3);
        for c in copies {
            assert_eq!(c.to_string(), message);
            assert!(matches!(
                c,
                PoolError::Commit {
                    outcome: CommitOutcome::Unknown,
                    ..
                }
            ));
        }
        assert!(PoolError::Closed.fan_out(0).is_empty());
    }

    #[test]
    fn panic_messages() {
        let p: Box<dyn std::any::Any + Send> = Box::new("boom");
        assert_eq!(panic_message(p.as_ref()), "boom");
        let p: Box<dyn std::any::Any + Send> = Box::new(String::from("bang"));
        assert_eq!(panic_message(p.as_ref()), "bang");
        let p: Box<dyn std::any::Any + Send> = Box::new(3u8);
        assert_eq!(panic_message(p.as_ref()), "non-string panic payload");
    }
}
