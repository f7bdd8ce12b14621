//! Brokers for the benchmarks, each in its own process so that the client processes' CPU and
//! memory numbers are theirs alone.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, ChildStdin, Command, Stdio};

/// The brokers a benchmark can run against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokerKind {
    /// The librdkafka mock cluster (`rdkafka::mocking::MockCluster`).
    Mock,
    /// Klamm's own in-memory cluster.
    Testkit,
}

impl BrokerKind {
    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            BrokerKind::Mock => "mock",
            BrokerKind::Testkit => "testkit",
        }
    }

    /// Parses a name.
    pub fn parse(s: &str) -> Option<BrokerKind> {
        match s {
            "mock" => Some(BrokerKind::Mock),
            "testkit" => Some(BrokerKind::Testkit),
            _ => None,
        }
    }
}

/// A broker process started by [`BrokerProcess::start`]; stopped when dropped (its standard
/// input closes, and it is killed if it lingers).
pub struct BrokerProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    /// The bootstrap list the broker printed.
    pub bootstrap: String,
}

impl BrokerProcess {
    /// Starts `kind` with `brokers` brokers and `topics` (each with `partitions` partitions)
    /// by re-running this executable in serve mode.
    pub fn start(
        kind: BrokerKind,
        brokers: i32,
        topics: &[String],
        partitions: i32,
    ) -> Result<BrokerProcess, String> {
        let exe = std::env::current_exe().map_err(|e| format!("own executable: {e}"))?;
        let mut child = Command::new(exe)
            .args([
                "serve",
                kind.name(),
                &brokers.to_string(),
                &partitions.to_string(),
            ])
            .args(topics)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("starting the {} broker: {e}", kind.name()))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .map_err(|e| format!("reading the broker's bootstrap line: {e}"))?;
        let bootstrap = line
            .trim()
            .strip_prefix("bootstrap: ")
            .ok_or_else(|| format!("the {} broker said {line:?}", kind.name()))?
            .to_string();
        let stdin = child.stdin.take();
        Ok(BrokerProcess {
            child,
            stdin,
            bootstrap,
        })
    }
}

impl Drop for BrokerProcess {
    fn drop(&mut self) {
        drop(self.stdin.take());
        for _ in 0..50 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_for_stdin_eof() {
    let mut sink = [0u8; 64];
    let mut stdin = std::io::stdin();
    while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
}

/// Serve mode: run a broker with `topics`, print `bootstrap: ...`, run until standard input
/// closes.
pub fn serve(
    kind: BrokerKind,
    brokers: i32,
    partitions: i32,
    topics: &[String],
) -> Result<(), String> {
    match kind {
        BrokerKind::Mock => {
            let cluster = rdkafka::mocking::MockCluster::new(brokers)
                .map_err(|e| format!("mock cluster: {e}"))?;
            for t in topics {
                cluster
                    .create_topic(t, partitions, 1)
                    .map_err(|e| format!("mock topic {t}: {e}"))?;
            }
            println!("bootstrap: {}", cluster.bootstrap_servers());
            wait_for_stdin_eof();
            drop(cluster);
            Ok(())
        }
        BrokerKind::Testkit => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .map_err(|e| format!("runtime: {e}"))?;
            rt.block_on(async {
                let mut builder = klamm_testkit::Cluster::builder().brokers(brokers);
                for t in topics {
                    builder = builder.topic(t, partitions);
                }
                let cluster = builder.start().await.map_err(|e| format!("testkit: {e}"))?;
                println!("bootstrap: {}", cluster.bootstrap());
                tokio::task::spawn_blocking(wait_for_stdin_eof)
                    .await
                    .map_err(|e| format!("waiting for stdin: {e}"))?;
                drop(cluster);
                Ok(())
            })
        }
    }
}
