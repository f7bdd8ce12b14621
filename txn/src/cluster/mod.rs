//! [`ClusterTransport`]: the coordinator conversation over klamm-net's [`Cluster`], through
//! each broker's full service stack (throttle, request timeout, connection).

mod capped;

pub use capped::{ClientAddPartitionsToTxn, EndTxnV4};

use std::sync::{Arc, Mutex};

use klamm_net::{ApiVersions, BrokerService, Cluster, Error as NetError, KafkaRequest};
use klamm_protocol::ApiKey;
use klamm_protocol::messages::{FindCoordinatorRequest, RequestBody, ResponseBody};

use crate::coordinator::{CoordinatorTransport, Target, TransportError};

/// The finalized feature that enables KIP-890 part 2.
pub const TRANSACTION_VERSION_FEATURE: &str = "transaction.version";

/// Sends coordinator requests through a klamm-net [`Cluster`], and learns the cluster's
/// finalized `transaction.version` from the ApiVersions answers of the connections it uses.
#[derive(Debug, Clone)]
pub struct ClusterTransport {
    cluster: Cluster,
    /// `(features epoch, usable transaction version)` of the newest ApiVersions answer seen.
    features: Arc<Mutex<(i64, i16)>>,
}

impl ClusterTransport {
    /// A transport over `cluster` (shared: clones of a `Cluster` share connections).
    pub fn new(cluster: Cluster) -> Self {
        ClusterTransport {
            cluster,
            features: Arc::new(Mutex::new((i64::MIN, 0))),
        }
    }

    /// Notes the finalized features of the connection behind `svc` when they are at least as
    /// new (by features epoch) as the ones known, as Java's `ApiVersions` keeps the newest.
    fn observe(&self, svc: &BrokerService) {
        let versions = svc.connection().api_versions();
        let epoch = versions.finalized_features_epoch();
        let usable = usable_transaction_version(versions);
        let mut known = self.features.lock().unwrap_or_else(|p| p.into_inner());
        if epoch >= known.0 {
            if known.1 != usable {
                tracing::info!(
                    broker = svc.node_id(),
                    transaction_version = usable,
                    features_epoch = epoch,
                    "transaction version"
                );
            }
            *known = (epoch, usable);
        }
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
        self.observe(&svc);
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

    fn transaction_version(&self) -> i16 {
        self.features.lock().unwrap_or_else(|p| p.into_inner()).1
    }
}

/// The transaction version a client can use with this broker: the finalized
/// `transaction.version`, but at most 1 unless the broker also serves the versions that
/// carry version 2 (Produce v12 and EndTxn v5), as Java's `TransactionManager` checks.
fn usable_transaction_version(versions: &ApiVersions) -> i16 {
    let level = versions
        .finalized_feature(TRANSACTION_VERSION_FEATURE)
        .unwrap_or(0);
    let serves = |api, v| versions.broker_range(api).is_some_and(|(_, max)| max >= v);
    if level >= 2 && !(serves(ApiKey::Produce, 12) && serves(ApiKey::EndTxn, 5)) {
        return 1;
    }
    level
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
    fn transaction_version_needs_the_feature_and_the_versions() {
        use klamm_protocol::messages::ApiVersionsResponse;
        use klamm_protocol::messages::api_versions::response::{ApiVersion, FinalizedFeatureKey};
        let resp = |level: Option<i16>, produce_max: i16, end_txn_max: i16| {
            ApiVersions::from_response(&ApiVersionsResponse {
                api_keys: vec![
                    ApiVersion {
                        api_key: ApiKey::Produce.as_i16(),
                        min_version: 3,
                        max_version: produce_max,
                        ..Default::default()
                    },
                    ApiVersion {
                        api_key: ApiKey::EndTxn.as_i16(),
                        min_version: 0,
                        max_version: end_txn_max,
                        ..Default::default()
                    },
                ],
                finalized_features_epoch: 3,
                finalized_features: level
                    .map(|l| FinalizedFeatureKey {
                        name: TRANSACTION_VERSION_FEATURE.into(),
                        max_version_level: l,
                        min_version_level: l,
                        ..Default::default()
                    })
                    .into_iter()
                    .collect(),
                ..Default::default()
            })
        };
        assert_eq!(usable_transaction_version(&resp(Some(2), 12, 5)), 2);
        assert_eq!(usable_transaction_version(&resp(Some(2), 11, 5)), 1);
        assert_eq!(usable_transaction_version(&resp(Some(2), 12, 4)), 1);
        assert_eq!(usable_transaction_version(&resp(Some(1), 12, 5)), 1);
        assert_eq!(usable_transaction_version(&resp(None, 12, 5)), 0);
    }

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
