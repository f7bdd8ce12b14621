//! Reading a topic back as a `read_committed` consumer would (KIP-98): Fetch with isolation
//! level 1 up to the last stable offset, dropping the batches of aborted transactions named by
//! the response's aborted-transaction list, and skipping control batches.

use std::collections::BTreeSet;

use bytes::Bytes;
use klamm_net::Cluster;
use klamm_protocol::messages::FetchRequest;
use klamm_protocol::messages::fetch::request::{FetchPartition, FetchTopic};
use klamm_protocol::record::RecordBatches;

/// The keys of every committed record of `topic`, over all partitions.
pub async fn keys(cluster: &Cluster, topic: &str) -> Result<Vec<Bytes>, String> {
    let meta = cluster
        .topic(topic)
        .await
        .map_err(|e| format!("metadata of {topic}: {e}"))?;
    let mut out = Vec::new();
    for p in 0..meta.partitions.len() as i32 {
        out.extend(partition(cluster, topic, p).await?);
    }
    Ok(out)
}

async fn partition(cluster: &Cluster, topic: &str, partition: i32) -> Result<Vec<Bytes>, String> {
    let mut keys = Vec::new();
    let mut offset = 0i64;
    let mut aborted_pids: BTreeSet<i64> = BTreeSet::new();
    loop {
        let svc = cluster
            .leader(topic, partition)
            .await
            .map_err(|e| format!("leader of {topic}-{partition}: {e}"))?;
        let request = FetchRequest {
            max_wait_ms: 0,
            min_bytes: 0,
            isolation_level: 1,
            topics: vec![FetchTopic {
                topic: topic.to_owned(),
                partitions: vec![FetchPartition {
                    partition,
                    fetch_offset: offset,
                    partition_max_bytes: 4 << 20,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        // Topic names (not ids) exist up to Fetch v12.
        let version = svc
            .version_for::<FetchRequest>()
            .map_err(|e| format!("Fetch: {e}"))?
            .min(12);
        let response = svc
            .connection()
            .send_at(request, version)
            .await
            .map_err(|e| format!("Fetch {topic}-{partition}: {e}"))?;
        let data = response
            .responses
            .iter()
            .flat_map(|t| t.partitions.iter())
            .find(|d| d.partition_index == partition)
            .ok_or(format!("no answer for {topic}-{partition}"))?
            .clone();
        if data.error_code != 0 {
            return Err(format!(
                "Fetch {topic}-{partition}: error code {}",
                data.error_code
            ));
        }
        let mut aborted: Vec<(i64, i64)> = data
            .aborted_transactions
            .unwrap_or_default()
            .iter()
            .map(|a| (a.first_offset, a.producer_id))
            .collect();
        aborted.sort_unstable();
        let mut aborted = aborted.into_iter().peekable();
        let records = data.records.unwrap_or_default();
        let before = offset;
        for batch in RecordBatches::new(records) {
            let batch = batch.map_err(|e| format!("{topic}-{partition}: {e}"))?;
            // An aborted transaction's batches start at its first offset.
            while let Some(&(first, pid)) = aborted.peek() {
                if first > batch.last_offset() {
                    break;
                }
                aborted_pids.insert(pid);
                aborted.next();
            }
            if batch.is_control() {
                let marker = batch
                    .end_txn_marker()
                    .map_err(|e| format!("{topic}-{partition}: {e}"))?;
                if marker.is_some_and(|m| !m.is_commit()) {
                    aborted_pids.remove(&batch.producer_id());
                }
            } else if !(batch.is_transactional() && aborted_pids.contains(&batch.producer_id())) {
                for r in batch
                    .records()
                    .map_err(|e| format!("{topic}-{partition}: {e}"))?
                {
                    let r = r.map_err(|e| format!("{topic}-{partition}: {e}"))?;
                    if r.offset >= offset {
                        keys.push(r.key.unwrap_or_default());
                    }
                }
            }
            offset = offset.max(batch.next_offset());
        }
        if offset == before || offset >= data.last_stable_offset {
            break;
        }
    }
    Ok(keys)
}
