//! Client quotas (KIP-546): set, remove and describe quota configurations with
//! AlterClientQuotas and DescribeClientQuotas, through any broker of a [`Cluster`] (a Kafka
//! broker forwards AlterClientQuotas to the active controller).
//!
//! A quota applies to an *entity*: a client id, a user, or both, each either named or the
//! default of its type (name `None`). Kafka enforces `producer_byte_rate` and
//! `consumer_byte_rate` (bytes per second, whole numbers), `request_percentage` and
//! `controller_mutation_rate`. A refusal is a [`QuotaError::Kafka`] with the broker's error
//! code and message.
//!
//! Kafka answers DescribeClientQuotas from the broker's copy of the metadata log, which
//! follows the controller with a short lag, and each broker enforces a new quota once it has
//! read it: right after an alteration, a describe may still show the old values. Nothing
//! here retries; a caller that needs the new state polls.
//!
//! ```
//! use klamm_net::Cluster;
//! use klamm_net::quotas::{self, PRODUCER_BYTE_RATE, QuotaError};
//! use klamm_protocol::error_code::ErrorCode;
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let testkit = klamm_testkit::Cluster::builder().start().await?;
//! # let bootstrap = testkit.bootstrap();
//! let cluster = Cluster::builder().bootstrap(&bootstrap).connect().await?;
//!
//! // Producers with client id "orders" may send 1 MB/s to each broker.
//! quotas::set_client_quota(&cluster, Some("orders"), PRODUCER_BYTE_RATE, Some(1_000_000.0)).await?;
//! let values = quotas::describe_client_quota(&cluster, Some("orders")).await?;
//! assert_eq!(values.get(PRODUCER_BYTE_RATE), Some(&1_000_000.0));
//!
//! // A key Kafka does not know is refused with INVALID_REQUEST and a message.
//! let err = quotas::set_client_quota(&cluster, Some("orders"), "bogus", Some(1.0)).await.unwrap_err();
//! assert!(matches!(err, QuotaError::Kafka { code: ErrorCode::InvalidRequest, .. }));
//!
//! // Removed again.
//! quotas::set_client_quota(&cluster, Some("orders"), PRODUCER_BYTE_RATE, None).await?;
//! assert!(quotas::describe_client_quota(&cluster, Some("orders")).await?.is_empty());
//! # Ok(())
//! # }
//! ```

use std::collections::BTreeMap;

use klamm_protocol::error_code::ErrorCode;
use klamm_protocol::messages::alter_client_quotas::request::{EntityData, EntryData, OpData};
use klamm_protocol::messages::describe_client_quotas::request::ComponentData;
use klamm_protocol::messages::{AlterClientQuotasRequest, DescribeClientQuotasRequest};

use crate::cluster::Cluster;
use crate::error::Error;

/// The entity type of a client id.
pub const CLIENT_ID: &str = "client-id";
/// The entity type of an authenticated user (the principal's name).
pub const USER: &str = "user";
/// The quota key of a producer's byte rate, per broker, in bytes per second (whole numbers).
pub const PRODUCER_BYTE_RATE: &str = "producer_byte_rate";
/// The quota key of a consumer's byte rate, per broker, in bytes per second (whole numbers).
pub const CONSUMER_BYTE_RATE: &str = "consumer_byte_rate";
/// The quota key of the share of a broker's request-handler and network threads, in percent.
pub const REQUEST_PERCENTAGE: &str = "request_percentage";

/// A quota entity: its components, each an entity type ([`CLIENT_ID`], [`USER`]) with a name,
/// or `None` for the default entity of that type.
///
/// ```
/// use klamm_net::quotas::QuotaEntity;
/// let entity = QuotaEntity::user(Some("alice")).and_client_id(None);
/// assert_eq!(entity.to_string(), "user=alice, client-id=<default>");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct QuotaEntity {
    /// The components, in the order they are sent: (entity type, name or `None`).
    pub components: Vec<(String, Option<String>)>,
}

impl QuotaEntity {
    /// The entity of one client id, or of the default client id (`None`).
    ///
    /// ```
    /// use klamm_net::quotas::QuotaEntity;
    /// assert_eq!(QuotaEntity::client_id(None).to_string(), "client-id=<default>");
    /// ```
    pub fn client_id(name: Option<&str>) -> Self {
        QuotaEntity::default().and(CLIENT_ID, name)
    }

    /// The entity of one user, or of the default user (`None`).
    ///
    /// ```
    /// use klamm_net::quotas::QuotaEntity;
    /// assert_eq!(QuotaEntity::user(Some("bob")).components[0].0, "user");
    /// ```
    pub fn user(name: Option<&str>) -> Self {
        QuotaEntity::default().and(USER, name)
    }

    /// This entity with a client-id component added (a quota of one user's client id).
    ///
    /// ```
    /// use klamm_net::quotas::QuotaEntity;
    /// assert_eq!(QuotaEntity::user(None).and_client_id(Some("c")).components.len(), 2);
    /// ```
    pub fn and_client_id(self, name: Option<&str>) -> Self {
        self.and(CLIENT_ID, name)
    }

    /// This entity with a component of any type added.
    ///
    /// ```
    /// use klamm_net::quotas::QuotaEntity;
    /// let ip = QuotaEntity::default().and("ip", Some("127.0.0.1"));
    /// assert_eq!(ip.to_string(), "ip=127.0.0.1");
    /// ```
    pub fn and(mut self, entity_type: &str, name: Option<&str>) -> Self {
        self.components
            .push((entity_type.to_owned(), name.map(str::to_owned)));
        self
    }

    /// The component of `entity_type`, if any: `Some(None)` for the default entity.
    ///
    /// ```
    /// use klamm_net::quotas::QuotaEntity;
    /// let e = QuotaEntity::client_id(None);
    /// assert_eq!(e.get("client-id"), Some(None));
    /// assert_eq!(e.get("user"), None);
    /// ```
    pub fn get(&self, entity_type: &str) -> Option<Option<&str>> {
        self.components
            .iter()
            .find(|(t, _)| t == entity_type)
            .map(|(_, n)| n.as_deref())
    }

    fn sorted(&self) -> Vec<(String, Option<String>)> {
        let mut c = self.components.clone();
        c.sort();
        c
    }
}

impl std::fmt::Display for QuotaEntity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, (t, n)) in self.components.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{t}={}", n.as_deref().unwrap_or("<default>"))?;
        }
        Ok(())
    }
}

/// How a [`Filter`] component matches an entity type's name (DescribeClientQuotas).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Match {
    /// Exactly this name (match type 0).
    Exact(String),
    /// The default entity of the type (match type 1).
    Default,
    /// Any entity of the type (match type 2). The schema says "any specified name", but
    /// Kafka 4.1.1 returns the default entity of the type too, and so does klamm-testkit.
    Any,
}

/// One component of a DescribeClientQuotas filter.
///
/// ```
/// use klamm_net::quotas::{Filter, Match};
/// let f = Filter::client_id(Match::Exact("orders".into()));
/// assert_eq!(f.entity_type, "client-id");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    /// The entity type the component applies to.
    pub entity_type: String,
    /// How names of that type are matched.
    pub matching: Match,
}

impl Filter {
    /// A filter on client ids.
    ///
    /// ```
    /// use klamm_net::quotas::{Filter, Match};
    /// assert_eq!(Filter::client_id(Match::Default).matching, Match::Default);
    /// ```
    pub fn client_id(matching: Match) -> Self {
        Filter {
            entity_type: CLIENT_ID.to_owned(),
            matching,
        }
    }

    fn to_wire(&self) -> ComponentData {
        let (match_type, name) = match &self.matching {
            Match::Exact(n) => (0, Some(n.clone())),
            Match::Default => (1, None),
            Match::Any => (2, None),
        };
        ComponentData {
            entity_type: self.entity_type.clone(),
            match_type,
            r#match: name,
            ..ComponentData::default()
        }
    }
}

/// One entity's quota values, as DescribeClientQuotas lists them.
///
/// ```
/// use std::collections::BTreeMap;
/// use klamm_net::quotas::{DescribedQuota, QuotaEntity};
/// let d = DescribedQuota {
///     entity: QuotaEntity::client_id(Some("orders")),
///     values: BTreeMap::from([("producer_byte_rate".to_owned(), 1024.0)]),
/// };
/// assert_eq!(d.values["producer_byte_rate"], 1024.0);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct DescribedQuota {
    /// The entity, its components in the broker's order.
    pub entity: QuotaEntity,
    /// Quota key to value.
    pub values: BTreeMap<String, f64>,
}

/// Why a quota request failed.
///
/// ```
/// use klamm_net::quotas::QuotaError;
/// use klamm_protocol::error_code::ErrorCode;
/// let e = QuotaError::Kafka {
///     code: ErrorCode::InvalidRequest,
///     message: Some("Invalid configuration key bogus".into()),
/// };
/// assert!(e.to_string().ends_with("Invalid configuration key bogus"));
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum QuotaError {
    /// No broker could be reached, or the round trip failed.
    #[error("client quotas: {0}")]
    Net(#[from] Error),
    /// The broker refused the request (or the entity of an AlterClientQuotas) with an error
    /// code and, usually, a message.
    #[error("client quotas refused: {code}{}", .message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
    Kafka {
        /// Kafka's error code.
        code: ErrorCode,
        /// The broker's error message.
        message: Option<String>,
    },
    /// The AlterClientQuotas answer did not name the entity that was altered.
    #[error("the AlterClientQuotas answer does not name the entity {0}")]
    MissingEntity(QuotaEntity),
}

/// Sets (`Some`) or removes (`None`) one quota key of a client id (`Some`) or of the default
/// client id (`None`). Kafka requires byte rates to be whole numbers greater than 0.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let testkit = klamm_testkit::Cluster::builder().start().await?;
/// # let cluster = klamm_net::Cluster::builder().bootstrap(testkit.bootstrap()).connect().await?;
/// use klamm_net::quotas::{PRODUCER_BYTE_RATE, set_client_quota};
/// // Every client id without a quota of its own: 10 MB/s per broker.
/// set_client_quota(&cluster, None, PRODUCER_BYTE_RATE, Some(10_000_000.0)).await?;
/// # Ok(())
/// # }
/// ```
pub async fn set_client_quota(
    cluster: &Cluster,
    client_id: Option<&str>,
    key: &str,
    value: Option<f64>,
) -> Result<(), QuotaError> {
    alter_client_quotas(
        cluster,
        &QuotaEntity::client_id(client_id),
        &[(key, value)],
        false,
    )
    .await
}

/// Sets (`Some`) or removes (`None`) quota keys of one entity in one AlterClientQuotas
/// request; with `validate_only` the broker checks the change and applies nothing. Kafka
/// applies all of an entity's changes or none.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let testkit = klamm_testkit::Cluster::builder().start().await?;
/// # let cluster = klamm_net::Cluster::builder().bootstrap(testkit.bootstrap()).connect().await?;
/// use klamm_net::quotas::{self, QuotaEntity};
/// let alice = QuotaEntity::user(Some("alice"));
/// let ops = [("consumer_byte_rate", Some(2048.0)), ("request_percentage", Some(50.0))];
/// quotas::alter_client_quotas(&cluster, &alice, &ops, true).await?; // checked, not applied
/// quotas::alter_client_quotas(&cluster, &alice, &ops, false).await?;
/// # Ok(())
/// # }
/// ```
pub async fn alter_client_quotas(
    cluster: &Cluster,
    entity: &QuotaEntity,
    ops: &[(&str, Option<f64>)],
    validate_only: bool,
) -> Result<(), QuotaError> {
    let request = AlterClientQuotasRequest {
        entries: vec![EntryData {
            entity: entity
                .components
                .iter()
                .map(|(t, n)| EntityData {
                    entity_type: t.clone(),
                    entity_name: n.clone(),
                    ..EntityData::default()
                })
                .collect(),
            ops: ops
                .iter()
                .map(|&(key, value)| OpData {
                    key: key.to_owned(),
                    value: value.unwrap_or(0.0),
                    remove: value.is_none(),
                    ..OpData::default()
                })
                .collect(),
            ..EntryData::default()
        }],
        validate_only,
        ..AlterClientQuotasRequest::default()
    };
    let response = cluster.any_broker().await?.send(request).await?;
    // The broker names each entity once, its components in its own order.
    let wanted = entity.sorted();
    let entry = response.body.entries.iter().find(|e| {
        let mut got: Vec<(String, Option<String>)> = e
            .entity
            .iter()
            .map(|c| (c.entity_type.clone(), c.entity_name.clone()))
            .collect();
        got.sort();
        got == wanted
    });
    match entry {
        None => Err(QuotaError::MissingEntity(entity.clone())),
        Some(e) if e.error_code != 0 => Err(QuotaError::Kafka {
            code: ErrorCode::from_i16(e.error_code),
            message: e.error_message.clone(),
        }),
        Some(_) => Ok(()),
    }
}

/// The quota values of exactly one client id (`Some`) or of the default client id (`None`):
/// key to value, empty when none is set. Entities combining the client id with a user are
/// not included (a strict match).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let testkit = klamm_testkit::Cluster::builder().start().await?;
/// # let cluster = klamm_net::Cluster::builder().bootstrap(testkit.bootstrap()).connect().await?;
/// use klamm_net::quotas::describe_client_quota;
/// assert!(describe_client_quota(&cluster, Some("nobody")).await?.is_empty());
/// # Ok(())
/// # }
/// ```
pub async fn describe_client_quota(
    cluster: &Cluster,
    client_id: Option<&str>,
) -> Result<BTreeMap<String, f64>, QuotaError> {
    let matching = match client_id {
        Some(name) => Match::Exact(name.to_owned()),
        None => Match::Default,
    };
    let found = describe_client_quotas(cluster, &[Filter::client_id(matching)], true).await?;
    Ok(found
        .into_iter()
        .next()
        .map(|d| d.values)
        .unwrap_or_default())
}

/// Every entity matching all of `filters` with its quota values (DescribeClientQuotas).
/// With `strict`, entities with components of types the filters do not name are left out;
/// no filters and not `strict` lists every entity.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let testkit = klamm_testkit::Cluster::builder().start().await?;
/// # let cluster = klamm_net::Cluster::builder().bootstrap(testkit.bootstrap()).connect().await?;
/// use klamm_net::quotas::{self, Filter, Match, PRODUCER_BYTE_RATE};
/// quotas::set_client_quota(&cluster, Some("a"), PRODUCER_BYTE_RATE, Some(1000.0)).await?;
/// quotas::set_client_quota(&cluster, Some("b"), PRODUCER_BYTE_RATE, Some(2000.0)).await?;
/// // every named client id
/// let named = quotas::describe_client_quotas(&cluster, &[Filter::client_id(Match::Any)], false).await?;
/// assert_eq!(named.len(), 2);
/// # Ok(())
/// # }
/// ```
pub async fn describe_client_quotas(
    cluster: &Cluster,
    filters: &[Filter],
    strict: bool,
) -> Result<Vec<DescribedQuota>, QuotaError> {
    let request = DescribeClientQuotasRequest {
        components: filters.iter().map(Filter::to_wire).collect(),
        strict,
        ..DescribeClientQuotasRequest::default()
    };
    let response = cluster.any_broker().await?.send(request).await?;
    let body = response.body;
    if body.error_code != 0 {
        return Err(QuotaError::Kafka {
            code: ErrorCode::from_i16(body.error_code),
            message: body.error_message,
        });
    }
    Ok(body
        .entries
        .unwrap_or_default()
        .into_iter()
        .map(|e| DescribedQuota {
            entity: QuotaEntity {
                components: e
                    .entity
                    .into_iter()
                    .map(|c| (c.entity_type, c.entity_name))
                    .collect(),
            },
            values: e.values.into_iter().map(|v| (v.key, v.value)).collect(),
        })
        .collect())
}
