//! KIP-219 throttling as a tower layer: the fix for the sarama throttle bug.
//!
//! One deadline per broker connection, held in one atomic and only ever moved forward
//! (`fetch_max`): a shorter throttle never shortens a longer one. Every response's
//! `throttle_time_ms` raises it (unless the broker already delayed that response, as it did
//! before KIP-219); `poll_ready` waits for it on a tokio timer holding no lock; a
//! [`ThrottleHandle::close`] wakes every waiter at once with [`ThrottleError::Closed`];
//! dropping a waiting caller's future cancels its wait and nothing else.
//!
//! ```
//! use std::time::Duration;
//! use klamm_net::throttle::{ThrottleError, ThrottleLayer, ThrottleTime};
//! use tower::{Layer, ServiceExt};
//!
//! struct Resp(i32);
//! impl ThrottleTime for Resp {
//!     fn throttle_time_ms(&self) -> Option<i32> { Some(self.0) }
//! }
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), tower::BoxError> {
//! let layer = ThrottleLayer::new("broker-1");
//! let handle = layer.handle();
//! let svc = layer.layer(tower::service_fn(|ms: i32| async move { Ok::<_, tower::BoxError>(Resp(ms)) }));
//!
//! let start = tokio::time::Instant::now();
//! svc.clone().oneshot(250).await?;            // the broker says: throttled for 250 ms
//! svc.clone().oneshot(0).await?;              // so this one waits until the deadline
//! assert!(start.elapsed() >= Duration::from_millis(250));
//!
//! handle.observe(3_600_000, false);           // a one-hour throttle...
//! handle.close();                             // ...and close wakes the waiters at once
//! let err = svc.oneshot(0).await.err().expect("closed");
//! assert!(matches!(err.downcast_ref(), Some(ThrottleError::Closed)));
//! # Ok(())
//! # }
//! ```

mod deadline;
mod error;
mod future;
mod handle;
mod kip219;
mod layer;
mod metrics;
mod service;

pub use error::ThrottleError;
pub use future::ResponseFuture;
pub use handle::ThrottleHandle;
pub use kip219::{ThrottleTime, broker_delays_response};
pub use layer::ThrottleLayer;
pub use metrics::ThrottleMetrics;
pub use service::ThrottleService;
