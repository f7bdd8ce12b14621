//! The tower layer.

use std::sync::Arc;

use tower::Layer;

use super::handle::{Shared, ThrottleHandle};
use super::service::ThrottleService;

/// A tower layer enforcing KIP-219 broker throttling for **one broker connection**.
///
/// Every service made by one layer (and every clone of them) shares one deadline, so build one
/// layer per connection: a throttle on broker 1 then never delays broker 2.
///
/// ```
/// use klamm_net::throttle::ThrottleLayer;
/// use tower::Layer;
///
/// let layer = ThrottleLayer::new("broker-1");
/// let handle = layer.handle();
/// let _svc = layer.layer(tower::service_fn(|x: u32| async move {
///     Ok::<_, tower::BoxError>(x)
/// }));
/// assert!(handle.deadline().is_none());
/// ```
#[derive(Debug, Clone)]
pub struct ThrottleLayer {
    shared: Arc<Shared>,
}

impl ThrottleLayer {
    /// A layer with a fresh deadline; `label` names the connection in tracing events
    /// (for example `"broker 1 (127.0.0.1:9092)"`).
    pub fn new(label: impl Into<Arc<str>>) -> Self {
        ThrottleLayer {
            shared: Shared::new(label.into()),
        }
    }

    /// The handle to close this connection's gate and read its deadline and metrics.
    pub fn handle(&self) -> ThrottleHandle {
        ThrottleHandle {
            shared: self.shared.clone(),
        }
    }
}

impl<S> Layer<S> for ThrottleLayer {
    type Service = ThrottleService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ThrottleService::new(inner, self.shared.clone())
    }
}
