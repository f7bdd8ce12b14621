//! The quota case: a `producer_byte_rate` set for one client id (AlterClientQuotas through
//! `klamm_net::quotas`), a Produce faster than it from a connection with that client id (is
//! it throttled, and by about how much), another client id (not throttled), and the quota
//! removed (no throttle any more).
//!
//! Kafka's brokers apply a quota when they read it from the metadata log, a little after the
//! controller accepted it; the case waits until the partition's leader describes the change
//! (DescribeClientQuotas sent to that broker) before it produces.
//!
//! Both brokers must measure rates over the same windows: the harness's testkit uses
//! [`QUOTA_WINDOW_SAMPLES`] windows of [`QUOTA_WINDOW`], as the xtask's Kafka cluster is
//! configured (`quota.window.num=2`, `quota.window.size.seconds=1`). Against a cluster with
//! Kafka's defaults (11 windows) the throttles differ by design, and the case says so.
//!
//! [`QUOTA_WINDOW_SAMPLES`]: klamm_integration::broker::QUOTA_WINDOW_SAMPLES
//! [`QUOTA_WINDOW`]: klamm_integration::broker::QUOTA_WINDOW

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use klamm_integration::{ScenarioError, ScenarioResult};
use klamm_net::quotas::{self, PRODUCER_BYTE_RATE, QuotaError};
use klamm_net::{Cluster, ConnectionConfig};
use klamm_protocol::messages::DescribeClientQuotasRequest;
use klamm_protocol::messages::describe_client_quotas::request::ComponentData;
use klamm_testkit::requests;

use super::plan::TV1;
use super::side::Side;
use super::transcript::{Step, code_name};

/// The quota, bytes per second per broker.
const RATE: f64 = 50_000.0;
/// 150 KB in one Produce: over the shortest rate window of 2 windows of 1 s (one window's
/// length) that is 150 KB/s against a 50 KB/s quota, a throttle of about
/// (150 - 50) / 50 x 1 s = 2 s.
const RECORDS: usize = 3;
const RECORD_BYTES: usize = 50_000;
/// How long the leader may take to describe a change.
const PATIENCE: Duration = Duration::from_secs(30);

/// The quota case.
pub async fn throttle(s: &mut Side) -> ScenarioResult {
    let limited = format!("{}-limited", s.topic());
    let free = format!("{}-free", s.topic());
    let set =
        quotas::set_client_quota(s.cluster(), Some(&limited), PRODUCER_BYTE_RATE, Some(RATE)).await;
    s.push(
        Step::new(format!(
            "AlterClientQuotas {PRODUCER_BYTE_RATE}={RATE} for the case's client id"
        ))
        .field("error", outcome(set)?),
    );
    let values = leader_describes(s, &limited, |v| !v.is_empty()).await?;
    s.push(Step::new("DescribeClientQuotas at the partition's leader").field("values", values));
    let limited_conn = connect(s, &limited).await?;
    let free_conn = connect(s, &free).await?;
    produce_as(s, &limited_conn, "as the limited client id").await?;
    produce_as(s, &free_conn, "as another client id").await?;
    let removed =
        quotas::set_client_quota(s.cluster(), Some(&limited), PRODUCER_BYTE_RATE, None).await;
    s.push(Step::new("AlterClientQuotas: remove the quota").field("error", outcome(removed)?));
    let values = leader_describes(s, &limited, BTreeMap::is_empty).await?;
    s.push(Step::new("DescribeClientQuotas at the partition's leader").field("values", values));
    produce_as(s, &limited_conn, "as the limited client id, quota removed").await?;
    limited_conn.close();
    free_conn.close();
    Ok(())
}

/// The error name of an alteration, or the failure when it did not reach a broker.
fn outcome(r: Result<(), QuotaError>) -> Result<&'static str, ScenarioError> {
    match r {
        Ok(()) => Ok("NONE"),
        Err(QuotaError::Kafka { code, .. }) => Ok(code.name()),
        Err(e) => Err(e.into()),
    }
}

async fn connect(s: &Side, client_id: &str) -> Result<Cluster, ScenarioError> {
    let config = ConnectionConfig::builder()
        .client_id(client_id)
        .request_timeout(Duration::from_secs(30))
        .build()?;
    Ok(Cluster::builder()
        .bootstrap(s.bootstrap())
        .connection(config)
        .connect()
        .await?)
}

/// Polls the leader of partition 0 with DescribeClientQuotas for `client_id` until `done`
/// holds of the values (at most [`PATIENCE`]), then gives it half a second to apply them;
/// returns the values as text.
async fn leader_describes(
    s: &Side,
    client_id: &str,
    done: impl Fn(&BTreeMap<String, f64>) -> bool,
) -> Result<String, ScenarioError> {
    let start = Instant::now();
    loop {
        let leader = s.cluster().leader(s.topic(), 0).await?;
        let req = DescribeClientQuotasRequest {
            components: vec![ComponentData {
                entity_type: quotas::CLIENT_ID.into(),
                match_type: 0,
                r#match: Some(client_id.to_owned()),
                ..Default::default()
            }],
            strict: true,
            ..Default::default()
        };
        let resp = leader.connection().send(req).await?.body;
        let values: BTreeMap<String, f64> = resp
            .entries
            .unwrap_or_default()
            .into_iter()
            .flat_map(|e| e.values)
            .map(|v| (v.key, v.value))
            .collect();
        if resp.error_code != 0 || done(&values) || start.elapsed() > PATIENCE {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let shown: Vec<String> = values.iter().map(|(k, v)| format!("{k}={v}")).collect();
            return Ok(format!(
                "{} {{{}}}",
                code_name(resp.error_code),
                shown.join(", ")
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// One Produce of [`RECORDS`] x [`RECORD_BYTES`] to partition 0's leader through `conn`;
/// records its error and `throttle_time_ms`.
async fn produce_as(s: &mut Side, conn: &Cluster, what: &str) -> ScenarioResult {
    let v = TV1.produce;
    let value = vec![b'q'; RECORD_BYTES];
    let values = vec![value.as_slice(); RECORDS];
    let batch = requests::batch(&values, None, false)?;
    let leader = conn.leader(s.topic(), 0).await?;
    let resp = leader
        .connection()
        .send_at(requests::produce(s.topic(), 0, -1, batch), v)
        .await?
        .body;
    let code = resp
        .responses
        .iter()
        .flat_map(|t| &t.partition_responses)
        .map(|p| p.error_code)
        .next()
        .unwrap_or(-1);
    s.push(
        Step::new(format!(
            "Produce v{v} of {RECORDS} x {RECORD_BYTES} bytes {what}"
        ))
        .field("error", code_name(code))
        .millis("throttle", i64::from(resp.throttle_time_ms)),
    );
    Ok(())
}
