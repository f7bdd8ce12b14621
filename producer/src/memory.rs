//! Buffer memory accounting against `buffer_memory` (Java's `BufferPool`, without pooling).
//!
//! Memory is reserved per batch, not per record: opening a batch reserves
//! `max(batch_size, record size)` bytes, and the reservation travels with the batch until its
//! outcome is known. Waiting is fair (first come, first served, as Java's pool): a big request
//! at the head is not starved by small ones behind it. Waiting is async, with no polling loop,
//! and cancellation-safe (a dropped wait takes nothing).

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError};

use crate::error::{CloseReason, ProducerError};

/// The producer's buffer memory: `buffer_memory` bytes shared by all open and in-flight batches.
#[derive(Debug, Clone)]
pub struct MemoryPool {
    total: usize,
    semaphore: Arc<Semaphore>,
}

/// Bytes reserved from a [`MemoryPool`]; given back when dropped.
#[derive(Debug)]
pub struct Reservation {
    permit: OwnedSemaphorePermit,
}

impl Reservation {
    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.permit.num_permits()
    }

    /// Give back all but `keep` bytes (e.g. after a batch was sealed and compressed).
    pub fn shrink_to(&mut self, keep: usize) {
        let held = self.permit.num_permits();
        if keep < held {
            // `split` only fails when asked for more than is held, which `keep < held` rules out.
            drop(self.permit.split(held - keep));
        }
    }
}

impl MemoryPool {
    /// A pool of `total` bytes.
    pub fn new(total: usize) -> Self {
        let total = total.min(Semaphore::MAX_PERMITS);
        MemoryPool {
            total,
            semaphore: Arc::new(Semaphore::new(total)),
        }
    }

    /// The pool's size.
    pub fn total(&self) -> usize {
        self.total
    }

    /// Bytes free right now (Java's `buffer-available-bytes`).
    pub fn available(&self) -> usize {
        self.semaphore.available_permits()
    }

    fn check_size(&self, bytes: usize) -> Result<u32, ProducerError> {
        if bytes > self.total {
            return Err(ProducerError::RecordLargerThanBuffer {
                size: bytes,
                buffer_memory: self.total,
            });
        }
        u32::try_from(bytes).map_err(|_| ProducerError::RecordLargerThanBuffer {
            size: bytes,
            buffer_memory: self.total,
        })
    }

    /// Reserve `bytes`, waiting up to `max_block` in line behind earlier waiters.
    pub async fn reserve(
        &self,
        bytes: usize,
        max_block: Duration,
    ) -> Result<Reservation, ProducerError> {
        let n = self.check_size(bytes)?;
        let start = Instant::now();
        let acquire = Arc::clone(&self.semaphore).acquire_many_owned(n);
        match tokio::time::timeout(max_block, acquire).await {
            Ok(Ok(permit)) => Ok(Reservation { permit }),
            Ok(Err(_closed)) => Err(ProducerError::Closed {
                reason: CloseReason::AlreadyClosed,
            }),
            Err(_elapsed) => {
                tracing::debug!(bytes, ?max_block, "buffer memory exhausted");
                Err(ProducerError::BufferExhausted {
                    requested: bytes,
                    waited: start.elapsed(),
                })
            }
        }
    }

    /// Reserve `bytes` now or fail with [`ProducerError::WouldBlock`]. Never jumps the queue:
    /// fails while others wait, even if enough memory is free.
    pub fn try_reserve(&self, bytes: usize) -> Result<Reservation, ProducerError> {
        let n = self.check_size(bytes)?;
        match Arc::clone(&self.semaphore).try_acquire_many_owned(n) {
            Ok(permit) => Ok(Reservation { permit }),
            Err(TryAcquireError::NoPermits) => Err(ProducerError::WouldBlock {
                requested: bytes,
                available: self.available(),
            }),
            Err(TryAcquireError::Closed) => Err(ProducerError::Closed {
                reason: CloseReason::AlreadyClosed,
            }),
        }
    }

    /// Fail every current and future waiter with [`ProducerError::Closed`] (on close).
    /// Reservations already held stay valid.
    pub fn close(&self) {
        self.semaphore.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reserve_and_release() {
        let pool = MemoryPool::new(1000);
        let a = pool.reserve(600, Duration::ZERO).await.unwrap();
        assert_eq!((a.bytes(), pool.available()), (600, 400));
        assert!(matches!(
            pool.try_reserve(500),
            Err(ProducerError::WouldBlock {
                requested: 500,
                available: 400
            })
        ));
        drop(a);
        assert_eq!(pool.available(), 1000);
    }

    #[tokio::test]
    async fn too_big_for_the_pool_fails_at_once() {
        let pool = MemoryPool::new(100);
        let err = pool
            .reserve(101, Duration::from_secs(60))
            .await
            .unwrap_err();
        assert_eq!(
            err,
            ProducerError::RecordLargerThanBuffer {
                size: 101,
                buffer_memory: 100
            }
        );
    }

    #[tokio::test(start_paused = true)]
    async fn waits_up_to_max_block_then_fails() {
        let pool = MemoryPool::new(100);
        let _held = pool.reserve(100, Duration::ZERO).await.unwrap();
        let start = tokio::time::Instant::now();
        let err = pool
            .reserve(10, Duration::from_millis(250))
            .await
            .unwrap_err();
        assert!(matches!(
            err,
            ProducerError::BufferExhausted { requested: 10, .. }
        ));
        assert_eq!(start.elapsed(), Duration::from_millis(250));
    }

    #[tokio::test]
    async fn a_waiter_gets_memory_when_it_is_released() {
        let pool = MemoryPool::new(100);
        let held = pool.reserve(100, Duration::ZERO).await.unwrap();
        let p = pool.clone();
        let waiter = tokio::spawn(async move { p.reserve(60, Duration::from_secs(30)).await });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        drop(held);
        let got = waiter.await.unwrap().unwrap();
        assert_eq!(got.bytes(), 60);
    }

    #[tokio::test]
    async fn waiting_is_fair() {
        let pool = MemoryPool::new(100);
        let held = pool.reserve(90, Duration::ZERO).await.unwrap();
        // A big request waits first; a small one that would fit must not overtake it.
        let p = pool.clone();
        let big = tokio::spawn(async move { p.reserve(80, Duration::from_secs(30)).await });
        tokio::task::yield_now().await;
        assert!(matches!(
            pool.try_reserve(5),
            Err(ProducerError::WouldBlock { .. })
        ));
        let p = pool.clone();
        let small = tokio::spawn(async move { p.reserve(5, Duration::from_secs(30)).await });
        tokio::task::yield_now().await;
        assert!(!small.is_finished());
        drop(held);
        let big = big.await.unwrap().unwrap();
        let small = small.await.unwrap().unwrap();
        assert_eq!((big.bytes(), small.bytes(), pool.available()), (80, 5, 15));
    }

    #[tokio::test]
    async fn shrink_returns_the_rest() {
        let pool = MemoryPool::new(100);
        let mut r = pool.reserve(64, Duration::ZERO).await.unwrap();
        r.shrink_to(10);
        assert_eq!((r.bytes(), pool.available()), (10, 90));
        r.shrink_to(50);
        assert_eq!(r.bytes(), 10);
    }

    #[tokio::test]
    async fn close_wakes_waiters() {
        let pool = MemoryPool::new(10);
        let _held = pool.reserve(10, Duration::ZERO).await.unwrap();
        let p = pool.clone();
        let waiter = tokio::spawn(async move { p.reserve(5, Duration::from_secs(3600)).await });
        tokio::task::yield_now().await;
        pool.close();
        let err = tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .unwrap()
            .unwrap()
            .unwrap_err();
        assert!(matches!(err, ProducerError::Closed { .. }));
        assert!(matches!(
            pool.try_reserve(1),
            Err(ProducerError::Closed { .. })
        ));
    }

    #[tokio::test]
    async fn cancelled_wait_takes_nothing() {
        let pool = MemoryPool::new(10);
        let held = pool.reserve(10, Duration::ZERO).await.unwrap();
        let p = pool.clone();
        let waiter = tokio::spawn(async move { p.reserve(10, Duration::from_secs(3600)).await });
        tokio::task::yield_now().await;
        waiter.abort();
        let _ = waiter.await;
        drop(held);
        assert_eq!(pool.available(), 10);
        assert_eq!(pool.try_reserve(10).unwrap().bytes(), 10);
    }
}
