//! One entry per broker id: its address, its throttle deadline (kept across reconnects, and
//! shared with the other lanes' entries of the same broker) and its current connection,
//! reconnected on demand with exponential backoff and jitter.

use std::sync::{Arc, Mutex, MutexGuard};

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use tokio::time::Instant;

use super::service::BrokerService;
use crate::backoff::backoff;
use crate::config::ConnectionConfig;
use crate::connection::BrokerConnection;
use crate::error::Error;
use crate::throttle::ThrottleLayer;

type Connecting = Shared<BoxFuture<'static, Result<BrokerConnection, Error>>>;

enum State {
    Idle { failures: u32, retry_at: Instant },
    Connecting { fut: Connecting, failures: u32 },
    Connected(BrokerConnection),
}

/// A broker of the pool.
pub(crate) struct BrokerEntry {
    node_id: i32,
    addr: Mutex<String>,
    throttle: ThrottleLayer,
    state: Mutex<State>,
}

impl BrokerEntry {
    pub(crate) fn new(node_id: i32, addr: String, throttle: ThrottleLayer) -> Arc<Self> {
        Arc::new(BrokerEntry {
            node_id,
            throttle,
            addr: Mutex::new(addr),
            state: Mutex::new(State::Idle {
                failures: 0,
                retry_at: Instant::now(),
            }),
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn addr(&self) -> String {
        self.addr.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Updates the address from fresh metadata; the current connection is kept until it
    /// breaks.
    pub(crate) fn set_addr(&self, addr: &str) {
        let mut a = self.addr.lock().unwrap_or_else(|p| p.into_inner());
        if *a != addr {
            *a = addr.to_owned();
        }
    }

    pub(crate) fn throttle(&self) -> &ThrottleLayer {
        &self.throttle
    }

    /// Whether a healthy connection is open now.
    pub(crate) fn is_connected(&self) -> bool {
        matches!(&*self.state(), State::Connected(c) if !c.is_closed())
    }

    /// Whether the last connection broke (and no reconnect has started yet).
    pub(crate) fn has_broken_connection(&self) -> bool {
        matches!(&*self.state(), State::Connected(c) if c.is_closed())
    }

    /// The broker's service if its connection is open and healthy now.
    pub(crate) fn connected_service(&self, config: &ConnectionConfig) -> Option<BrokerService> {
        match &*self.state() {
            State::Connected(c) if !c.is_closed() => Some(self.wrap(c.clone(), config)),
            _ => None,
        }
    }

    /// The broker's service, connecting first if needed (after the backoff of previous
    /// failures).
    pub(crate) async fn service(&self, config: &ConnectionConfig) -> Result<BrokerService, Error> {
        let fut = {
            let mut st = self.state();
            match &*st {
                State::Connected(c) if !c.is_closed() => {
                    return Ok(self.wrap(c.clone(), config));
                }
                State::Connected(c) => {
                    tracing::debug!(node = self.node_id, reason = ?c.closed_reason(), "connection broken; reconnecting");
                    let fut = self.connect_after(Instant::now(), config);
                    *st = State::Connecting {
                        fut: fut.clone(),
                        failures: 0,
                    };
                    fut
                }
                State::Connecting { fut, .. } => fut.clone(),
                State::Idle { failures, retry_at } => {
                    let failures = *failures;
                    let fut = self.connect_after(*retry_at, config);
                    *st = State::Connecting {
                        fut: fut.clone(),
                        failures,
                    };
                    fut
                }
            }
        };
        let result = fut.clone().await;
        {
            let mut st = self.state();
            if let State::Connecting { fut: f, failures } = &*st
                && f.ptr_eq(&fut)
            {
                *st = match &result {
                    Ok(c) => State::Connected(c.clone()),
                    Err(e) => {
                        let failures = failures.saturating_add(1);
                        let wait = backoff(
                            config.reconnect_backoff,
                            config.reconnect_backoff_max,
                            failures - 1,
                        );
                        tracing::info!(node = self.node_id, error = %e, failures, retry_in_ms = wait.as_millis() as u64, "connect failed");
                        State::Idle {
                            failures,
                            retry_at: Instant::now() + wait,
                        }
                    }
                };
            }
        }
        let conn = result?;
        Ok(self.wrap(conn, config))
    }

    fn connect_after(&self, at: Instant, config: &ConnectionConfig) -> Connecting {
        let addr = self.addr();
        let config = config.clone();
        let throttle = self.throttle.handle();
        async move {
            tokio::time::sleep_until(at).await;
            BrokerConnection::connect_with_throttle(&addr, &config, Some(throttle)).await
        }
        .boxed()
        .shared()
    }

    fn wrap(&self, conn: BrokerConnection, config: &ConnectionConfig) -> BrokerService {
        BrokerService::new(self.node_id, conn, &self.throttle, config.request_timeout)
    }

    /// Closes the connection if it has had nothing in flight for `max_idle`
    /// (`connections.max.idle.ms`); the next request opens a new one at once, without the
    /// metadata refresh a broken connection brings. Returns whether it closed one.
    pub(crate) fn close_if_idle(&self, max_idle: std::time::Duration) -> bool {
        let mut st = self.state();
        let State::Connected(c) = &*st else {
            return false;
        };
        if c.is_closed() || c.idle_for() < max_idle {
            return false;
        }
        tracing::debug!(node = self.node_id, idle = ?c.idle_for(), "closing idle connection");
        c.close();
        *st = State::Idle {
            failures: 0,
            retry_at: Instant::now(),
        };
        true
    }

    /// Closes the connection and the throttle gate (waking its waiters).
    pub(crate) fn close(&self) {
        self.throttle.handle().close();
        if let State::Connected(c) = &*self.state() {
            c.close();
        }
    }
}
