//! The testkit checked by a third-party client, librdkafka (the `rdkafka` crate), at the
//! scale issue 3 asks for: 100k records per codec read back identical; an idempotent producer
//! that loses its connection after every 1,000th applied Produce without duplicating or
//! reordering anything; 100 transactions with every third aborted, seen exactly by
//! `read_committed` and fully by `read_uncommitted`; a fenced producer getting a fatal error.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use klamm_protocol::ApiKey;
use klamm_testkit::{Cluster, Fault, FaultAction};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Message, Offset, TopicPartitionList};

const PARTITIONS: i32 = 3;

type Rd = ThreadedProducer<DefaultProducerContext>;

fn producer(bootstrap: &str, settings: &[(&str, &str)]) -> Rd {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap)
        .set("broker.address.family", "v4")
        .set("message.timeout.ms", "60000");
    for (k, v) in settings {
        c.set(*k, *v);
    }
    c.create().expect("producer")
}

fn send(p: &Rd, topic: &str, partition: i32, value: &str) {
    loop {
        match p.send(
            BaseRecord::<[u8], [u8]>::to(topic)
                .partition(partition)
                .payload(value.as_bytes()),
        ) {
            Ok(()) => return,
            // queue full: let librdkafka drain
            Err((_, _)) => std::thread::sleep(Duration::from_millis(1)),
        }
    }
}

/// Flushes in 1 ms steps. rust-rdkafka 0.38's `flush` (also run first by its
/// `commit_transaction`) polls for a full 100 ms whenever a delivery report is outstanding;
/// short steps keep a transaction at a few milliseconds (see klamm-txn's README).
fn flush_fast(p: &Rd) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while p.flush(Duration::from_millis(1)).is_err() {
        assert!(Instant::now() < deadline, "librdkafka could not flush");
    }
}

/// Every record of `topic` as (partition, value), read from the beginning until `expected`
/// were read or nothing came for 3 s.
fn read(bootstrap: &str, topic: &str, isolation: &str, expected: usize) -> Vec<(i32, String)> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("broker.address.family", "v4")
        .set("group.id", format!("{topic}-{isolation}"))
        .set("enable.auto.commit", "false")
        .set("isolation.level", isolation)
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let mut out = Vec::with_capacity(expected);
    let mut last = Instant::now();
    while out.len() < expected || last.elapsed() < Duration::from_millis(300) {
        match consumer.poll(Duration::from_millis(50)) {
            Some(m) => {
                let m = m.expect("consume");
                let v = String::from_utf8(m.payload().unwrap_or_default().to_vec()).unwrap();
                out.push((m.partition(), v));
                last = Instant::now();
            }
            None if last.elapsed() > Duration::from_secs(3) => break,
            None => {}
        }
    }
    out
}

/// Values per partition in read order, as numbers.
fn per_partition(read: &[(i32, String)]) -> Vec<Vec<u64>> {
    (0..PARTITIONS)
        .map(|p| {
            read.iter()
                .filter(|r| r.0 == p)
                .map(|r| r.1[..10].parse().unwrap())
                .collect()
        })
        .collect()
}

fn value(i: u64) -> String {
    format!("{i:010}-{}", "klamm".repeat(18))
}

async fn cluster() -> Cluster {
    Cluster::builder().brokers(3).start().await.unwrap()
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.expect("blocking task")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_thousand_records_per_codec_read_back_identical() {
    let cluster = cluster().await;
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
        let topic = format!("codec-{codec}");
        cluster.create_topic(&topic, PARTITIONS).unwrap();
        let bootstrap = cluster.bootstrap();
        let read = blocking(move || {
            let p = producer(
                &bootstrap,
                &[("compression.codec", codec), ("linger.ms", "5")],
            );
            for i in 0..100_000u64 {
                send(&p, &topic, (i % 3) as i32, &value(i));
            }
            p.flush(Duration::from_secs(120)).unwrap();
            read(&bootstrap, &topic, "read_uncommitted", 100_000)
        })
        .await;
        assert_eq!(read.len(), 100_000, "{codec}");
        for (p, vals) in per_partition(&read).into_iter().enumerate() {
            let want: Vec<u64> = (0..100_000u64).filter(|i| i % 3 == p as u64).collect();
            assert_eq!(vals, want, "{codec} partition {p}");
        }
        let bad = read
            .iter()
            .find(|(_, v)| *v != value(v[..10].parse().unwrap()));
        assert_eq!(bad, None, "{codec}: values intact");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_producer_survives_dropped_connections_without_duplicates() {
    let cluster = cluster().await;
    cluster.create_topic("idem", PARTITIONS).unwrap();
    let drops = cluster.inject(Fault::new(ApiKey::Produce, FaultAction::DropAfter).every(1000));
    let bootstrap = cluster.bootstrap();
    let read = blocking(move || {
        let p = producer(
            &bootstrap,
            &[
                ("enable.idempotence", "true"),
                ("linger.ms", "1"),
                ("batch.num.messages", "20"),
            ],
        );
        for i in 0..100_000u64 {
            send(&p, "idem", (i % 3) as i32, &value(i));
        }
        p.flush(Duration::from_secs(120)).unwrap();
        read(&bootstrap, "idem", "read_uncommitted", 100_000)
    })
    .await;
    assert!(
        cluster.fault_fired(drops) >= 1,
        "connections really were dropped"
    );
    assert_eq!(
        cluster.injected(ApiKey::Produce).drops_after,
        cluster.fault_fired(drops)
    );
    for (p, vals) in per_partition(&read).into_iter().enumerate() {
        let want: Vec<u64> = (0..100_000u64).filter(|i| i % 3 == p as u64).collect();
        assert_eq!(
            vals.len(),
            want.len(),
            "partition {p}: nothing lost, nothing duplicated"
        );
        assert_eq!(vals, want, "partition {p}: order kept");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_read_committed_sees_exactly_the_committed_records() {
    // transaction.version 2 (the default): librdkafka still uses AddPartitionsToTxn and
    // EndTxn below v5, which a version-2 cluster serves as before
    librdkafka_transactions(2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_read_committed_on_a_transaction_version_1_cluster() {
    librdkafka_transactions(1).await;
}

async fn librdkafka_transactions(transaction_version: i16) {
    let cluster = Cluster::builder()
        .brokers(3)
        .transaction_version(transaction_version)
        .start()
        .await
        .unwrap();
    assert_eq!(cluster.transaction_version().0, transaction_version);
    cluster.create_topic("txn", PARTITIONS).unwrap();
    let bootstrap = cluster.bootstrap();
    let (committed, uncommitted, all) = blocking(move || {
        let p = producer(&bootstrap, &[("transactional.id", "interop-txn")]);
        let t = Duration::from_secs(30);
        p.init_transactions(t).unwrap();
        let mut committed = BTreeSet::new();
        for txn in 0..100u64 {
            p.begin_transaction().unwrap();
            for i in 0..10 {
                let n = txn * 10 + i;
                send(&p, "txn", (n % 3) as i32, &value(n));
            }
            if txn % 3 == 2 {
                flush_fast(&p); // the aborted records reach the log first
                p.abort_transaction(t).unwrap();
            } else {
                flush_fast(&p);
                p.commit_transaction(t).unwrap();
                committed.extend(txn * 10..txn * 10 + 10);
            }
        }
        let rc = read(&bootstrap, "txn", "read_committed", committed.len());
        let ru = read(&bootstrap, "txn", "read_uncommitted", 1000);
        (committed, rc, ru)
    })
    .await;
    let seen: Vec<u64> = uncommitted
        .iter()
        .map(|r| r.1[..10].parse().unwrap())
        .collect();
    let seen_set: BTreeSet<u64> = seen.iter().copied().collect();
    assert_eq!(seen.len(), seen_set.len(), "read_committed: no duplicates");
    assert_eq!(
        seen_set, committed,
        "read_committed: exactly the committed records"
    );
    assert_eq!(
        all.len(),
        1000,
        "read_uncommitted: every record, aborted ones too"
    );
    assert_eq!(committed.len(), 670);
    assert!(cluster.arrivals_of(ApiKey::AddPartitionsToTxn) > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fenced_transactional_producer_gets_a_fatal_error() {
    let cluster = cluster().await;
    cluster.create_topic("fence", PARTITIONS).unwrap();
    let bootstrap = cluster.bootstrap();
    let (error, visible) = blocking(move || {
        let t = Duration::from_secs(30);
        let zombie = producer(&bootstrap, &[("transactional.id", "interop-fence")]);
        zombie.init_transactions(t).unwrap();
        zombie.begin_transaction().unwrap();
        send(&zombie, "fence", 0, &value(1));
        zombie.flush(t).unwrap();
        let fresh = producer(&bootstrap, &[("transactional.id", "interop-fence")]);
        fresh.init_transactions(t).unwrap();
        let error = zombie
            .commit_transaction(t)
            .expect_err("the zombie is fenced");
        (error, read(&bootstrap, "fence", "read_committed", 0))
    })
    .await;
    assert_eq!(
        error.rdkafka_error_code(),
        Some(RDKafkaErrorCode::Fenced),
        "{error:?}"
    );
    assert!(
        visible.is_empty(),
        "the zombie's open transaction was aborted"
    );
}
