use std::collections::VecDeque;

use proptest::prelude::*;

use super::*;

fn tp(p: i32) -> TopicPartition {
    TopicPartition {
        topic: "t".into(),
        partition: p,
    }
}

const PID: ProducerIdEpoch = ProducerIdEpoch { id: 7, epoch: 0 };

fn send(i: &mut Idempotence, p: i32, id: BatchId, n: i32) -> Option<i32> {
    match i.admit(&tp(p), id, n) {
        Admission::Send { base_sequence, .. } => Some(base_sequence),
        Admission::Wait => None,
    }
}

/// A producer with [`PID`] whose first batch (one record, sequence 0, batch id 1000 + p) was
/// written on each of `partitions`: their leaders hold its state, so batches pipeline.
fn known_on(partitions: &[i32]) -> Idempotence {
    let mut i = Idempotence::new();
    assert!(i.set_producer(PID));
    for &p in partitions {
        let id = 1000 + p as BatchId;
        assert_eq!(send(&mut i, p, id, 1), Some(0));
        assert_eq!(i.on_outcome(&tp(p), id, Outcome::Written), Next::Complete);
    }
    i
}

#[test]
fn one_batch_at_a_time_until_the_broker_knows_the_producer_id() {
    // A broker with no state for a producer id accepts any sequence (Kafka 2.5+): a second
    // batch must not overtake the first.
    let mut i = Idempotence::new();
    i.set_producer(PID);
    assert_eq!(send(&mut i, 0, 1, 2), Some(0));
    assert_eq!(send(&mut i, 0, 2, 1), None, "the first batch goes alone");
    assert_eq!(
        send(&mut i, 1, 3, 1),
        Some(0),
        "other partitions have their own"
    );
    // The first batch fails retriably: it is still the only one to go.
    i.on_outcome(&tp(0), 1, Outcome::RetriableRejected);
    assert_eq!(send(&mut i, 0, 2, 1), None);
    assert_eq!(send(&mut i, 0, 1, 2), Some(0));
    i.on_outcome(&tp(0), 1, Outcome::Written);
    assert!(i.partition(&tp(0)).unwrap().known_to_broker(PID.id));
    assert_eq!(send(&mut i, 0, 2, 1), Some(2));
    assert_eq!(send(&mut i, 0, 4, 1), Some(3), "now pipelined");
    i.on_outcome(&tp(0), 2, Outcome::Written);
    i.on_outcome(&tp(0), 4, Outcome::Written);
    i.on_outcome(&tp(1), 3, Outcome::Written);
    // An epoch bump of the same id keeps the brokers' state: still pipelined, from 0.
    assert!(i.replace_producer(ProducerIdEpoch { id: 7, epoch: 1 }));
    assert_eq!(send(&mut i, 0, 6, 1), Some(0));
    assert_eq!(send(&mut i, 0, 7, 1), Some(1));
    i.on_outcome(&tp(0), 6, Outcome::Written);
    i.on_outcome(&tp(0), 7, Outcome::Written);
    // A new producer id (what an idempotent InitProducerId hands out): alone again.
    assert!(i.replace_producer(ProducerIdEpoch { id: 8, epoch: 0 }));
    assert_eq!(send(&mut i, 0, 8, 1), Some(0));
    assert_eq!(send(&mut i, 0, 9, 1), None);
    assert_eq!(send(&mut i, 1, 10, 1), Some(0));
    assert_eq!(send(&mut i, 1, 11, 1), None);
}

#[test]
fn sequences_are_assigned_once_and_kept() {
    let mut i = Idempotence::new();
    assert_eq!(send(&mut i, 0, 1, 10), None, "no producer id yet");
    assert!(i.can_bump());
    let mut i = known_on(&[0, 1]);
    assert_eq!(send(&mut i, 0, 1, 10), Some(1));
    assert_eq!(send(&mut i, 0, 2, 5), Some(11));
    assert_eq!(
        send(&mut i, 1, 3, 5),
        Some(1),
        "sequences are per partition"
    );
    assert_eq!(i.in_flight(), 3);
    // Batch 1 fails retriably: it is resent with the same sequence, before batch 2.
    assert_eq!(
        i.on_outcome(&tp(0), 1, Outcome::RetriableRejected),
        Next::Retry
    );
    assert_eq!(
        send(&mut i, 0, 4, 1),
        None,
        "new batches wait behind a retry"
    );
    assert_eq!(send(&mut i, 0, 1, 10), Some(1));
    assert_eq!(i.on_outcome(&tp(0), 1, Outcome::Written), Next::Complete);
    assert_eq!(i.on_outcome(&tp(0), 2, Outcome::Written), Next::Complete);
    assert_eq!(send(&mut i, 0, 4, 1), Some(16));
    assert_eq!(i.partition(&tp(0)).unwrap().next(), 17);
}

#[test]
fn at_most_five_batches_per_partition() {
    let mut i = known_on(&[0]);
    for id in 0..5 {
        assert!(send(&mut i, 0, id, 1).is_some());
    }
    assert_eq!(send(&mut i, 0, 5, 1), None);
    assert!(
        send(&mut i, 1, 6, 1).is_some(),
        "other partitions are not held"
    );
    i.on_outcome(&tp(0), 0, Outcome::Written);
    assert_eq!(send(&mut i, 0, 5, 1), Some(6));
}

#[test]
fn retry_waits_until_it_is_the_oldest() {
    let mut i = known_on(&[0]);
    assert_eq!(send(&mut i, 0, 1, 1), Some(1));
    assert_eq!(send(&mut i, 0, 2, 1), Some(2));
    // The later batch is answered first with an error: it must not be resent before batch 1
    // has an outcome.
    i.on_outcome(&tp(0), 2, Outcome::SequenceRejected);
    assert!(!i.bump_requested(), "not the oldest: no bump");
    assert_eq!(send(&mut i, 0, 2, 1), None);
    i.on_outcome(&tp(0), 1, Outcome::Written);
    assert_eq!(send(&mut i, 0, 2, 1), Some(2));
}

#[test]
fn sequence_rejection_at_the_oldest_bumps_the_epoch_when_idle() {
    let mut i = known_on(&[0, 1]);
    assert_eq!(send(&mut i, 0, 1, 3), Some(1));
    assert_eq!(send(&mut i, 0, 2, 2), Some(4));
    assert_eq!(send(&mut i, 1, 3, 4), Some(1));
    i.on_outcome(&tp(0), 1, Outcome::SequenceRejected);
    assert!(i.bump_requested());
    assert!(!i.can_bump(), "batches still in flight");
    let bumped = ProducerIdEpoch { id: 7, epoch: 1 };
    assert!(!i.set_producer(bumped), "refused while in flight");
    i.on_outcome(&tp(0), 2, Outcome::SequenceRejected);
    i.on_outcome(&tp(1), 3, Outcome::Written);
    assert!(i.can_bump());
    assert!(i.set_producer(bumped));
    assert!(!i.bump_requested());
    // Renumbered from 0, in order, under the new epoch.
    assert_eq!(
        i.admit(&tp(0), 1, 3),
        Admission::Send {
            producer: bumped,
            base_sequence: 0
        }
    );
    assert_eq!(send(&mut i, 0, 2, 2), None, "one retry at a time");
    i.on_outcome(&tp(0), 1, Outcome::Written);
    assert_eq!(send(&mut i, 0, 2, 2), Some(3));
    assert_eq!(send(&mut i, 1, 4, 1), Some(0), "every partition restarts");
}

#[test]
fn unknown_outcomes_are_resolved_under_the_old_epoch_first() {
    let mut i = Idempotence::new();
    i.set_producer(PID);
    assert_eq!(send(&mut i, 0, 1, 1), Some(0));
    assert_eq!(send(&mut i, 1, 2, 1), Some(0));
    i.on_outcome(&tp(1), 2, Outcome::Unknown); // connection dropped
    i.on_outcome(&tp(0), 1, Outcome::SequenceRejected); // broker lost state on p0
    assert!(i.bump_requested());
    assert!(!i.can_bump(), "p1's batch may have been written");
    assert_eq!(send(&mut i, 0, 1, 1), None, "p0 waits for the bump");
    assert_eq!(send(&mut i, 0, 3, 1), None, "no new batches while bumping");
    assert_eq!(
        send(&mut i, 1, 2, 1),
        Some(0),
        "p1 resends under the old epoch"
    );
    assert!(!i.can_bump());
    i.on_outcome(&tp(1), 2, Outcome::Written); // DUPLICATE_SEQUENCE_NUMBER counts as written
    assert!(i.can_bump());
}

#[test]
fn sequence_loss_makes_later_unknowns_rejected() {
    let mut i = known_on(&[0]);
    assert_eq!(send(&mut i, 0, 1, 1), Some(1));
    assert_eq!(send(&mut i, 0, 2, 1), Some(2));
    i.on_outcome(&tp(0), 2, Outcome::Unknown);
    i.on_outcome(&tp(0), 1, Outcome::SequenceRejected);
    // Batch 2 followed a rejected batch on the same partition: it cannot have been written.
    assert!(i.can_bump());
}

#[test]
fn failed_batch_leaves_a_gap_that_needs_a_bump() {
    let mut i = known_on(&[0]);
    assert_eq!(send(&mut i, 0, 1, 1), Some(1));
    assert_eq!(send(&mut i, 0, 2, 1), Some(2));
    assert_eq!(
        i.on_outcome(
            &tp(0),
            1,
            Outcome::Failed {
                maybe_written: false
            }
        ),
        Next::Fail
    );
    assert!(i.bump_requested(), "batch 2 holds sequence 1, after a gap");
}

#[test]
fn failing_the_newest_rejected_batch_reuses_its_sequences() {
    let mut i = Idempotence::new();
    i.set_producer(PID);
    send(&mut i, 0, 1, 4);
    i.on_outcome(&tp(0), 1, Outcome::Written);
    send(&mut i, 0, 2, 3);
    i.on_outcome(
        &tp(0),
        2,
        Outcome::Failed {
            maybe_written: false,
        },
    );
    assert!(!i.bump_requested());
    assert_eq!(send(&mut i, 0, 3, 1), Some(4));
    // But one that may have been written leaves a gap.
    i.on_outcome(&tp(0), 3, Outcome::Unknown);
    i.abandon(&tp(0), 3);
    assert!(i.bump_requested());
    assert_eq!(i.in_flight(), 0);
}

#[test]
fn sequences_wrap_like_kafka() {
    assert_eq!(next_sequence(0, 5), 5);
    assert_eq!(next_sequence(i32::MAX - 2, 2), i32::MAX);
    assert_eq!(next_sequence(i32::MAX - 2, 3), 0);
    assert_eq!(next_sequence(i32::MAX, 1), 0);
    assert_eq!(next_sequence(i32::MAX, 10), 9);
}

// ---- model check against a simulated broker -------------------------------------------

/// A broker partition with Kafka's idempotence checks (last 5 batches kept per producer).
#[derive(Default)]
struct BrokerPartition {
    /// The producer id and epoch it holds state for.
    producer: Option<(i64, i16)>,
    /// It forgot that state and answers as a broker that lost it before Kafka 2.5 did (any
    /// sequence but 0 is out of order); Kafka 2.5+ accepts any sequence then, which no
    /// client can tell from a write in order.
    forgot: bool,
    last_seq: i32,
    recent: VecDeque<(i32, i32)>, // (base, last) of the last 5 batches
    log: Vec<BatchId>,
}

enum Answer {
    Ok,
    OutOfOrder,
}

impl BrokerPartition {
    fn produce(&mut self, id: BatchId, producer: ProducerIdEpoch, base: i32, count: i32) -> Answer {
        let last = next_sequence(base, count - 1);
        let epoch = producer.epoch;
        match self.producer {
            Some((p, e)) if p == producer.id && epoch < e => {
                panic!("a batch was sent with a stale epoch {epoch} < {e}")
            }
            Some((p, e)) if p == producer.id && epoch == e => {
                if self.recent.iter().any(|&(b, l)| b == base && l == last) {
                    return Answer::Ok; // duplicate
                }
                if base != next_sequence(self.last_seq, 1) {
                    return Answer::OutOfOrder;
                }
            }
            // A new epoch of the producer id it knows must start at 0.
            Some((p, _)) if p == producer.id && base != 0 => return Answer::OutOfOrder,
            // State lost (the pre-2.5 answer).
            _ if self.forgot && base != 0 => return Answer::OutOfOrder,
            // A producer id it holds no state for: any sequence (Kafka 2.5+).
            _ => self.recent.clear(),
        }
        self.forgot = false;
        self.producer = Some((producer.id, epoch));
        self.last_seq = last;
        self.recent.push_back((base, last));
        if self.recent.len() > 5 {
            self.recent.pop_front();
        }
        self.log.push(id);
        Answer::Ok
    }
}

#[derive(Debug, Clone, Copy)]
enum Fault {
    None,
    DropAfterApply,
    RejectRetriable,
}

struct Sim {
    idem: Idempotence,
    producer: ProducerIdEpoch,
    bumps: u32,
    queues: Vec<VecDeque<(BatchId, i32)>>,
    network: Vec<VecDeque<(BatchId, i32, ProducerIdEpoch, i32)>>, // (id, count, producer, base)
    brokers: Vec<BrokerPartition>,
    created: Vec<Vec<BatchId>>,
    failed: Vec<BatchId>,
    next_id: BatchId,
}

impl Sim {
    fn new(partitions: usize) -> Self {
        let mut idem = Idempotence::new();
        let producer = ProducerIdEpoch { id: 1, epoch: 0 };
        idem.set_producer(producer);
        Sim {
            idem,
            producer,
            bumps: 0,
            queues: vec![VecDeque::new(); partitions],
            network: vec![VecDeque::new(); partitions],
            brokers: (0..partitions)
                .map(|_| BrokerPartition::default())
                .collect(),
            created: vec![Vec::new(); partitions],
            failed: Vec::new(),
            next_id: 0,
        }
    }

    fn create(&mut self, p: usize, count: i32) {
        self.queues[p].push_back((self.next_id, count));
        self.created[p].push(self.next_id);
        self.next_id += 1;
    }

    fn drain(&mut self, p: usize) {
        let Some(&(id, count)) = self.queues[p].front() else {
            return;
        };
        if let Admission::Send {
            producer,
            base_sequence,
        } = self.idem.admit(&tp(p as i32), id, count)
        {
            self.queues[p].pop_front();
            self.network[p].push_back((id, count, producer, base_sequence));
            let held = self
                .idem
                .partition(&tp(p as i32))
                .map_or(0, |s| s.window_len());
            assert!(held <= MAX_IN_FLIGHT_PER_PARTITION);
        }
    }

    /// Requeue at the head in sequence (here: id) order, as the accumulator does.
    fn requeue(&mut self, p: usize, id: BatchId, count: i32) {
        let q = &mut self.queues[p];
        let at = q
            .iter()
            .position(|&(other, _)| other > id)
            .unwrap_or(q.len());
        q.insert(at, (id, count));
    }

    fn respond(&mut self, p: usize, fault: Fault) {
        let Some((id, count, producer, base)) = self.network[p].pop_front() else {
            return;
        };
        let outcome = match fault {
            Fault::RejectRetriable => Outcome::RetriableRejected,
            Fault::None | Fault::DropAfterApply => {
                let answer = self.brokers[p].produce(id, producer, base, count);
                match answer {
                    // The answer is lost, whatever it was.
                    _ if matches!(fault, Fault::DropAfterApply) => Outcome::Unknown,
                    Answer::Ok => Outcome::Written,
                    Answer::OutOfOrder => Outcome::SequenceRejected,
                }
            }
        };
        match self.idem.on_outcome(&tp(p as i32), id, outcome) {
            Next::Retry => self.requeue(p, id, count),
            Next::Complete => {}
            Next::Fail => panic!("nothing fails for good in this model"),
        }
    }

    /// Delivery timeout of the queued head batch: it fails for good.
    fn expire(&mut self, p: usize) {
        if let Some((id, _)) = self.queues[p].pop_front() {
            self.idem.abandon(&tp(p as i32), id);
            self.failed.push(id);
        }
    }

    /// The broker forgets the producer (e.g. its state expired), only when no batch of the
    /// partition is on the wire or has an unknown outcome (otherwise even Kafka duplicates).
    fn lose_state(&mut self, p: usize) {
        let unknown = self
            .idem
            .partition(&tp(p as i32))
            .is_some_and(|s| s.has_unknown());
        if self.network[p].is_empty() && !unknown {
            self.brokers[p].producer = None;
            self.brokers[p].forgot = true;
            self.brokers[p].recent.clear();
        }
    }

    /// Bumps alternate between a new producer id (what an idempotent producer's
    /// InitProducerId gets from Kafka) and a new epoch of the same one (KIP-360, KIP-890).
    fn maybe_bump(&mut self) {
        if self.idem.bump_requested() && self.idem.can_bump() {
            self.bumps += 1;
            self.producer = if self.bumps % 2 == 1 {
                ProducerIdEpoch {
                    id: self.producer.id + 1,
                    epoch: 0,
                }
            } else {
                ProducerIdEpoch {
                    id: self.producer.id,
                    epoch: self.producer.epoch + 1,
                }
            };
            assert!(self.idem.set_producer(self.producer));
        }
    }

    fn settle(&mut self) {
        for _ in 0..10_000 {
            self.maybe_bump();
            let mut busy = false;
            for p in 0..self.queues.len() {
                self.drain(p);
                busy |= !self.network[p].is_empty() || !self.queues[p].is_empty();
                self.respond(p, Fault::None);
            }
            if !busy {
                return;
            }
        }
        panic!("did not settle: deadlock");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Whatever the interleaving of sends, answers, dropped connections, retriable rejections,
    /// expired batches and lost broker state: every batch that did not fail is written exactly
    /// once, in creation order, a failed one at most once,
    /// with at most 5 batches per partition holding sequences, and epochs bumped only when
    /// nothing is in flight (the broker model panics on a stale epoch).
    #[test]
    fn exactly_once_in_order(ops in proptest::collection::vec((0u8..9, 0usize..3, 1i32..4), 1..300)) {
        let mut sim = Sim::new(3);
        for (op, p, n) in ops {
            match op {
                0 | 1 => sim.create(p, n),
                2 | 3 => sim.drain(p),
                4 => sim.respond(p, Fault::None),
                5 => sim.respond(p, Fault::DropAfterApply),
                6 => sim.respond(p, Fault::RejectRetriable),
                7 => { sim.lose_state(p); sim.maybe_bump(); }
                _ => sim.expire(p),
            }
        }
        sim.settle();
        for p in 0..3 {
            // In creation order, each batch at most once; all but the failed ones present
            // (a failed batch may have been written before it failed).
            let log = &sim.brokers[p].log;
            prop_assert!(log.windows(2).all(|w| w[0] < w[1]), "order or duplicate: {:?}", log);
            let want: Vec<_> = sim.created[p].iter().filter(|id| !sim.failed.contains(id)).collect();
            let got: Vec<_> = log.iter().filter(|id| !sim.failed.contains(id)).collect();
            prop_assert_eq!(got, want);
        }
        prop_assert_eq!(sim.idem.in_flight(), 0);
    }
}

#[test]
fn model_smoke_with_state_loss() {
    let mut sim = Sim::new(1);
    sim.create(0, 2);
    sim.drain(0);
    sim.respond(0, Fault::None);
    sim.lose_state(0);
    for _ in 0..2 {
        sim.create(0, 2);
        sim.drain(0);
    }
    sim.respond(0, Fault::None); // OUT_OF_ORDER at the oldest: bump requested
    assert!(sim.idem.bump_requested());
    sim.settle();
    assert_eq!(sim.brokers[0].log, sim.created[0]);
    assert_eq!(sim.bumps, 1);
}
