//! One broker's side of a case: raw requests at pinned versions through klamm-net, each
//! answer normalized into a [`Step`] of the broker's [`Transcript`].
//!
//! Requests go to the partition's leader or the transactional id's coordinator. Answers that
//! only say "ask elsewhere or later" (NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS, ...) are
//! retried silently. CONCURRENT_TRANSACTIONS is retried too: recorded (collapsed) for
//! InitProducerId, which gets it first whenever it fences an open transaction (behaviour),
//! and silently for AddPartitionsToTxn and EndTxn, which get it only while the previous
//! transaction's markers are being written (timing: Kafka writes them after it answered
//! EndTxn, the testkit at once).

use std::time::{Duration, Instant};

use klamm_integration::{BrokerUnderTest, ScenarioError, kafka};
use klamm_net::{Cluster, CoordinatorType, KafkaRequest};
use klamm_protocol::ApiKey;
use klamm_protocol::error_code::ErrorCode;
use klamm_protocol::messages::add_partitions_to_txn::request::{
    AddPartitionsToTxnTopic, AddPartitionsToTxnTransaction,
};
use klamm_protocol::messages::describe_producers::request::TopicRequest;
use klamm_protocol::messages::fetch::request::{FetchPartition, FetchTopic};
use klamm_protocol::messages::fetch::response::PartitionData;
use klamm_protocol::messages::{
    AddPartitionsToTxnRequest, AddPartitionsToTxnResponse, DescribeProducersRequest, EndTxnRequest,
    FetchRequest, InitProducerIdRequest, InitProducerIdResponse,
};
use klamm_protocol::record::{RecordBatch, RecordBatches};
use klamm_testkit::requests;

use super::plan::{Batch, DESCRIBE_PRODUCERS, Read, Versions};
use super::transcript::{Names, Step, Transcript, answers, code_name};

const CONCURRENT_TRANSACTIONS: i16 = ErrorCode::ConcurrentTransactions.as_i16();
/// Answers that mean "this coordinator is elsewhere or not ready": retried, not recorded.
const ASK_AGAIN: [i16; 3] = [
    ErrorCode::CoordinatorLoadInProgress.as_i16(),
    ErrorCode::CoordinatorNotAvailable.as_i16(),
    ErrorCode::NotCoordinator.as_i16(),
];
/// Answers of a partition's leader that mean "not here or not ready yet" (nothing written):
/// retried, not recorded.
const NOT_READY: [i16; 4] = [
    ErrorCode::UnknownTopicOrPartition.as_i16(),
    ErrorCode::LeaderNotAvailable.as_i16(),
    ErrorCode::NotLeaderOrFollower.as_i16(),
    ErrorCode::NotEnoughReplicas.as_i16(),
];
/// How long a request is retried through those answers.
const PATIENCE: Duration = Duration::from_secs(30);

/// One broker's session of one case.
pub struct Side {
    /// `kafka` or `testkit`.
    pub broker: &'static str,
    bootstrap: String,
    cluster: Cluster,
    topic: String,
    versions: Versions,
    names: Names,
    transcript: Transcript,
}

impl Side {
    /// Creates the case's `topic` with `partitions` partitions on `broker` and connects.
    /// Fails when the broker does not support `versions`.
    pub async fn open(
        name: &'static str,
        broker: &BrokerUnderTest,
        topic: &str,
        partitions: i32,
        versions: Versions,
    ) -> Result<Side, ScenarioError> {
        kafka::create_topic(broker, topic, partitions).await?;
        let cluster = Cluster::builder()
            .bootstrap(broker.bootstrap())
            .connect()
            .await?;
        let any = cluster.any_broker().await?;
        let api = any.connection().api_versions();
        for (key, v) in [
            (ApiKey::InitProducerId, versions.init_producer_id),
            (ApiKey::AddPartitionsToTxn, versions.add_partitions),
            (ApiKey::Produce, versions.produce),
            (ApiKey::EndTxn, versions.end_txn),
            (ApiKey::Fetch, versions.fetch),
            (ApiKey::DescribeProducers, DESCRIBE_PRODUCERS),
        ] {
            match api.broker_range(key) {
                Some((lo, hi)) if (lo..=hi).contains(&v) => {}
                other => {
                    return Err(format!(
                        "{name} serves {key:?} at {other:?}, the differential suite pins v{v}"
                    )
                    .into());
                }
            }
        }
        // Kafka creates its transaction state topic on the first FindCoordinator for a
        // transactional id; until it has, a leader verifying a transactional Produce answers
        // NOT_ENOUGH_REPLICAS. Have it ready before the case starts.
        let start = Instant::now();
        let warm_up = vec![format!("{topic}-warm-up")];
        loop {
            let found = cluster
                .find_coordinators(CoordinatorType::Transaction, &warm_up)
                .await;
            match found {
                Ok(answers) if answers.iter().all(|(_, r)| r.is_ok()) => break,
                _ if start.elapsed() < PATIENCE * 2 => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Ok(answers) => {
                    return Err(format!(
                        "{name}: no transaction coordinator after {:?}: {answers:?}",
                        PATIENCE * 2
                    )
                    .into());
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(Side {
            broker: name,
            bootstrap: broker.bootstrap().to_owned(),
            cluster,
            topic: topic.to_owned(),
            versions,
            names: Names::default(),
            transcript: Transcript::default(),
        })
    }

    /// The case's topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The broker's bootstrap address (for connections of other client ids).
    pub fn bootstrap(&self) -> &str {
        &self.bootstrap
    }

    /// The connection to the cluster (for requests a case sends itself).
    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// A transactional id unique to this run (the topic name is), the same on both brokers.
    pub fn txn_id(&self, name: &str) -> String {
        format!("{}-{name}", self.topic)
    }

    /// Records a step a case built itself.
    pub fn push(&mut self, step: Step) {
        self.transcript.steps.push(step);
    }

    /// Closes the connections and hands over the transcript.
    pub fn finish(self) -> Transcript {
        self.cluster.close();
        self.transcript
    }

    /// Sends `req` to the coordinator of `txn` at `version` until the answer (per `code`) is
    /// neither "ask again" nor CONCURRENT_TRANSACTIONS; returns the codes answered (retries
    /// of CONCURRENT_TRANSACTIONS included when `record_concurrent`) and the last answer.
    async fn to_coordinator<R>(
        &self,
        txn: &str,
        req: R,
        version: i16,
        record_concurrent: bool,
        code: impl Fn(&R::Response) -> i16,
    ) -> Result<(Vec<i16>, R::Response), ScenarioError>
    where
        R: KafkaRequest + Clone,
    {
        let start = Instant::now();
        let mut codes = Vec::new();
        loop {
            let svc = match self
                .cluster
                .coordinator(CoordinatorType::Transaction, txn)
                .await
            {
                Ok(svc) => svc,
                // FindCoordinator's COORDINATOR_NOT_AVAILABLE and the like: ask again.
                Err(e) if e.is_retriable() && start.elapsed() < PATIENCE => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            let resp = svc.connection().send_at(req.clone(), version).await?.body;
            let c = code(&resp);
            let retry = ASK_AGAIN.contains(&c) || c == CONCURRENT_TRANSACTIONS;
            if ASK_AGAIN.contains(&c) {
                self.cluster
                    .invalidate_coordinator(CoordinatorType::Transaction, txn);
            } else if record_concurrent || c != CONCURRENT_TRANSACTIONS {
                codes.push(c);
            }
            if !retry {
                return Ok((codes, resp));
            }
            if start.elapsed() > PATIENCE {
                return Err(format!(
                    "{}: {} answered {} for {PATIENCE:?}",
                    self.broker,
                    std::any::type_name::<R>(),
                    code_name(c)
                )
                .into());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Sends `req` to the leader of `partition` at `version`, again (after a metadata refresh)
    /// while the answer (per `code`) says the leader is elsewhere or not ready, which a
    /// cluster that just created the topic may answer (nothing was written then).
    async fn to_leader<R>(
        &self,
        partition: i32,
        req: R,
        version: i16,
        code: impl Fn(&R::Response) -> i16,
    ) -> Result<R::Response, ScenarioError>
    where
        R: KafkaRequest + Clone,
    {
        let start = Instant::now();
        loop {
            let leader = self.cluster.leader(&self.topic, partition).await?;
            let resp = leader
                .connection()
                .send_at(req.clone(), version)
                .await?
                .body;
            let c = code(&resp);
            if !NOT_READY.contains(&c) || start.elapsed() > PATIENCE {
                return Ok(resp);
            }
            self.cluster.refresh_metadata().await?;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Sends an idempotent InitProducerId to any broker until the answer is not "ask again"
    /// (a broker that just started answers COORDINATOR_LOAD_IN_PROGRESS until it has a block
    /// of producer ids); returns the code answered and the answer.
    async fn to_any_broker(
        &self,
        req: InitProducerIdRequest,
        version: i16,
    ) -> Result<(Vec<i16>, InitProducerIdResponse), ScenarioError> {
        let start = Instant::now();
        loop {
            let svc = self.cluster.any_broker().await?;
            let r = svc.connection().send_at(req.clone(), version).await?.body;
            if !ASK_AGAIN.contains(&r.error_code) {
                return Ok((vec![r.error_code], r));
            }
            if start.elapsed() > PATIENCE {
                return Err(format!(
                    "{}: InitProducerId answered {} for {PATIENCE:?}",
                    self.broker,
                    code_name(r.error_code)
                )
                .into());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// InitProducerId: transactional when `txn` is given (with `timeout_ms`), with the
    /// KIP-360 `expected` producer id and epoch when given. Returns the raw producer id and
    /// epoch (-1, -1 on error).
    pub async fn init_producer_id(
        &mut self,
        what: &str,
        txn: Option<&str>,
        timeout_ms: i32,
        expected: Option<(i64, i16)>,
    ) -> Result<(i64, i16), ScenarioError> {
        let v = self.versions.init_producer_id;
        let (pid, epoch) = expected.unwrap_or((-1, -1));
        let sent = if expected.is_some() {
            format!(" expecting {}", self.names.producer(pid, epoch))
        } else {
            String::new()
        };
        let req = InitProducerIdRequest {
            transactional_id: txn.map(str::to_owned),
            transaction_timeout_ms: timeout_ms,
            producer_id: pid,
            producer_epoch: epoch,
            ..Default::default()
        };
        let (codes, resp) = match txn {
            Some(id) => {
                self.to_coordinator(id, req, v, true, |r| r.error_code)
                    .await?
            }
            None => self.to_any_broker(req, v).await?,
        };
        let kind = if txn.is_some() {
            "transactional"
        } else {
            "idempotent"
        };
        let step = Step::new(format!("InitProducerId v{v} {kind}{sent}: {what}"))
            .field("answers", answers(&codes))
            .field(
                "producer",
                self.names.producer(resp.producer_id, resp.producer_epoch),
            );
        self.push(step);
        Ok((resp.producer_id, resp.producer_epoch))
    }

    /// AddPartitionsToTxn of `partitions` of the case's topic for `txn` as `producer`.
    pub async fn add_partitions(
        &mut self,
        what: &str,
        txn: &str,
        producer: (i64, i16),
        partitions: &[i32],
    ) -> Result<(), ScenarioError> {
        let v = self.versions.add_partitions;
        let (pid, epoch) = producer;
        let topics = vec![AddPartitionsToTxnTopic {
            name: self.topic.clone(),
            partitions: partitions.to_vec(),
            ..Default::default()
        }];
        let req = if v <= 3 {
            AddPartitionsToTxnRequest {
                v3_and_below_transactional_id: txn.to_owned(),
                v3_and_below_producer_id: pid,
                v3_and_below_producer_epoch: epoch,
                v3_and_below_topics: topics,
                ..Default::default()
            }
        } else {
            AddPartitionsToTxnRequest {
                transactions: vec![AddPartitionsToTxnTransaction {
                    transactional_id: txn.to_owned(),
                    producer_id: pid,
                    producer_epoch: epoch,
                    verify_only: false,
                    topics,
                    ..Default::default()
                }],
                ..Default::default()
            }
        };
        let (codes, resp) = self
            .to_coordinator(txn, req, v, false, add_partitions_code)
            .await?;
        let per_partition = add_partitions_results(&resp)
            .into_iter()
            .map(|(p, c)| format!("{p}={}", code_name(c)))
            .collect::<Vec<_>>()
            .join(" ");
        let sent = self.names.producer(pid, epoch);
        let step = Step::new(format!(
            "AddPartitionsToTxn v{v} {sent} partitions {partitions:?}: {what}"
        ))
        .field("answers", answers(&codes))
        .field("error", code_name(resp.error_code))
        .field("partitions", per_partition);
        self.push(step);
        Ok(())
    }

    /// Produce of one batch (acks=all) to its partition's leader.
    pub async fn produce(&mut self, what: &str, batch: Batch) -> Result<(), ScenarioError> {
        let v = self.versions.produce;
        let values: Vec<String> = (0..batch.records).map(|i| format!("value-{i}")).collect();
        let records = match batch.timestamp {
            Some(ts) => requests::batch_at(&values, batch.producer, batch.transactional, ts)?,
            None => requests::batch(&values, batch.producer, batch.transactional)?,
        };
        let mut req = requests::produce(&self.topic, batch.partition, -1, records);
        req.transactional_id = batch.transactional_id.clone();
        let resp = self
            .to_leader(batch.partition, req, v, |r| {
                first_code(
                    r.responses
                        .iter()
                        .flat_map(|t| &t.partition_responses)
                        .map(|p| p.error_code),
                )
            })
            .await?;
        let part = resp
            .responses
            .iter()
            .flat_map(|t| &t.partition_responses)
            .find(|p| p.index == batch.partition)
            .ok_or_else(|| format!("{}: Produce answer without the partition", self.broker))?;
        let sent = match batch.producer {
            Some((pid, epoch, seq)) => format!("{} seq {seq}", self.names.producer(pid, epoch)),
            None => "no producer id".into(),
        };
        let txn = match (batch.transactional, &batch.transactional_id) {
            (true, Some(_)) => " transactional",
            (true, None) => " transactional (no transactional id)",
            (false, _) => "",
        };
        let when = if batch.timestamp.is_some() {
            " (stamped in the past)"
        } else {
            ""
        };
        let step = Step::new(format!(
            "Produce v{v} partition {} {} records {sent}{txn}{when}: {what}",
            batch.partition, batch.records
        ))
        .field("error", code_name(part.error_code))
        .field("base_offset", part.base_offset)
        .field("log_start", part.log_start_offset);
        self.push(step);
        Ok(())
    }

    /// EndTxn (commit or abort) of `txn` as `producer`. Returns the producer id and epoch
    /// the answer carries (EndTxn v5; -1, -1 before).
    pub async fn end_txn(
        &mut self,
        what: &str,
        txn: &str,
        producer: (i64, i16),
        commit: bool,
    ) -> Result<(i64, i16), ScenarioError> {
        let v = self.versions.end_txn;
        let (pid, epoch) = producer;
        let req = EndTxnRequest {
            transactional_id: txn.to_owned(),
            producer_id: pid,
            producer_epoch: epoch,
            committed: commit,
            ..Default::default()
        };
        let (codes, resp) = self
            .to_coordinator(txn, req, v, false, |r| r.error_code)
            .await?;
        let sent = self.names.producer(pid, epoch);
        let verb = if commit { "commit" } else { "abort" };
        let mut step = Step::new(format!("EndTxn v{v} {verb} {sent}: {what}"))
            .field("answers", answers(&codes));
        if v >= 5 {
            step = step.field(
                "producer",
                self.names.producer(resp.producer_id, resp.producer_epoch),
            );
        }
        self.push(step);
        Ok((resp.producer_id, resp.producer_epoch))
    }

    async fn fetch_raw(&self, read: Read, max_bytes: i32) -> Result<PartitionData, ScenarioError> {
        let v = self.versions.fetch;
        let req = FetchRequest {
            max_wait_ms: 0,
            min_bytes: 0,
            isolation_level: i8::from(read.committed),
            topics: vec![FetchTopic {
                topic: self.topic.clone(),
                partitions: vec![FetchPartition {
                    partition: read.partition,
                    fetch_offset: read.offset,
                    partition_max_bytes: max_bytes,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        let resp = self
            .to_leader(read.partition, req, v, |r| {
                first_code(
                    r.responses
                        .iter()
                        .flat_map(|t| &t.partitions)
                        .map(|p| p.error_code),
                )
            })
            .await?;
        resp.responses
            .into_iter()
            .flat_map(|t| t.partitions)
            .find(|p| p.partition_index == read.partition)
            .ok_or_else(|| format!("{}: Fetch answer without the partition", self.broker).into())
    }

    /// Fetch of one partition: error, high watermark, last stable offset, log start, the
    /// aborted transactions, the number of data records, and every batch (data batches as
    /// offsets, producer and first sequence; control batches as COMMIT/ABORT markers).
    pub async fn fetch(&mut self, what: &str, read: Read) -> Result<(), ScenarioError> {
        let v = self.versions.fetch;
        let data = self.fetch_raw(read, 1 << 20).await?;
        let aborted = match &data.aborted_transactions {
            None => "null".to_string(),
            Some(list) => {
                let mut list: Vec<(i64, String)> = list
                    .iter()
                    .map(|a| (a.first_offset, self.names.pid(a.producer_id)))
                    .collect();
                list.sort();
                let shown: Vec<String> = list.iter().map(|(o, p)| format!("{p}@{o}")).collect();
                format!("[{}]", shown.join(", "))
            }
        };
        let mut records = 0usize;
        let mut batches = Vec::new();
        for b in RecordBatches::new(data.records.clone().unwrap_or_default()) {
            let b = b?;
            batches.push(self.describe_batch(&b)?);
            if !b.is_control() {
                records += b.record_count().max(0) as usize;
            }
        }
        let isolation = if read.committed {
            "read_committed"
        } else {
            "read_uncommitted"
        };
        let step = Step::new(format!(
            "Fetch v{v} {isolation} partition {} from {}: {what}",
            read.partition, read.offset
        ))
        .field("error", code_name(data.error_code))
        .field("hw", data.high_watermark)
        .field("lso", data.last_stable_offset)
        .field("log_start", data.log_start_offset)
        .field("aborted", aborted)
        .field("records", records)
        .field("batches", batches.join(", "));
        self.push(step);
        Ok(())
    }

    fn describe_batch(&mut self, b: &RecordBatch) -> Result<String, ScenarioError> {
        let producer = if b.producer_id() >= 0 {
            self.names.producer(b.producer_id(), b.producer_epoch())
        } else {
            "-".into()
        };
        if b.is_control() {
            let kind = match b.end_txn_marker()? {
                Some(m) if m.is_commit() => "COMMIT",
                Some(_) => "ABORT",
                None => "CONTROL",
            };
            return Ok(format!("{kind}@{} {producer}", b.base_offset()));
        }
        let seq = if b.base_sequence() >= 0 {
            format!(" s{}", b.base_sequence())
        } else {
            String::new()
        };
        let txn = if b.is_transactional() { " txn" } else { "" };
        Ok(format!(
            "{}..{} {producer}{seq}{txn}",
            b.base_offset(),
            b.last_offset()
        ))
    }

    /// The producers with state on `partition`, as (producer id, epoch, last sequence,
    /// open transaction's first offset), raw.
    async fn producers(&self, partition: i32) -> Result<(i16, Vec<[i64; 4]>), ScenarioError> {
        let req = DescribeProducersRequest {
            topics: vec![TopicRequest {
                name: self.topic.clone(),
                partition_indexes: vec![partition],
                ..Default::default()
            }],
            ..Default::default()
        };
        let resp = self
            .to_leader(partition, req, DESCRIBE_PRODUCERS, |r| {
                first_code(
                    r.topics
                        .iter()
                        .flat_map(|t| &t.partitions)
                        .map(|p| p.error_code),
                )
            })
            .await?;
        let p = resp
            .topics
            .into_iter()
            .flat_map(|t| t.partitions)
            .find(|p| p.partition_index == partition)
            .ok_or_else(|| format!("{}: DescribeProducers without the partition", self.broker))?;
        let list = p
            .active_producers
            .iter()
            .map(|s| {
                [
                    s.producer_id,
                    i64::from(s.producer_epoch),
                    i64::from(s.last_sequence),
                    s.current_txn_start_offset,
                ]
            })
            .collect();
        Ok((p.error_code, list))
    }

    /// DescribeProducers of `partition`: each producer's epoch, last sequence and open
    /// transaction's first offset.
    pub async fn describe_producers(
        &mut self,
        what: &str,
        partition: i32,
    ) -> Result<(), ScenarioError> {
        let (code, list) = self.producers(partition).await?;
        let mut shown: Vec<String> = list
            .iter()
            .map(|[pid, epoch, seq, start]| {
                let epoch = i16::try_from(*epoch).unwrap_or(-1);
                format!(
                    "{} last_seq {seq} txn_start {start}",
                    self.names.producer(*pid, epoch)
                )
            })
            .collect();
        shown.sort();
        let step = Step::new(format!(
            "DescribeProducers v{DESCRIBE_PRODUCERS} partition {partition}: {what}"
        ))
        .field("error", code_name(code))
        .field("producers", shown.join(", "));
        self.push(step);
        Ok(())
    }

    /// Waits (without recording anything) until `partitions` are quiet: `pid` (when given)
    /// has no open transaction on them, and their high watermark, last stable offset and open
    /// transactions stayed the same for half a second. Kafka writes transaction markers after
    /// it answered EndTxn, so a case settles before it looks. Returns whether the partitions
    /// settled within `limit`.
    pub async fn settle(
        &self,
        partitions: &[i32],
        pid: Option<i64>,
        limit: Duration,
    ) -> Result<bool, ScenarioError> {
        let start = Instant::now();
        let mut last = None;
        let mut same = 0;
        loop {
            let mut snapshot = Vec::new();
            let mut closed = true;
            for &p in partitions {
                let (_, producers) = self.producers(p).await?;
                closed &= !producers
                    .iter()
                    .any(|[id, _, _, start]| Some(*id) == pid && *start >= 0);
                let data = self.fetch_raw(Read::committed(p), 1).await?;
                snapshot.push((data.high_watermark, data.last_stable_offset, producers));
            }
            if closed && last.as_ref() == Some(&snapshot) {
                same += 1;
                if same >= 4 {
                    return Ok(true);
                }
            } else {
                same = 0;
            }
            last = Some(snapshot);
            if start.elapsed() > limit {
                return Ok(false);
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    /// Waits up to `limit` for the coordinator to end `pid`'s transaction on `partition` by
    /// itself (a timeout) and records whether it did.
    pub async fn wait_aborted(
        &mut self,
        what: &str,
        partition: i32,
        pid: i64,
        limit: Duration,
    ) -> Result<(), ScenarioError> {
        let closed = self.settle(&[partition], Some(pid), limit).await?;
        let step = Step::new(format!(
            "(wait up to {limit:?} for the transaction to end): {what}"
        ))
        .field("ended", closed);
        self.push(step);
        Ok(())
    }
}

/// The first error code that is not NONE among `codes` (NONE when there is none).
fn first_code(mut codes: impl Iterator<Item = i16>) -> i16 {
    codes.find(|c| *c != 0).unwrap_or(0)
}

/// The code AddPartitionsToTxn is retried on: the top-level error, else the first partition
/// error that is not NONE.
fn add_partitions_code(r: &AddPartitionsToTxnResponse) -> i16 {
    if r.error_code != 0 {
        return r.error_code;
    }
    add_partitions_results(r)
        .into_iter()
        .map(|(_, c)| c)
        .find(|c| *c != 0)
        .unwrap_or(0)
}

/// Every (partition, error code) of an AddPartitionsToTxn answer, in either form.
fn add_partitions_results(r: &AddPartitionsToTxnResponse) -> Vec<(i32, i16)> {
    let topics = r.results_by_topic_v3_and_below.iter().chain(
        r.results_by_transaction
            .iter()
            .flat_map(|t| &t.topic_results),
    );
    let mut out: Vec<(i32, i16)> = topics
        .flat_map(|t| &t.results_by_partition)
        .map(|p| (p.partition_index, p.partition_error_code))
        .collect();
    out.sort_unstable();
    out
}
