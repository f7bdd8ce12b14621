//! Coordinator lookup (FindCoordinator), batched in v4+, with a cache the caller invalidates.

use klamm_protocol::error_code::ErrorCode;
use klamm_protocol::messages::FindCoordinatorRequest;

use super::metadata::BrokerInfo;
use super::service::BrokerService;
use crate::error::Error;

/// What a coordinator coordinates (FindCoordinator `key_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CoordinatorType {
    /// A consumer group (key type 0).
    Group,
    /// A transactional id (key type 1).
    Transaction,
}

impl CoordinatorType {
    /// The wire `key_type`.
    pub fn key_type(self) -> i8 {
        match self {
            CoordinatorType::Group => 0,
            CoordinatorType::Transaction => 1,
        }
    }
}

/// Asks `svc` for the coordinators of `keys`: one request for all of them from v4 on, one
/// request per key before. Each key gets its broker or its own error.
pub(crate) async fn find(
    svc: &BrokerService,
    kind: CoordinatorType,
    keys: &[String],
) -> Result<Vec<(String, Result<BrokerInfo, Error>)>, Error> {
    let version = svc.version_for::<FindCoordinatorRequest>()?;
    if kind == CoordinatorType::Transaction && version < 1 {
        return Err(Error::NoCommonVersion {
            broker: svc.connection().broker().into(),
            api: klamm_protocol::ApiKey::FindCoordinator,
            broker_min: 0,
            broker_max: version,
            ours_min: 1,
            ours_max: 6,
        });
    }
    let mut out = Vec::with_capacity(keys.len());
    if version >= 4 {
        let resp = svc
            .send(FindCoordinatorRequest {
                key_type: kind.key_type(),
                coordinator_keys: keys.to_vec(),
                ..Default::default()
            })
            .await?;
        for key in keys {
            let found = resp.body.coordinators.iter().find(|c| &c.key == key);
            let r = match found {
                None => Err(Error::Kafka {
                    context: "FindCoordinator: key missing from the response",
                    code: ErrorCode::CoordinatorNotAvailable,
                    message: None,
                }),
                Some(c) => result(
                    c.error_code,
                    c.error_message.clone(),
                    c.node_id,
                    &c.host,
                    c.port,
                ),
            };
            out.push((key.clone(), r));
        }
    } else {
        for key in keys {
            let resp = svc
                .send(FindCoordinatorRequest {
                    key: key.clone(),
                    key_type: kind.key_type(),
                    ..Default::default()
                })
                .await?;
            let b = &resp.body;
            out.push((
                key.clone(),
                result(
                    b.error_code,
                    b.error_message.clone(),
                    b.node_id,
                    &b.host,
                    b.port,
                ),
            ));
        }
    }
    Ok(out)
}

fn result(
    code: i16,
    message: Option<String>,
    node_id: i32,
    host: &str,
    port: i32,
) -> Result<BrokerInfo, Error> {
    let code = ErrorCode::from_i16(code);
    if code.is_err() {
        return Err(Error::Kafka {
            context: "FindCoordinator",
            code,
            message,
        });
    }
    Ok(BrokerInfo {
        node_id,
        host: host.to_owned(),
        port,
        rack: None,
    })
}
