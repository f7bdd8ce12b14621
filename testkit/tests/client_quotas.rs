//! Client quotas over the wire (AlterClientQuotas, DescribeClientQuotas; KIP-546): a
//! `producer_byte_rate` set with AlterClientQuotas throttles that client id's Produce and no
//! other, is described back, and is lifted by removing it; `validate_only` changes nothing;
//! bad keys and entity types get Kafka's error codes and messages.

mod common;

use std::collections::BTreeMap;

use common::{Client, batch, broker_addr};
use klamm_protocol::ApiKey;
use klamm_protocol::messages::alter_client_quotas::request::{EntityData, EntryData, OpData};
use klamm_protocol::messages::describe_client_quotas::request::ComponentData;
use klamm_protocol::messages::{
    AlterClientQuotasRequest, AlterClientQuotasResponse, ApiVersionsRequest,
    DescribeClientQuotasRequest, DescribeClientQuotasResponse,
};
use klamm_testkit::Cluster;
use klamm_testkit::codes::{INVALID_REQUEST, UNSUPPORTED_VERSION};
use klamm_testkit::requests::produce as produce_req;

const LIMITED: &str = "limited";
const FREE: &str = "free";

/// One AlterClientQuotas entry: `ops` on the entity `entity_type`=`name` (`None`: default).
fn alter(
    entity_type: &str,
    name: Option<&str>,
    ops: &[(&str, Option<f64>)],
    validate_only: bool,
) -> AlterClientQuotasRequest {
    AlterClientQuotasRequest {
        entries: vec![EntryData {
            entity: vec![EntityData {
                entity_type: entity_type.into(),
                entity_name: name.map(Into::into),
                ..Default::default()
            }],
            ops: ops
                .iter()
                .map(|&(key, value)| OpData {
                    key: key.into(),
                    value: value.unwrap_or(0.0),
                    remove: value.is_none(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }],
        validate_only,
        ..Default::default()
    }
}

/// The one entry's (error code, message) of an AlterClientQuotas answer.
fn outcome(r: &AlterClientQuotasResponse) -> (i16, Option<&str>) {
    assert_eq!(r.entries.len(), 1, "{r:?}");
    (
        r.entries[0].error_code,
        r.entries[0].error_message.as_deref(),
    )
}

/// DescribeClientQuotas of exactly the client-id entity `name`.
fn describe(name: &str) -> DescribeClientQuotasRequest {
    DescribeClientQuotasRequest {
        components: vec![ComponentData {
            entity_type: "client-id".into(),
            match_type: 0,
            r#match: Some(name.into()),
            ..Default::default()
        }],
        strict: true,
        ..Default::default()
    }
}

/// The described values of the single matching entity, or none.
fn values(r: &DescribeClientQuotasResponse) -> BTreeMap<String, f64> {
    assert_eq!(r.error_code, 0, "{r:?}");
    let entries = r.entries.as_ref().expect("entries");
    assert!(entries.len() <= 1, "{r:?}");
    entries
        .iter()
        .flat_map(|e| e.values.iter().map(|v| (v.key.clone(), v.value)))
        .collect()
}

/// A connection to broker 0 as `client_id`.
async fn client(cluster: &Cluster, client_id: &str) -> Client {
    let mut c = Client::connect(broker_addr(cluster, 0)).await;
    c.client_id = Some(client_id.into());
    c
}

/// Produces four records of 50,000 bytes to `t-0`; returns the throttle time.
async fn produce_200k(c: &mut Client) -> i32 {
    let big = "x".repeat(50_000);
    let values: Vec<&str> = vec![big.as_str(); 4];
    let r = c
        .call(&produce_req("t", 0, -1, batch(&values, None, false)), 9)
        .await;
    assert_eq!(r.responses[0].partition_responses[0].error_code, 0);
    r.throttle_time_ms
}

#[tokio::test]
async fn a_producer_byte_rate_set_over_the_wire_throttles_that_client_id_only() {
    let cluster = Cluster::builder().topic("t", 1).start().await.unwrap();
    let mut admin = client(&cluster, "admin").await;

    // Both APIs are advertised, versions 0-1.
    let versions = admin.call(&ApiVersionsRequest::default(), 3).await;
    for key in [ApiKey::DescribeClientQuotas, ApiKey::AlterClientQuotas] {
        let k = versions.api_keys.iter().find(|k| k.api_key == key.as_i16());
        assert_eq!(k.map(|k| (k.min_version, k.max_version)), Some((0, 1)));
    }

    // 10 KB/s for "limited", set at v1 (flexible) and described back at v0.
    let set = alter(
        "client-id",
        Some(LIMITED),
        &[("producer_byte_rate", Some(10_000.0))],
        false,
    );
    assert_eq!(outcome(&admin.call(&set, 1).await), (0, None));
    let described = values(&admin.call(&describe(LIMITED), 0).await);
    assert_eq!(
        described,
        BTreeMap::from([("producer_byte_rate".into(), 10_000.0)])
    );

    // 200 KB in the 10 s minimum window: 20 KB/s, twice the quota: about 10 s of throttle.
    let mut limited = client(&cluster, LIMITED).await;
    let throttle = produce_200k(&mut limited).await;
    assert!((9_000..=11_000).contains(&throttle), "{throttle}");
    // Another client id on the same broker is not throttled.
    let mut free = client(&cluster, FREE).await;
    assert_eq!(produce_200k(&mut free).await, 0);
    assert_eq!(produce_200k(&mut free).await, 0);
    assert_eq!(cluster.quota_throttle_counts(), BTreeMap::from([(0, 1)]));

    // Removed: described as nothing, and "limited" (on a new connection: the old one is muted
    // until its throttle has passed) is no longer throttled although its rate is still high.
    let remove = alter(
        "client-id",
        Some(LIMITED),
        &[("producer_byte_rate", None)],
        false,
    );
    assert_eq!(outcome(&admin.call(&remove, 0).await), (0, None));
    assert!(values(&admin.call(&describe(LIMITED), 1).await).is_empty());
    let mut again = client(&cluster, LIMITED).await;
    assert_eq!(produce_200k(&mut again).await, 0);
    assert_eq!(produce_200k(&mut again).await, 0);
    assert_eq!(cluster.quota_throttle_counts(), BTreeMap::from([(0, 1)]));
}

#[tokio::test]
async fn the_default_client_id_quota_applies_to_client_ids_without_their_own() {
    let cluster = Cluster::builder().topic("t", 1).start().await.unwrap();
    let mut admin = client(&cluster, "admin").await;
    let default = alter(
        "client-id",
        None,
        &[("producer_byte_rate", Some(10_000.0))],
        false,
    );
    let own = alter(
        "client-id",
        Some(FREE),
        &[("producer_byte_rate", Some(1e9))],
        false,
    );
    assert_eq!(outcome(&admin.call(&default, 1).await), (0, None));
    assert_eq!(outcome(&admin.call(&own, 1).await), (0, None));
    let mut anyone = client(&cluster, "anyone").await;
    assert!(produce_200k(&mut anyone).await > 0);
    let mut free = client(&cluster, FREE).await;
    assert_eq!(produce_200k(&mut free).await, 0);
    // Described with match type 1 (the default) and 2 (any entity of the type).
    let by = |match_type: i8| DescribeClientQuotasRequest {
        components: vec![ComponentData {
            entity_type: "client-id".into(),
            match_type,
            r#match: None,
            ..Default::default()
        }],
        ..Default::default()
    };
    let d = admin.call(&by(1), 1).await;
    let entries = d.entries.expect("entries");
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].entity[0].entity_name, None);
    assert_eq!(entries[0].values[0].value, 10_000.0);
    assert_eq!(
        d.error_message.as_deref(),
        Some(""),
        "Kafka's empty message"
    );
    assert_eq!(
        admin.call(&by(2), 1).await.entries.expect("entries").len(),
        2
    );
}

#[tokio::test]
async fn validate_only_changes_nothing() {
    let cluster = Cluster::builder().topic("t", 1).start().await.unwrap();
    let mut admin = client(&cluster, "admin").await;
    let keys = [
        ("producer_byte_rate", Some(10_000.0)),
        ("consumer_byte_rate", Some(20_000.0)),
        ("request_percentage", Some(50.0)),
    ];
    let check = alter("client-id", Some(LIMITED), &keys, true);
    assert_eq!(outcome(&admin.call(&check, 1).await), (0, None));
    assert!(values(&admin.call(&describe(LIMITED), 1).await).is_empty());
    cluster.with_state(|s| assert_eq!(s.quotas.configs().all().count(), 0));
    let mut limited = client(&cluster, LIMITED).await;
    assert_eq!(produce_200k(&mut limited).await, 0);

    // Stored for real, all three keys are described back; removing one validate_only keeps it.
    let set = alter("client-id", Some(LIMITED), &keys, false);
    assert_eq!(outcome(&admin.call(&set, 1).await), (0, None));
    let unset = alter(
        "client-id",
        Some(LIMITED),
        &[("request_percentage", None)],
        true,
    );
    assert_eq!(outcome(&admin.call(&unset, 1).await), (0, None));
    let got = values(&admin.call(&describe(LIMITED), 1).await);
    let want: BTreeMap<String, f64> = keys
        .iter()
        .map(|(k, v)| ((*k).into(), v.unwrap()))
        .collect();
    assert_eq!(got, want);
}

#[tokio::test]
async fn bad_keys_values_and_entity_types_get_kafkas_errors() {
    let cluster = Cluster::builder().topic("t", 1).start().await.unwrap();
    let mut admin = client(&cluster, "admin").await;
    let cases = [
        (
            alter("client-id", Some(LIMITED), &[("bogus", Some(1.0))], false),
            "Invalid configuration key bogus",
        ),
        (
            alter(
                "group",
                Some(LIMITED),
                &[("producer_byte_rate", Some(1.0))],
                false,
            ),
            "Unhandled client quota entity type: group",
        ),
        (
            alter(
                "client-id",
                Some(LIMITED),
                &[("producer_byte_rate", Some(1.5))],
                false,
            ),
            "producer_byte_rate cannot be a fractional value.",
        ),
        (
            alter(
                "client-id",
                Some(LIMITED),
                &[("producer_byte_rate", Some(0.0))],
                false,
            ),
            "Quota producer_byte_rate must be greater than 0",
        ),
    ];
    for (version, (req, message)) in [0, 1].into_iter().cycle().zip(cases) {
        let r = admin.call(&req, version).await;
        assert_eq!(outcome(&r), (INVALID_REQUEST, Some(message)), "v{version}");
    }
    cluster.with_state(|s| assert_eq!(s.quotas.configs().all().count(), 0));
    assert_eq!(
        cluster.error_count(ApiKey::AlterClientQuotas, INVALID_REQUEST),
        4
    );

    // A user quota is stored and described, though the testkit does not enforce it.
    let user = alter(
        "user",
        Some("alice"),
        &[("producer_byte_rate", Some(10.0))],
        false,
    );
    assert_eq!(outcome(&admin.call(&user, 1).await), (0, None));
    let mut limited = client(&cluster, LIMITED).await;
    assert_eq!(produce_200k(&mut limited).await, 0);

    // An unknown entity type in a describe filter is UNSUPPORTED_VERSION, as in Kafka.
    let bad = DescribeClientQuotasRequest {
        components: vec![ComponentData {
            entity_type: "group".into(),
            match_type: 2,
            ..Default::default()
        }],
        ..Default::default()
    };
    let r = admin.call(&bad, 1).await;
    assert_eq!(r.error_code, UNSUPPORTED_VERSION);
    assert_eq!(
        r.error_message.as_deref(),
        Some("Unsupported entity type group")
    );
    assert_eq!(r.entries, None);
    let all = admin.call(&DescribeClientQuotasRequest::default(), 1).await;
    assert_eq!(all.entries.expect("entries").len(), 1, "alice's quota");
}

#[tokio::test]
async fn the_control_api_and_the_wire_share_one_configuration() {
    let cluster = Cluster::builder()
        .topic("t", 1)
        .produce_quota(10_000.0)
        .start()
        .await
        .unwrap();
    cluster.set_produce_quota(Some(LIMITED), Some(5_000.0));
    let mut admin = client(&cluster, "admin").await;
    let all = admin.call(&DescribeClientQuotasRequest::default(), 1).await;
    let mut found: Vec<(Option<String>, f64)> = all
        .entries
        .expect("entries")
        .into_iter()
        .map(|e| (e.entity[0].entity_name.clone(), e.values[0].value))
        .collect();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(found, [(None, 10_000.0), (Some(LIMITED.into()), 5_000.0)]);
    // removed over the wire, the control API's quota is gone
    let remove = alter("client-id", None, &[("producer_byte_rate", None)], false);
    assert_eq!(outcome(&admin.call(&remove, 1).await), (0, None));
    let mut anyone = client(&cluster, "anyone").await;
    assert_eq!(produce_200k(&mut anyone).await, 0);
}
