//! A fake transactional producer and a fake "cluster" that keeps epochs per transactional id
//! (fencing like KIP-98), the committed records, and fault knobs. Lets the pool's logic be
//! tested without a broker.

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use klamm_pool::{Health, PoolProducer, ProducerFactory};

/// A fault the next commit of a given transactional id (or any id) hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitFault {
    /// The commit fails with an abortable error (e.g. a failed produce in the transaction).
    Abortable,
    /// The producer is broken (e.g. fenced) while committing.
    Fatal,
    /// The commit's outcome is unknown `n` times, then the retried commit succeeds.
    Unknown(u32),
}

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum FakeError {
    #[error("producer {0} fenced by a newer epoch")]
    Fenced(String),
    #[error("invalid transition: {0}")]
    State(String),
    #[error("injected: {0}")]
    Injected(&'static str),
    #[error("closed")]
    Closed,
}

#[derive(Default)]
struct ClusterState {
    epochs: HashMap<String, u32>,
    creates: HashMap<String, u32>,
    closes: HashMap<String, u32>,
    committed: Vec<String>,
    fail_creates: u32,
    commit_faults: HashMap<String, CommitFault>,
    any_commit_fault: Option<CommitFault>,
    broken: std::collections::HashSet<(String, u32)>,
}

/// The fake broker side, shared by every fake producer.
#[derive(Default)]
pub struct FakeCluster {
    state: Mutex<ClusterState>,
    /// Time each commit takes.
    pub commit_delay: Mutex<Duration>,
    /// Time each create takes.
    pub create_delay: Mutex<Duration>,
    /// The next abort panics (a producer bug).
    pub panic_next_abort: std::sync::atomic::AtomicBool,
}

impl FakeCluster {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn st(&self) -> std::sync::MutexGuard<'_, ClusterState> {
        self.state.lock().unwrap()
    }

    pub fn epoch(&self, id: &str) -> u32 {
        self.st().epochs.get(id).copied().unwrap_or(0)
    }
    pub fn creates(&self, id: &str) -> u32 {
        self.st().creates.get(id).copied().unwrap_or(0)
    }
    pub fn total_creates(&self) -> u32 {
        self.st().creates.values().sum()
    }
    pub fn closes(&self, id: &str) -> u32 {
        self.st().closes.get(id).copied().unwrap_or(0)
    }
    pub fn committed(&self) -> Vec<String> {
        self.st().committed.clone()
    }
    pub fn fail_next_creates(&self, n: u32) {
        self.st().fail_creates = n;
    }
    pub fn fault_next_commit(&self, id: &str, fault: CommitFault) {
        self.st().commit_faults.insert(id.to_owned(), fault);
    }
    pub fn fault_next_commit_any(&self, fault: CommitFault) {
        self.st().any_commit_fault = Some(fault);
    }
    /// The current producer of `id` breaks for good (reports FatalError from now on).
    pub fn break_producer(&self, id: &str) {
        let epoch = self.epoch(id);
        self.st().broken.insert((id.to_owned(), epoch));
    }
    /// Another client initialises `id` (a zombie fencer): bumps its epoch.
    pub fn fence(&self, id: &str) {
        *self.st().epochs.entry(id.to_owned()).or_default() += 1;
    }

    pub fn factory(self: &Arc<Self>) -> FakeFactory {
        FakeFactory {
            cluster: Arc::clone(self),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum St {
    Ready,
    InTxn,
    Completing(u32),
    Abortable,
    Fatal,
}

/// A fake transactional producer.
pub struct FakeProducer {
    pub id: String,
    pub epoch: u32,
    /// Closures using this producer right now (a test's exclusivity check).
    pub active: std::sync::atomic::AtomicUsize,
    cluster: Arc<FakeCluster>,
    state: Mutex<(St, Vec<String>)>,
}

impl FakeProducer {
    fn check_epoch(&self, st: &mut St) -> Result<(), FakeError> {
        if *st == St::Fatal {
            return Err(FakeError::Fenced(self.id.clone()));
        }
        if self.cluster.epoch(&self.id) != self.epoch {
            *st = St::Fatal;
            return Err(FakeError::Fenced(self.id.clone()));
        }
        Ok(())
    }

    /// Adds a record to the open transaction.
    pub async fn send(&self, record: impl Into<String>) -> Result<(), FakeError> {
        tokio::task::yield_now().await;
        let mut g = self.state.lock().unwrap();
        self.check_epoch(&mut g.0)?;
        if g.0 != St::InTxn {
            return Err(FakeError::State(format!("send in {:?}", g.0)));
        }
        g.1.push(record.into());
        Ok(())
    }
}

impl PoolProducer for FakeProducer {
    type Error = FakeError;

    async fn begin(&self) -> Result<(), FakeError> {
        let mut g = self.state.lock().unwrap();
        self.check_epoch(&mut g.0)?;
        if g.0 != St::Ready {
            return Err(FakeError::State(format!("begin in {:?}", g.0)));
        }
        g.0 = St::InTxn;
        Ok(())
    }

    async fn commit(&self) -> Result<(), FakeError> {
        let delay = *self.cluster.commit_delay.lock().unwrap();
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let mut g = self.state.lock().unwrap();
        self.check_epoch(&mut g.0)?;
        match g.0 {
            St::InTxn | St::Completing(_) => {}
            s => return Err(FakeError::State(format!("commit in {s:?}"))),
        }
        if let St::Completing(n) = g.0 {
            if n > 0 {
                g.0 = St::Completing(n - 1);
                return Err(FakeError::Injected("commit outcome unknown"));
            }
        } else {
            let fault = {
                let mut c = self.cluster.st();
                c.commit_faults
                    .remove(&self.id)
                    .or_else(|| c.any_commit_fault.take())
            };
            match fault {
                None => {}
                Some(CommitFault::Abortable) => {
                    g.0 = St::Abortable;
                    return Err(FakeError::Injected("abortable"));
                }
                Some(CommitFault::Fatal) => {
                    g.0 = St::Fatal;
                    return Err(FakeError::Injected("fatal"));
                }
                Some(CommitFault::Unknown(n)) => {
                    g.0 = St::Completing(n - 1);
                    return Err(FakeError::Injected("commit outcome unknown"));
                }
            }
        }
        let records = std::mem::take(&mut g.1);
        self.cluster.st().committed.extend(records);
        g.0 = St::Ready;
        Ok(())
    }

    async fn abort(&self) -> Result<(), FakeError> {
        if self
            .cluster
            .panic_next_abort
            .swap(false, std::sync::atomic::Ordering::SeqCst)
        {
            panic!("injected abort panic");
        }
        let mut g = self.state.lock().unwrap();
        self.check_epoch(&mut g.0)?;
        match g.0 {
            St::InTxn | St::Abortable => {
                g.1.clear();
                g.0 = St::Ready;
                Ok(())
            }
            s => Err(FakeError::State(format!("abort in {s:?}"))),
        }
    }

    fn health(&self) -> Health {
        if self
            .cluster
            .st()
            .broken
            .contains(&(self.id.clone(), self.epoch))
        {
            return Health::FatalError;
        }
        match self.state.lock().unwrap().0 {
            St::Ready => Health::Ready,
            St::InTxn => Health::InTransaction,
            St::Completing(_) => Health::Completing,
            St::Abortable => Health::AbortableError,
            St::Fatal => Health::FatalError,
        }
    }

    async fn close(&self, _timeout: Duration) {
        let mut g = self.state.lock().unwrap();
        g.1.clear();
        g.0 = St::Fatal;
        *self.cluster.st().closes.entry(self.id.clone()).or_default() += 1;
    }
}

/// Creates fake producers: each creation bumps the id's epoch (fencing older producers).
pub struct FakeFactory {
    cluster: Arc<FakeCluster>,
}

impl ProducerFactory for FakeFactory {
    type Producer = FakeProducer;

    async fn create(&self, transactional_id: &str) -> Result<FakeProducer, FakeError> {
        let delay = *self.cluster.create_delay.lock().unwrap();
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let epoch = {
            let mut c = self.cluster.st();
            if c.fail_creates > 0 {
                c.fail_creates -= 1;
                return Err(FakeError::Injected("create failed"));
            }
            *c.creates.entry(transactional_id.to_owned()).or_default() += 1;
            let e = c.epochs.entry(transactional_id.to_owned()).or_default();
            *e += 1;
            *e
        };
        Ok(FakeProducer {
            id: transactional_id.to_owned(),
            epoch,
            active: std::sync::atomic::AtomicUsize::new(0),
            cluster: Arc::clone(&self.cluster),
            state: Mutex::new((St::Ready, Vec::new())),
        })
    }
}
