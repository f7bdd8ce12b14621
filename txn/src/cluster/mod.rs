//! [`ClusterTransport`]: the coordinator conversation over klamm-net's [`Cluster`], through
//! each broker's full service stack (throttle, request timeout, connection).

mod capped;

pub use capped::{ClientAddPartitionsToTxn, EndTxnV4};

use klamm_net::{BrokerService, Cluster, Error as NetError, KafkaRequest};
use klamm_protocol::messages::{FindCoordinatorRequest, RequestBody, ResponseBody};

use crate::coordinator::{CoordinatorTransport, Target, TransportError};

/// Sends coordinator requests through a klamm-net [`Cluster`].
#[derive(Debug, Clone)]
pub struct ClusterTransport {
    cluster: Cluster,
}

impl ClusterTransport {
    /// A transport over `cluster` (shared: clones of a `Cluster` share connections).
    pub fn new(cluster: Cluster) -> Self {
        ClusterTransport { cluster }
    }

    /// The cluster.
    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    async fn service(&self, target: Target) -> Result<BrokerService, TransportError> {
        let r = match target {
            Target::AnyBroker => self.cluster.any_broker().await,
            Target::Node(n) => self.cluster.broker(n).await,
        };
        r.map_err(|e| {
            if matches!(target, Target::Node(_)) {
                // the node may be new (a coordinator that moved): learn it
                self.cluster.request_refresh();
            }
            map_error(target, e)
        })
    }

    async fn call<R: KafkaRequest>(
        &self,
        svc: &BrokerService,
        target: Target,
        req: R,
        wrap: impl FnOnce(R::Response) -> ResponseBody,
    ) -> Result<(ResponseBody, i16), TransportError> {
        let resp = svc.send(req).await.map_err(|e| map_error(target, e))?;
        Ok((wrap(resp.body), resp.version))
    }
}

impl CoordinatorTransport for ClusterTransport {
    async fn send(
        &self,
        target: Target,
        request: RequestBody,
        max_version: i16,
    ) -> Result<(ResponseBody, i16), TransportError> {
        let svc = self.service(target).await?;
        match request {
            RequestBody::FindCoordinator(r) => {
                let version = svc
                    .version_for::<FindCoordinatorRequest>()
                    .map_err(|e| map_error(target, e))?;
                let r = shape_find_coordinator(r, version);
                self.call(&svc, target, r, ResponseBody::FindCoordinator)
                    .await
            }
            RequestBody::InitProducerId(r) => {
                self.call(&svc, target, r, ResponseBody::InitProducerId)
                    .await
            }
            RequestBody::AddPartitionsToTxn(r) if max_version <= 3 => {
                self.call(
                    &svc,
                    target,
                    ClientAddPartitionsToTxn(r),
                    ResponseBody::AddPartitionsToTxn,
                )
                .await
            }
            RequestBody::AddPartitionsToTxn(r) => {
                self.call(&svc, target, r, ResponseBody::AddPartitionsToTxn)
                    .await
            }
            RequestBody::AddOffsetsToTxn(r) => {
                self.call(&svc, target, r, ResponseBody::AddOffsetsToTxn)
                    .await
            }
            RequestBody::TxnOffsetCommit(r) => {
                self.call(&svc, target, r, ResponseBody::TxnOffsetCommit)
                    .await
            }
            RequestBody::EndTxn(r) if max_version <= 4 => {
                self.call(&svc, target, EndTxnV4(r), ResponseBody::EndTxn)
                    .await
            }
            RequestBody::EndTxn(r) => self.call(&svc, target, r, ResponseBody::EndTxn).await,
            other => Err(TransportError::Protocol {
                target,
                detail: format!("{:?} is not a coordinator request", other.api_key()),
            }),
        }
    }
}

/// Keeps the one key field that exists at `version`: `key` up to v3, `coordinator_keys` from
/// v4 (the encoder refuses a set field the version does not have).
fn shape_find_coordinator(mut r: FindCoordinatorRequest, version: i16) -> FindCoordinatorRequest {
    if version >= 4 {
        if r.coordinator_keys.is_empty() && !r.key.is_empty() {
            r.coordinator_keys.push(std::mem::take(&mut r.key));
        }
        r.key.clear();
    } else {
        if r.key.is_empty()
            && let Some(k) = r.coordinator_keys.first()
        {
            r.key = k.clone();
        }
        r.coordinator_keys.clear();
    }
    r
}

/// What a klamm-net error means for a coordinator request.
fn map_error(target: Target, e: NetError) -> TransportError {
    match e {
        NetError::Timeout | NetError::ConnectTimeout { .. } => TransportError::Timeout { target },
        NetError::NoBroker(detail) => TransportError::Unreachable { target, detail },
        NetError::UnsupportedApi { api, .. } | NetError::NoCommonVersion { api, .. } => {
            TransportError::Unsupported {
                target,
                api: api.name(),
            }
        }
        NetError::Closed => TransportError::Closed,
        e if e.is_retriable() => TransportError::Disconnected { target },
        e => TransportError::Protocol {
            target,
            detail: e.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use klamm_protocol::Message;

    #[test]
    fn find_coordinator_is_shaped_for_every_version() {
        let r = crate::coordinator::find_coordinator_request("orders-3", 1);
        for v in 1..=6 {
            let shaped = shape_find_coordinator(r.clone(), v);
            let bytes = shaped.to_bytes(v).expect("encodes");
            let back = FindCoordinatorRequest::decode(&bytes, v).expect("decodes");
            if v >= 4 {
                assert_eq!(back.coordinator_keys, vec!["orders-3".to_owned()], "v{v}");
            } else {
                assert_eq!(back.key, "orders-3", "v{v}");
            }
        }
    }
}
