//! The differential suite: klamm-testkit checked against Apache Kafka.
//!
//! Each case sends the same raw request sequence, at pinned request versions, to Apache Kafka
//! (the broker under test, which must be Kafka itself) and to an in-process klamm-testkit
//! cluster of three brokers, each in a fresh topic of two partitions. Every answer is
//! normalized into a step of a transcript (error codes by name, offsets as in the fresh
//! topic, producer ids named in order of use, epochs relative to the first, counts of data
//! records, control batches, high watermark, last stable offset, aborted-transaction lists;
//! see [`transcript`]), and the two transcripts are compared step by step, field by field.
//!
//! Every difference is either fixed in the testkit or listed in [`known::KNOWN`] with its
//! reason (and in `testkit/README.md`). The scenario fails on a difference not listed, and on
//! a listed one that no longer occurs. When the transcripts of a case differ they are
//! printed side by side (always, with `KLAMM_DIFFERENTIAL_VERBOSE=1`); at the end a summary
//! line gives the cases, steps and fields compared and the known differences seen.
//!
//! Versions: transaction version 1 as clients before KIP-890 speak it (InitProducerId v4,
//! AddPartitionsToTxn v3, Produce v9, EndTxn v3, Fetch v11), and one case in transaction
//! version 2 (InitProducerId v5, Produce v12, EndTxn v5, Fetch v12); DescribeProducers v0.
//! Both brokers are checked to serve them before a case starts.
//!
//! Runs only on Apache Kafka (`cargo xtask integration --broker kafka`, or
//! `KLAMM_BROKERS=kafka KLAMM_KAFKA_BOOTSTRAP=...` against a cluster started by hand); on a
//! hand-started cluster with Kafka's default
//! `transaction.abort.timed.out.transaction.cleanup.interval.ms` (10 s) the timeout case
//! takes longer, and the quota case needs the cluster to measure client rates as the xtask's
//! does and the harness's testkit is set to (`quota.window.num=2`,
//! `quota.window.size.seconds=1`; with Kafka's 11 windows its throttles differ).

mod idempotence;
mod known;
mod plan;
mod quota;
mod side;
mod transactions;
mod transcript;

use std::time::Duration;

use klamm_integration::{
    BrokerKind, BrokerUnderTest, Needs, ScenarioError, ScenarioResult, scenario,
};

use self::known::{KNOWN, Verdict};
use self::plan::{TV1, TV2, Versions};
use self::side::Side;
use self::transcript::{Step, Transcript, compare, side_by_side};

/// How long a case waits for partitions to settle after a transaction ended.
pub(crate) const SETTLE: Duration = Duration::from_secs(30);
/// Partitions of each case's topic.
const PARTITIONS: i32 = 2;
/// Set to print every case's transcripts side by side, also when they agree.
const VERBOSE_ENV: &str = "KLAMM_DIFFERENTIAL_VERBOSE";

/// The cases, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Case {
    Sequences,
    UnknownProducers,
    CommitAndAbort,
    OpenTransaction,
    Fencing,
    Timeout,
    Version2,
    SegmentRoll,
    QuotaThrottle,
}

impl Case {
    const ALL: [Case; 9] = [
        Case::Sequences,
        Case::UnknownProducers,
        Case::CommitAndAbort,
        Case::OpenTransaction,
        Case::Fencing,
        Case::Timeout,
        Case::Version2,
        Case::SegmentRoll,
        Case::QuotaThrottle,
    ];

    fn name(self) -> &'static str {
        match self {
            Case::Sequences => "idempotent_sequences",
            Case::UnknownProducers => "unknown_producers",
            Case::CommitAndAbort => "commit_and_abort",
            Case::OpenTransaction => "open_transaction_lso",
            Case::Fencing => "fenced_producer",
            Case::Timeout => "transaction_timeout",
            Case::Version2 => "transaction_version_2",
            Case::SegmentRoll => "segment_roll",
            Case::QuotaThrottle => "quota_throttle",
        }
    }

    fn versions(self) -> Versions {
        match self {
            Case::Version2 => TV2,
            _ => TV1,
        }
    }

    async fn run(self, s: &mut Side) -> ScenarioResult {
        match self {
            Case::Sequences => idempotence::sequences(s).await,
            Case::UnknownProducers => idempotence::unknown_producers(s).await,
            Case::CommitAndAbort => transactions::commit_and_abort(s).await,
            Case::OpenTransaction => transactions::open_transaction(s).await,
            Case::Fencing => transactions::fencing(s).await,
            Case::Timeout => transactions::timeout(s).await,
            Case::Version2 => transactions::version_2(s).await,
            Case::SegmentRoll => transactions::segment_roll(s).await,
            Case::QuotaThrottle => quota::throttle(s).await,
        }
    }
}

/// Runs `case` on `broker` in a fresh topic. A case that stops on an error ends its
/// transcript with a step saying so (the other broker's transcript shows how far it got).
async fn transcript(
    case: Case,
    broker: &BrokerUnderTest,
    name: &'static str,
) -> Result<Transcript, ScenarioError> {
    let topic = scenario::unique_topic(&format!("diff-{}", case.name()));
    let mut side = Side::open(name, broker, &topic, PARTITIONS, case.versions()).await?;
    let outcome = case.run(&mut side).await;
    if let Err(e) = outcome {
        side.push(Step::new("(the case stopped)").field("error", e));
    }
    Ok(side.finish())
}

/// Every case on Apache Kafka (`kafka`) and on a fresh testkit, compared.
async fn differential_suite(kafka: BrokerUnderTest) -> ScenarioResult {
    let testkit = match BrokerUnderTest::connect(BrokerKind::Testkit).await? {
        Ok(t) => t,
        Err(unavailable) => return Err(unavailable.0.into()),
    };
    let mut verdict = Verdict::new(KNOWN);
    let (mut steps, mut fields) = (0, 0);
    for case in Case::ALL {
        let (k, t) = tokio::join!(
            transcript(case, &kafka, "kafka"),
            transcript(case, &testkit, "testkit")
        );
        let (k, t) = (k?, t?);
        let cmp = compare(case.name(), &k, &t);
        steps += cmp.steps;
        fields += cmp.fields;
        verdict.add(KNOWN, &cmp.differences);
        println!(
            "differential: case {} compared {} steps ({} fields): {} difference(s)",
            case.name(),
            cmp.steps,
            cmp.fields,
            cmp.differences.len()
        );
        if !cmp.differences.is_empty() || std::env::var_os(VERBOSE_ENV).is_some() {
            let known = |d: &_| KNOWN.iter().any(|kd| kd.matches(d));
            println!(
                "{}",
                side_by_side(case.name(), &k, &t, known, &cmp.differences)
            );
        }
    }
    let gone: Vec<String> = verdict
        .gone(KNOWN)
        .iter()
        .map(|k| {
            format!(
                "{} / {} / {}: kafka {} | testkit {}",
                k.case, k.step, k.field, k.kafka, k.testkit
            )
        })
        .collect();
    if !verdict.unexpected.is_empty() || !gone.is_empty() {
        const SHOWN: usize = 8;
        let total = verdict.unexpected.len();
        let mut shown: Vec<String> = verdict
            .unexpected
            .iter()
            .take(SHOWN)
            .map(ToString::to_string)
            .collect();
        if total > SHOWN {
            shown.push(format!(
                "and {} more (see the transcripts above)",
                total - SHOWN
            ));
        }
        return Err(format!(
            "the testkit differs from Apache Kafka in {total} way(s) not listed as known: [{}]; \
             {} listed known difference(s) no longer occur (remove them from the list and \
             from testkit/README.md): [{}]",
            shown.join("; "),
            gone.len(),
            gone.join("; ")
        )
        .into());
    }
    println!(
        "differential: {} cases, {steps} steps ({fields} fields) compared; the testkit answers \
         like Apache Kafka except {} known difference(s), each still seen",
        Case::ALL.len(),
        KNOWN.len()
    );
    for k in KNOWN {
        println!(
            "  known: {} / {} / {}: kafka {} | testkit {} ({})",
            k.case, k.step, k.field, k.kafka, k.testkit, k.why
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn differential() {
    scenario::run(
        "differential",
        Needs {
            apache_kafka: true,
            ..Needs::NOTHING
        },
        Duration::from_secs(900),
        differential_suite,
    )
    .await;
}
