//! A fake transaction coordinator for the conversation's tests: a small model of Kafka's
//! coordinator state (producer id and epoch, fencing, ongoing / completed transactions,
//! retried EndTxn) with injectable faults, counting every request it sees.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Mutex;

use klamm_protocol::answers::{add_partitions_results, txn_offset_commit_answer};
use klamm_protocol::api::ApiKey;
use klamm_protocol::error_code::ErrorCode;
use klamm_protocol::messages::find_coordinator::response::Coordinator;
use klamm_protocol::messages::{
    AddOffsetsToTxnResponse, AddPartitionsToTxnRequest, AddPartitionsToTxnResponse, EndTxnResponse,
    FindCoordinatorResponse, InitProducerIdResponse, RequestBody, ResponseBody,
    TxnOffsetCommitRequest,
};

use super::{CoordinatorTransport, Target, TransportError};

/// An injected fault, consumed by the next request of its API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// Answer with this error code without applying the request.
    Code(ErrorCode),
    /// Drop the connection before the request reaches the coordinator.
    DropBefore,
    /// Apply the request, then drop the connection before answering.
    DropAfter,
    /// Never answer (the caller's timeout must fire).
    Hang,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TxnPhase {
    Empty,
    Ongoing,
    CompleteCommit,
    CompleteAbort,
}

#[derive(Debug)]
pub(crate) struct Model {
    pub coordinator: i32,
    pub producer_id: i64,
    pub epoch: i16,
    pub phase: TxnPhase,
    pub partitions: BTreeSet<(String, i32)>,
    pub offset_groups: BTreeSet<String>,
    pub pending_offsets: Vec<(String, i32, i64)>,
    pub committed_offsets: Vec<(String, i32, i64)>,
    /// (committed?, partitions) per ended transaction, in order.
    pub ended: Vec<(bool, Vec<(String, i32)>)>,
    pub faults: HashMap<ApiKey, VecDeque<Fault>>,
    pub requests: HashMap<ApiKey, usize>,
    pub injected: usize,
    pub transaction_version: i16,
    /// Max EndTxn version seen in a request.
    pub end_txn_versions: Vec<i16>,
    /// AddPartitionsToTxn partition counts per request.
    pub add_batches: Vec<usize>,
    /// When each request arrived (Tokio's clock: paused tests see the backoffs exactly).
    pub arrivals: Vec<(ApiKey, tokio::time::Instant)>,
}

#[derive(Debug)]
pub(crate) struct FakeCoordinator {
    pub model: Mutex<Model>,
}

impl FakeCoordinator {
    pub(crate) fn new() -> Self {
        FakeCoordinator {
            model: Mutex::new(Model {
                coordinator: 1,
                producer_id: 4000,
                epoch: -1,
                phase: TxnPhase::Empty,
                partitions: BTreeSet::new(),
                offset_groups: BTreeSet::new(),
                pending_offsets: Vec::new(),
                committed_offsets: Vec::new(),
                ended: Vec::new(),
                faults: HashMap::new(),
                requests: HashMap::new(),
                injected: 0,
                transaction_version: 0,
                end_txn_versions: Vec::new(),
                add_batches: Vec::new(),
                arrivals: Vec::new(),
            }),
        }
    }

    pub(crate) fn m(&self) -> std::sync::MutexGuard<'_, Model> {
        self.model.lock().expect("fake lock")
    }

    pub(crate) fn inject(&self, api: ApiKey, faults: &[Fault]) {
        self.m().faults.entry(api).or_default().extend(faults);
    }

    pub(crate) fn count(&self, api: ApiKey) -> usize {
        self.m().requests.get(&api).copied().unwrap_or(0)
    }

    /// Another producer with the same transactional id initialises: bumps the epoch and
    /// aborts the open transaction.
    pub(crate) fn fence(&self) {
        let mut m = self.m();
        m.abort_ongoing();
        m.epoch += 1;
    }
}

impl Model {
    fn abort_ongoing(&mut self) {
        if self.phase == TxnPhase::Ongoing {
            let parts = std::mem::take(&mut self.partitions).into_iter().collect();
            self.ended.push((false, parts));
            self.pending_offsets.clear();
            self.offset_groups.clear();
            self.phase = TxnPhase::CompleteAbort;
        }
    }

    fn check_epoch(&self, id: i64, epoch: i16) -> ErrorCode {
        if id != self.producer_id {
            ErrorCode::InvalidProducerIdMapping
        } else if epoch < self.epoch {
            ErrorCode::ProducerFenced
        } else if epoch > self.epoch {
            ErrorCode::InvalidProducerEpoch
        } else {
            ErrorCode::None
        }
    }

    fn apply(&mut self, target: Target, req: RequestBody, version: i16) -> ResponseBody {
        let not_coord = !matches!(req, RequestBody::FindCoordinator(_))
            && target != Target::Node(self.coordinator);
        match req {
            RequestBody::FindCoordinator(r) => {
                let key = r.coordinator_keys.first().cloned().unwrap_or(r.key);
                ResponseBody::FindCoordinator(FindCoordinatorResponse {
                    node_id: self.coordinator,
                    host: "127.0.0.1".into(),
                    port: 9092,
                    coordinators: vec![Coordinator {
                        key,
                        node_id: self.coordinator,
                        host: "127.0.0.1".into(),
                        port: 9092,
                        ..Default::default()
                    }],
                    ..Default::default()
                })
            }
            RequestBody::InitProducerId(r) => {
                let mut code = if not_coord {
                    ErrorCode::NotCoordinator
                } else if r.producer_id >= 0 {
                    self.check_epoch(r.producer_id, r.producer_epoch)
                } else {
                    ErrorCode::None
                };
                if code.is_ok() {
                    self.abort_ongoing();
                    self.epoch += 1;
                    self.phase = TxnPhase::Empty;
                } else if code == ErrorCode::InvalidProducerIdMapping {
                    code = ErrorCode::ProducerFenced;
                }
                ResponseBody::InitProducerId(InitProducerIdResponse {
                    error_code: code.as_i16(),
                    producer_id: if code.is_ok() { self.producer_id } else { -1 },
                    producer_epoch: if code.is_ok() { self.epoch } else { -1 },
                    ..Default::default()
                })
            }
            RequestBody::AddPartitionsToTxn(r) => {
                let code = if not_coord {
                    ErrorCode::NotCoordinator
                } else {
                    self.check_epoch(r.v3_and_below_producer_id, r.v3_and_below_producer_epoch)
                };
                let n: usize = r
                    .v3_and_below_topics
                    .iter()
                    .map(|t| t.partitions.len())
                    .sum();
                self.add_batches.push(n);
                if code.is_ok() {
                    self.phase = TxnPhase::Ongoing;
                    for t in &r.v3_and_below_topics {
                        for &p in &t.partitions {
                            self.partitions.insert((t.name.clone(), p));
                        }
                    }
                }
                add_partitions_response(&r, code)
            }
            RequestBody::AddOffsetsToTxn(r) => {
                let code = if not_coord {
                    ErrorCode::NotCoordinator
                } else {
                    self.check_epoch(r.producer_id, r.producer_epoch)
                };
                if code.is_ok() {
                    self.phase = TxnPhase::Ongoing;
                    self.offset_groups.insert(r.group_id);
                }
                ResponseBody::AddOffsetsToTxn(AddOffsetsToTxnResponse {
                    error_code: code.as_i16(),
                    ..Default::default()
                })
            }
            RequestBody::TxnOffsetCommit(r) => {
                let code = if not_coord {
                    ErrorCode::NotCoordinator
                } else if !self.offset_groups.contains(&r.group_id) {
                    ErrorCode::InvalidTxnState
                } else {
                    self.check_epoch(r.producer_id, r.producer_epoch)
                };
                if code.is_ok() {
                    for t in &r.topics {
                        for p in &t.partitions {
                            self.pending_offsets.push((
                                t.name.clone(),
                                p.partition_index,
                                p.committed_offset,
                            ));
                        }
                    }
                }
                txn_offset_commit_response(&r, code)
            }
            RequestBody::EndTxn(r) => {
                self.end_txn_versions.push(version);
                let mut code = if not_coord {
                    ErrorCode::NotCoordinator
                } else {
                    self.check_epoch(r.producer_id, r.producer_epoch)
                };
                if code.is_ok() {
                    code = match (self.phase, r.committed) {
                        (TxnPhase::Ongoing, c) => {
                            let parts = std::mem::take(&mut self.partitions).into_iter().collect();
                            self.ended.push((c, parts));
                            self.offset_groups.clear();
                            if c {
                                let offs = std::mem::take(&mut self.pending_offsets);
                                self.committed_offsets.extend(offs);
                                self.phase = TxnPhase::CompleteCommit;
                            } else {
                                self.pending_offsets.clear();
                                self.phase = TxnPhase::CompleteAbort;
                            }
                            if version >= 5 {
                                self.epoch += 1;
                            }
                            ErrorCode::None
                        }
                        // a retry of an EndTxn already applied: same answer
                        (TxnPhase::CompleteCommit, true) | (TxnPhase::CompleteAbort, false) => {
                            ErrorCode::None
                        }
                        _ => ErrorCode::InvalidTxnState,
                    };
                }
                ResponseBody::EndTxn(EndTxnResponse {
                    error_code: code.as_i16(),
                    producer_id: self.producer_id,
                    producer_epoch: self.epoch,
                    ..Default::default()
                })
            }
            other => panic!("fake coordinator got an unexpected {:?}", other.api_key()),
        }
    }
}

impl CoordinatorTransport for FakeCoordinator {
    async fn send(
        &self,
        target: Target,
        request: RequestBody,
        max_version: i16,
    ) -> Result<(ResponseBody, i16), TransportError> {
        let api = request.api_key();
        let (fault, resp) = {
            let mut m = self.m();
            *m.requests.entry(api).or_default() += 1;
            m.arrivals.push((api, tokio::time::Instant::now()));
            let fault = m.faults.get_mut(&api).and_then(|q| q.pop_front());
            if fault.is_some() {
                m.injected += 1;
            }
            let version = max_version.min(5);
            match fault {
                Some(Fault::Code(code)) => (
                    None,
                    Some(Ok((error_response(api, code, &request), version))),
                ),
                Some(Fault::DropBefore) => {
                    (None, Some(Err(TransportError::Disconnected { target })))
                }
                Some(Fault::DropAfter) => {
                    m.apply(target, request, version);
                    (None, Some(Err(TransportError::Disconnected { target })))
                }
                Some(Fault::Hang) => (Some(Fault::Hang), None),
                None => (None, Some(Ok((m.apply(target, request, version), version)))),
            }
        };
        match (fault, resp) {
            (_, Some(r)) => r,
            _ => std::future::pending().await,
        }
    }

    fn transaction_version(&self) -> i16 {
        self.m().transaction_version
    }
}

/// A response of `api` carrying `code` everywhere it can.
fn error_response(api: ApiKey, code: ErrorCode, req: &RequestBody) -> ResponseBody {
    let c = code.as_i16();
    match (api, req) {
        (ApiKey::FindCoordinator, _) => ResponseBody::FindCoordinator(FindCoordinatorResponse {
            error_code: c,
            node_id: -1,
            ..Default::default()
        }),
        (ApiKey::InitProducerId, _) => ResponseBody::InitProducerId(InitProducerIdResponse {
            error_code: c,
            producer_id: -1,
            producer_epoch: -1,
            ..Default::default()
        }),
        (_, RequestBody::AddPartitionsToTxn(r)) => add_partitions_response(r, code),
        (ApiKey::AddOffsetsToTxn, _) => ResponseBody::AddOffsetsToTxn(AddOffsetsToTxnResponse {
            error_code: c,
            ..Default::default()
        }),
        (_, RequestBody::TxnOffsetCommit(r)) => txn_offset_commit_response(r, code),
        (ApiKey::EndTxn, _) => ResponseBody::EndTxn(EndTxnResponse {
            error_code: c,
            producer_id: -1,
            producer_epoch: -1,
            ..Default::default()
        }),
        _ => panic!("no error response for {api:?}"),
    }
}

/// AddPartitionsToTxn's (v3 and below) answer to `r`: `code` for every partition.
fn add_partitions_response(r: &AddPartitionsToTxnRequest, code: ErrorCode) -> ResponseBody {
    ResponseBody::AddPartitionsToTxn(AddPartitionsToTxnResponse {
        results_by_topic_v3_and_below: add_partitions_results(
            &r.v3_and_below_topics,
            code.as_i16(),
        ),
        ..Default::default()
    })
}

/// TxnOffsetCommit's answer to `r`: `code` for every partition.
fn txn_offset_commit_response(r: &TxnOffsetCommitRequest, code: ErrorCode) -> ResponseBody {
    ResponseBody::TxnOffsetCommit(txn_offset_commit_answer(r, code.as_i16()))
}
