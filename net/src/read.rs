//! Reading a topic back with Fetch, as a consumer with a given isolation level would see it.
//!
//! Klamm is a producer stack; this is no consumer (no groups, no offsets kept, no waiting for
//! new data). It is the check every exactly-once claim needs: after writing, read each
//! partition from offset 0 to its end and compare. With [`Isolation::ReadCommitted`] it applies
//! KIP-98's rules the way Kafka's consumers do: Fetch with isolation level 1 returns data up to
//! the last stable offset together with the aborted transactions in that range; the batches of
//! an aborted transaction (from its first offset up to its abort marker, per producer id) are
//! dropped, and control batches (the markers themselves) are never records.

use std::collections::BTreeSet;

use klamm_protocol::error_code::ErrorCode;
use klamm_protocol::messages::FetchRequest;
use klamm_protocol::messages::fetch::request::{FetchPartition, FetchTopic};
use klamm_protocol::messages::fetch::response::PartitionData;
use klamm_protocol::record::{Record, RecordBatches};

use crate::cluster::Cluster;
use crate::error::Error;

/// Which records a read returns (the consumer's `isolation.level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    /// Every record written, including those of open and aborted transactions.
    ReadUncommitted,
    /// Records of committed transactions and non-transactional records, up to the last stable
    /// offset (KIP-98).
    ReadCommitted,
}

impl Isolation {
    fn level(self) -> i8 {
        match self {
            Isolation::ReadUncommitted => 0,
            Isolation::ReadCommitted => 1,
        }
    }
}

/// Why a read failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The topic's metadata could not be read.
    #[error("reading {topic}: no metadata: {source}")]
    Metadata {
        /// The topic read.
        topic: String,
        /// What went wrong.
        #[source]
        source: Error,
    },
    /// Finding the leader or the Fetch round trip failed.
    #[error("reading {topic}-{partition}: {source}")]
    Net {
        /// The topic read.
        topic: String,
        /// The partition read.
        partition: i32,
        /// What went wrong.
        #[source]
        source: Error,
    },
    /// The leader answered the partition with an error code.
    #[error("reading {topic}-{partition}: the broker answered {code}")]
    Broker {
        /// The topic read.
        topic: String,
        /// The partition read.
        partition: i32,
        /// The partition's error code.
        code: ErrorCode,
    },
    /// The Fetch answer did not name the partition asked for.
    #[error("reading {topic}-{partition}: the Fetch answer does not name the partition")]
    MissingPartition {
        /// The topic read.
        topic: String,
        /// The partition read.
        partition: i32,
    },
    /// A record batch in the answer did not decode.
    #[error("reading {topic}-{partition}: bad record batch: {source}")]
    Records {
        /// The topic read.
        topic: String,
        /// The partition read.
        partition: i32,
        /// The decoding error.
        #[source]
        source: klamm_protocol::DecodeError,
    },
}

/// Bytes asked for per Fetch of one partition.
const PARTITION_MAX_BYTES: i32 = 4 << 20;

/// How many answers meaning "your metadata is stale" (NOT_LEADER_OR_FOLLOWER after a leader
/// move, ...) a read follows with a metadata refresh before it gives up.
const STALE_METADATA_RETRIES: u32 = 5;

/// The records of every partition of `topic`, partition by partition, each in offset order.
pub async fn read_topic(
    cluster: &Cluster,
    topic: &str,
    isolation: Isolation,
) -> Result<Vec<Vec<Record>>, ReadError> {
    let meta = cluster
        .topic(topic)
        .await
        .map_err(|source| ReadError::Metadata {
            topic: topic.to_owned(),
            source,
        })?;
    let mut out = Vec::with_capacity(meta.partitions.len());
    for p in 0..meta.partitions.len() as i32 {
        out.push(read_partition(cluster, topic, p, isolation).await?);
    }
    Ok(out)
}

/// The records of `topic`/`partition` from offset 0 to the end of what the isolation level
/// shows (the high watermark, or the last stable offset for read_committed), in offset order.
/// A leader that moves during the read is followed (metadata refreshed, the Fetch sent again).
pub async fn read_partition(
    cluster: &Cluster,
    topic: &str,
    partition: i32,
    isolation: Isolation,
) -> Result<Vec<Record>, ReadError> {
    let net = |source| ReadError::Net {
        topic: topic.to_owned(),
        partition,
        source,
    };
    let bad = |source| ReadError::Records {
        topic: topic.to_owned(),
        partition,
        source,
    };
    let mut records = Vec::new();
    let mut offset = 0i64;
    // Producer ids whose transaction is aborted from the current position on.
    let mut aborted_pids: BTreeSet<i64> = BTreeSet::new();
    let mut stale_answers = 0;
    loop {
        let svc = cluster.leader(topic, partition).await.map_err(net)?;
        let request = FetchRequest {
            max_wait_ms: 0,
            min_bytes: 0,
            isolation_level: isolation.level(),
            topics: vec![FetchTopic {
                topic: topic.to_owned(),
                partitions: vec![FetchPartition {
                    partition,
                    fetch_offset: offset,
                    partition_max_bytes: PARTITION_MAX_BYTES,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        // Topics are named (not identified by id) up to Fetch v12.
        let version = svc.version_for::<FetchRequest>().map_err(net)?.min(12);
        let response = svc
            .connection()
            .send_at(request, version)
            .await
            .map_err(net)?;
        let data = take_partition(response.body, partition).ok_or(ReadError::MissingPartition {
            topic: topic.to_owned(),
            partition,
        })?;
        if data.error_code != 0 {
            let code = ErrorCode::from_i16(data.error_code);
            if stale_answers < STALE_METADATA_RETRIES && cluster.on_error(code) {
                // The leader moved (or similar): ask again where it is now.
                stale_answers += 1;
                cluster.refresh_metadata().await.map_err(net)?;
                continue;
            }
            return Err(ReadError::Broker {
                topic: topic.to_owned(),
                partition,
                code,
            });
        }
        let mut aborted: Vec<(i64, i64)> = data
            .aborted_transactions
            .unwrap_or_default()
            .iter()
            .map(|a| (a.first_offset, a.producer_id))
            .collect();
        aborted.sort_unstable();
        let mut aborted = aborted.into_iter().peekable();
        let before = offset;
        for batch in RecordBatches::new(data.records.unwrap_or_default()) {
            let batch = batch.map_err(bad)?;
            // An aborted transaction's batches begin at its first offset.
            while let Some(&(first, pid)) = aborted.peek() {
                if first > batch.last_offset() {
                    break;
                }
                aborted_pids.insert(pid);
                aborted.next();
            }
            if batch.is_control() {
                if batch
                    .end_txn_marker()
                    .map_err(bad)?
                    .is_some_and(|m| !m.is_commit())
                {
                    // The abort marker ends that producer's aborted transaction.
                    aborted_pids.remove(&batch.producer_id());
                }
            } else if !(batch.is_transactional() && aborted_pids.contains(&batch.producer_id())) {
                for r in batch.records().map_err(bad)? {
                    let r = r.map_err(bad)?;
                    // A batch fetched again from its middle repeats its first records.
                    if r.offset >= offset {
                        records.push(r);
                    }
                }
            }
            offset = offset.max(batch.next_offset());
        }
        let end = match isolation {
            Isolation::ReadUncommitted => data.high_watermark,
            Isolation::ReadCommitted => data.last_stable_offset,
        };
        if offset == before || offset >= end {
            return Ok(records);
        }
    }
}

fn take_partition(
    response: klamm_protocol::messages::FetchResponse,
    partition: i32,
) -> Option<PartitionData> {
    response
        .responses
        .into_iter()
        .flat_map(|t| t.partitions)
        .find(|d| d.partition_index == partition)
}
