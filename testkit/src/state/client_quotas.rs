//! Client quota configurations as Kafka's KRaft controller keeps them (KIP-546): a map from
//! quota entity (user, client id or ip, each named or the default) to quota key and value,
//! altered with Kafka's validation and messages (`ClientQuotaControlManager`) and described
//! with its filter semantics (`ClientQuotasImage.describe`). The messages were checked against
//! Apache Kafka 4.1.1 (klamm-net's `tests/client_quotas.rs`).
//!
//! This is configuration only: [`super::quota::Quotas`] reads `producer_byte_rate` of the
//! client-id entities from here and enforces it; the other keys and the user and ip entities
//! are stored and described back, not enforced.

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::codes;

/// The entity type of a client id.
pub const CLIENT_ID: &str = "client-id";
/// The entity type of a user (principal name).
pub const USER: &str = "user";
/// The entity type of a client IP address.
pub const IP: &str = "ip";
/// Producer byte rate per broker (a whole number of bytes per second); enforced.
pub const PRODUCER_BYTE_RATE: &str = "producer_byte_rate";
/// Consumer byte rate per broker (a whole number of bytes per second); stored only.
pub const CONSUMER_BYTE_RATE: &str = "consumer_byte_rate";
/// Share of request handler and network thread time, in percent; stored only.
pub const REQUEST_PERCENTAGE: &str = "request_percentage";
/// Rate of partition mutations (KIP-599); stored only.
pub const CONTROLLER_MUTATION_RATE: &str = "controller_mutation_rate";
/// New connections per second from one IP; stored only.
pub const CONNECTION_CREATION_RATE: &str = "connection_creation_rate";

/// The value type of a quota key, which decides the values Kafka accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyType {
    Long,
    Int,
    Double,
}

/// The keys Kafka allows for user and client-id entities (`QuotaConfig.userAndClientQuotaConfigs`).
const USER_CLIENT_KEYS: &[(&str, KeyType)] = &[
    (PRODUCER_BYTE_RATE, KeyType::Long),
    (CONSUMER_BYTE_RATE, KeyType::Long),
    (REQUEST_PERCENTAGE, KeyType::Double),
    (CONTROLLER_MUTATION_RATE, KeyType::Double),
];

/// The keys Kafka allows for ip entities (`QuotaConfig.ipConfigs`).
const IP_KEYS: &[(&str, KeyType)] = &[(CONNECTION_CREATION_RATE, KeyType::Int)];

/// A quota entity: entity type to name (`None`: the default entity of that type). Ordered by
/// type, which is also the order Kafka lists the components of a user and client-id entity in.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct QuotaEntity(BTreeMap<String, Option<String>>);

impl QuotaEntity {
    /// The entity of one client id (`Some`) or the default client id (`None`).
    pub fn client_id(name: Option<&str>) -> Self {
        QuotaEntity::from_parts([(CLIENT_ID.to_owned(), name.map(str::to_owned))])
    }

    /// An entity from (type, name) pairs; a repeated type keeps its last name, as Kafka's
    /// request parsing (a Java map) does.
    pub fn from_parts(parts: impl IntoIterator<Item = (String, Option<String>)>) -> Self {
        QuotaEntity(parts.into_iter().collect())
    }

    /// The (type, name) pairs, ordered by type.
    pub fn parts(&self) -> impl Iterator<Item = (&str, Option<&str>)> {
        self.0.iter().map(|(t, n)| (t.as_str(), n.as_deref()))
    }

    /// The name of the `entity_type` component: `Some(None)` for the default entity.
    pub fn get(&self, entity_type: &str) -> Option<Option<&str>> {
        self.0.get(entity_type).map(Option::as_deref)
    }

    /// Whether the entity is one client id or the default client id, nothing else: the only
    /// entities whose `producer_byte_rate` the testkit enforces.
    pub fn client_id_only(&self) -> Option<Option<&str>> {
        (self.0.len() == 1).then(|| self.get(CLIENT_ID)).flatten()
    }

    /// Java's `ClientQuotaEntity.toString`, as Kafka's messages print it.
    fn java(&self) -> String {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|(t, n)| format!("{t}={}", n.as_deref().unwrap_or("null")))
            .collect();
        format!("ClientQuotaEntity(entries={{{}}})", parts.join(", "))
    }
}

/// A refusal: Kafka's error code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaRefusal {
    /// The error code (INVALID_REQUEST, UNSUPPORTED_VERSION).
    pub code: i16,
    /// Kafka's message.
    pub message: String,
}

fn invalid(message: impl Into<String>) -> QuotaRefusal {
    QuotaRefusal {
        code: codes::INVALID_REQUEST,
        message: message.into(),
    }
}

/// One requested change: set the key to `Some(value)` or remove it (`None`).
#[derive(Debug, Clone, PartialEq)]
pub struct QuotaOp {
    /// The quota key.
    pub key: String,
    /// The new value, `None` to remove.
    pub value: Option<f64>,
}

/// One component of a DescribeClientQuotas filter, as on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterComponent {
    /// The entity type.
    pub entity_type: String,
    /// 0 exact name, 1 default, 2 any named entity.
    pub match_type: i8,
    /// The name for an exact match.
    pub name: Option<String>,
}

/// One entity's values, as described.
pub type Described = (QuotaEntity, BTreeMap<String, f64>);

/// Every configured quota, by entity.
#[derive(Debug, Clone, Default)]
pub struct ClientQuotaConfigs {
    entities: BTreeMap<QuotaEntity, BTreeMap<String, f64>>,
}

impl ClientQuotaConfigs {
    /// The value of `key` for `entity`, if set.
    pub fn get(&self, entity: &QuotaEntity, key: &str) -> Option<f64> {
        self.entities.get(entity)?.get(key).copied()
    }

    /// Every entity with its values.
    pub fn all(&self) -> impl Iterator<Item = (&QuotaEntity, &BTreeMap<String, f64>)> {
        self.entities.iter()
    }

    /// Sets (`Some`) or removes (`None`) a value without any validation (the control API).
    pub fn set(&mut self, entity: &QuotaEntity, key: &str, value: Option<f64>) {
        match value {
            Some(v) => {
                self.entities
                    .entry(entity.clone())
                    .or_default()
                    .insert(key.to_owned(), v);
            }
            None => {
                if let Some(values) = self.entities.get_mut(entity) {
                    values.remove(key);
                    if values.is_empty() {
                        self.entities.remove(entity);
                    }
                }
            }
        }
    }

    /// AlterClientQuotas: validates every entry as Kafka's controller does and, unless
    /// `validate_only`, applies the changes of the entries that passed. Returns one result per
    /// distinct entity, in the order the request first names it.
    ///
    /// Kafka's quirks are kept: a repeated key makes the entity's result "Ignoring duplicate
    /// entity"; an entity named by two entries gets that error too while the first entry's
    /// changes are still applied; removing a key that is not set (even an unknown one) succeeds.
    pub fn alter(
        &mut self,
        entries: Vec<(QuotaEntity, Vec<QuotaOp>)>,
        validate_only: bool,
    ) -> Vec<(QuotaEntity, Result<(), QuotaRefusal>)> {
        let mut results: Vec<(QuotaEntity, Result<(), QuotaRefusal>)> = Vec::new();
        let mut changes: Vec<(QuotaEntity, String, Option<f64>)> = Vec::new();
        for (entity, ops) in entries {
            let mut alterations: Vec<(String, Option<f64>)> = Vec::new();
            let mut duplicate_key = false;
            for op in ops {
                if alterations.iter().any(|(k, _)| *k == op.key) {
                    duplicate_key = true;
                } else {
                    alterations.push((op.key, op.value));
                }
            }
            let seen = results.iter().position(|(e, _)| *e == entity);
            if duplicate_key || seen.is_some() {
                let refusal = Err(invalid(format!(
                    "Ignoring duplicate entity {}",
                    entity.java()
                )));
                match seen {
                    Some(i) => results[i].1 = refusal,
                    None => results.push((entity, refusal)),
                }
                continue;
            }
            let result = self.check_entity(&entity, &alterations);
            if result.is_ok() {
                for (key, value) in alterations {
                    // Only removals of keys that are set become records in Kafka.
                    if value.is_some() || self.get(&entity, &key).is_some() {
                        changes.push((entity.clone(), key, value));
                    }
                }
            }
            results.push((entity, result));
        }
        if !validate_only {
            for (entity, key, value) in changes {
                self.set(&entity, &key, value);
            }
        }
        results
    }

    /// Kafka's checks of one entity and its alterations (`alterClientQuotaEntity`).
    fn check_entity(
        &self,
        entity: &QuotaEntity,
        alterations: &[(String, Option<f64>)],
    ) -> Result<(), QuotaRefusal> {
        if entity.0.is_empty() {
            return Err(invalid("Invalid empty client quota entity"));
        }
        for (t, name) in entity.parts() {
            if ![USER, CLIENT_ID, IP].contains(&t) {
                return Err(invalid(format!("Unhandled client quota entity type: {t}")));
            }
            if name == Some("") {
                return Err(invalid(format!("Empty {t} not supported")));
            }
        }
        let keys = match entity.get(IP) {
            Some(_) if entity.0.len() > 1 => {
                // Kafka's message, missing space included.
                return Err(invalid(
                    "Invalid quota entity combination, IP entity shouldnot be combined with User or ClientId",
                ));
            }
            // Kafka resolves host names too; the testkit stays off DNS and takes literals only.
            Some(Some(ip)) if ip.parse::<IpAddr>().is_err() => {
                return Err(invalid(format!(
                    "{ip} is not a valid IP or resolvable host."
                )));
            }
            Some(_) => IP_KEYS,
            None => USER_CLIENT_KEYS,
        };
        for (key, value) in alterations {
            if let Some(v) = value {
                check_value(keys, key, *v)?;
            }
        }
        Ok(())
    }

    /// DescribeClientQuotas: the entities matching every filter component (and, with
    /// `strict`, having no other component), ordered by entity; a bad filter is refused with
    /// Kafka's code and message.
    pub fn describe(
        &self,
        filter: &[FilterComponent],
        strict: bool,
    ) -> Result<Vec<Described>, QuotaRefusal> {
        // entity type -> Some(name or None for the default) for exact matches, None for "any"
        let mut wanted: BTreeMap<&str, Option<Option<&str>>> = BTreeMap::new();
        for c in filter {
            let t = c.entity_type.as_str();
            if t.is_empty() {
                return Err(invalid("Invalid empty entity type."));
            }
            if wanted.contains_key(t) {
                return Err(invalid(format!(
                    "Entity type {t} cannot appear more than once in the filter."
                )));
            }
            if ![IP, USER, CLIENT_ID].contains(&t) {
                return Err(QuotaRefusal {
                    code: codes::UNSUPPORTED_VERSION,
                    message: format!("Unsupported entity type {t}"),
                });
            }
            let name = c.name.as_deref();
            let m = match (c.match_type, name) {
                (0, None) => {
                    return Err(invalid(
                        "Request specified MATCH_TYPE_EXACT, but set match string to null.",
                    ));
                }
                (0, Some(n)) => Some(Some(n)),
                (1, None) => Some(None),
                (1, Some(_)) => {
                    return Err(invalid(
                        "Request specified MATCH_TYPE_DEFAULT, but also specified a match string.",
                    ));
                }
                (2, None) => None,
                (2, Some(_)) => {
                    return Err(invalid(
                        "Request specified MATCH_TYPE_SPECIFIED, but also specified a match string.",
                    ));
                }
                (other, _) => return Err(invalid(format!("Unknown match type {other}"))),
            };
            wanted.insert(t, m);
        }
        if wanted.contains_key(IP) && (wanted.contains_key(USER) || wanted.contains_key(CLIENT_ID))
        {
            return Err(invalid(
                "Invalid entity filter component combination. IP filter component should not be used with user or clientId filter component.",
            ));
        }
        if wanted.is_empty() && strict {
            return Ok(Vec::new());
        }
        let matches = |e: &QuotaEntity| {
            (!strict || e.0.len() == wanted.len())
                && wanted.iter().all(|(t, m)| match (e.get(t), m) {
                    (None, _) => false,
                    (Some(_), None) => true,
                    (Some(name), Some(want)) => name == *want,
                })
        };
        Ok(self
            .entities
            .iter()
            .filter(|(e, _)| matches(e))
            .map(|(e, v)| (e.clone(), v.clone()))
            .collect())
    }
}

/// Kafka's `validateQuotaKeyValue`.
fn check_value(keys: &[(&str, KeyType)], key: &str, value: f64) -> Result<(), QuotaRefusal> {
    let Some(&(_, ty)) = keys.iter().find(|(k, _)| *k == key) else {
        return Err(invalid(format!("Invalid configuration key {key}")));
    };
    if value <= 0.0 {
        return Err(invalid(format!("Quota {key} must be greater than 0")));
    }
    let (max, what) = match ty {
        KeyType::Double => return Ok(()),
        KeyType::Int => (f64::from(i32::MAX), "an INT"),
        KeyType::Long => (i64::MAX as f64, "a LONG"),
    };
    if value > max {
        return Err(invalid(format!(
            "Proposed value for {key} is too large for {what}."
        )));
    }
    if (value % 1.0).abs() > 1e-6 {
        return Err(invalid(format!("{key} cannot be a fractional value.")));
    }
    Ok(())
}

#[cfg(test)]
#[path = "client_quotas_tests.rs"]
mod tests;
