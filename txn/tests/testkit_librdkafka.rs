//! A third-party check: librdkafka (the `rdkafka` crate) as a `read_committed` consumer reads
//! what Klamm's transactional producer wrote to klamm-testkit (committed records exactly
//! once, aborted ones never, per-partition order kept), with transaction version 2 markers
//! (KIP-890 part 2: EndTxn v5, a new epoch after every transaction).

use std::time::{Duration, Instant};

use klamm_producer::ProducerRecord;
use klamm_testkit::Cluster;
use klamm_txn::{ClusterTransport, TransactionalProducer};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

const TOPIC: &str = "payments";
const PARTITIONS: i32 = 3;

type Producer = TransactionalProducer<klamm_producer::Producer, ClusterTransport>;

/// Reads `topic` from the beginning with librdkafka until `expected` records arrived (or
/// nothing new came for 10 s), then one more second to catch extras.
fn librdkafka_read(bootstrap: &str, expected: usize, isolation: &str) -> Vec<Vec<Vec<u8>>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "klamm-txn-reader")
        .set("enable.auto.commit", "false")
        .set("isolation.level", isolation)
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition_offset(TOPIC, p, Offset::Beginning)
            .expect("partition");
    }
    consumer.assign(&tpl).expect("assign");
    let mut out = vec![Vec::new(); PARTITIONS as usize];
    let mut count = 0;
    let mut last = Instant::now();
    let mut extra_until: Option<Instant> = None;
    loop {
        if let Some(until) = extra_until {
            if Instant::now() > until {
                break;
            }
        } else if count >= expected || last.elapsed() > Duration::from_secs(10) {
            extra_until = Some(Instant::now() + Duration::from_secs(1));
        }
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                out[m.partition() as usize].push(m.payload().unwrap_or_default().to_vec());
                count += 1;
                last = Instant::now();
            }
            Some(Err(e)) => panic!("librdkafka consumer error: {e}"),
            None => {}
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn librdkafka_reads_committed_transactions_only() {
    let kit = Cluster::builder()
        .brokers(3)
        .topic(TOPIC, PARTITIONS)
        .start()
        .await
        .expect("testkit");
    // The real transactional producer: klamm-txn on klamm-producer's sender.
    let p: Producer = TransactionalProducer::builder()
        .bootstrap(kit.bootstrap())
        .transactional_id("payments-0")
        .producer(|b| b.linger(Duration::from_millis(2)))
        .build()
        .await
        .expect("build");
    p.init_transactions().await.expect("init");

    let mut expected = vec![Vec::new(); PARTITIONS as usize];
    let mut total_committed = 0;
    let mut total_written = 0;
    for txn in 0..120 {
        p.begin_transaction().expect("begin");
        let commit = txn % 4 != 3;
        let mut futures = Vec::new();
        for i in 0..(1 + txn % 7) {
            let part = (txn + i) % PARTITIONS;
            let v = format!("{txn}-{i}");
            let rec = ProducerRecord::new(TOPIC).partition(part).value(v.clone());
            futures.push(p.send(rec).await.expect("send"));
            total_written += 1;
            if commit {
                expected[part as usize].push(v.into_bytes());
                total_committed += 1;
            }
        }
        if commit {
            p.commit_transaction().await.expect("commit");
            for f in futures {
                f.await.expect("delivered");
            }
        } else {
            // make sure the aborted records really reach the log before the abort
            for f in futures {
                f.await.expect("written before the abort");
            }
            p.abort_transaction().await.expect("abort");
        }
    }
    // the testkit finalizes transaction.version 2: the markers were written by EndTxn v5
    // (a new epoch per transaction) and no partition was added with AddPartitionsToTxn
    assert_eq!(kit.transaction_version().0, 2);
    assert!(p.status().kip890);
    assert_eq!(
        kit.arrivals_of(klamm_protocol::ApiKey::AddPartitionsToTxn),
        0
    );
    assert!(
        kit.arrivals()
            .iter()
            .filter(|a| a.api_key == klamm_protocol::ApiKey::EndTxn.as_i16())
            .all(|a| a.api_version == 5)
    );
    let bootstrap = kit.bootstrap();
    let committed = tokio::task::spawn_blocking({
        let bootstrap = bootstrap.clone();
        move || librdkafka_read(&bootstrap, total_committed, "read_committed")
    })
    .await
    .expect("reader");
    assert_eq!(
        committed, expected,
        "read_committed sees committed records only, in order"
    );
    // and the aborted records are really in the log: read_uncommitted sees more
    let uncommitted = tokio::task::spawn_blocking(move || {
        librdkafka_read(&bootstrap, total_written, "read_uncommitted")
    })
    .await
    .expect("reader");
    let all: usize = uncommitted.iter().map(Vec::len).sum();
    assert!(
        all > total_committed,
        "{all} records in the log, {total_committed} committed"
    );
    assert_eq!(
        all, total_written,
        "read_uncommitted sees every record once"
    );
}
