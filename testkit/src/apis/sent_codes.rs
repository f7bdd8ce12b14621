//! The error codes a response carries on the wire, for the per-API error counters
//! ([`crate::Cluster::error_counts`]). Only fields the response's version encodes are read,
//! so a code the handler left in a field that version does not send is not counted.

use klamm_protocol::messages::{
    AddOffsetsToTxnResponse, AddPartitionsToTxnResponse, AlterClientQuotasResponse,
    ApiVersionsResponse, CreateTopicsResponse, DescribeClientQuotasResponse,
    DescribeProducersResponse, EndTxnResponse, FetchResponse, FindCoordinatorResponse,
    InitProducerIdResponse, ListOffsetsResponse, MetadataResponse, OffsetFetchResponse,
    ProduceResponse, SaslAuthenticateResponse, SaslHandshakeResponse, TxnOffsetCommitResponse,
};

/// A response whose error codes can be listed.
pub(crate) trait SentCodes {
    /// Calls `f` with every error code field (zero or not) the response encodes at `version`.
    fn sent_codes(&self, version: i16, f: &mut dyn FnMut(i16));
}

impl SentCodes for ProduceResponse {
    fn sent_codes(&self, _v: i16, f: &mut dyn FnMut(i16)) {
        for t in &self.responses {
            for p in &t.partition_responses {
                f(p.error_code);
            }
        }
    }
}

impl SentCodes for FetchResponse {
    fn sent_codes(&self, v: i16, f: &mut dyn FnMut(i16)) {
        if v >= 7 {
            f(self.error_code);
        }
        for t in &self.responses {
            for p in &t.partitions {
                f(p.error_code);
            }
        }
    }
}

impl SentCodes for ListOffsetsResponse {
    fn sent_codes(&self, _v: i16, f: &mut dyn FnMut(i16)) {
        for t in &self.topics {
            for p in &t.partitions {
                f(p.error_code);
            }
        }
    }
}

impl SentCodes for MetadataResponse {
    fn sent_codes(&self, v: i16, f: &mut dyn FnMut(i16)) {
        if v >= 13 {
            f(self.error_code);
        }
        for t in &self.topics {
            f(t.error_code);
            for p in &t.partitions {
                f(p.error_code);
            }
        }
    }
}

impl SentCodes for OffsetFetchResponse {
    fn sent_codes(&self, v: i16, f: &mut dyn FnMut(i16)) {
        if v >= 8 {
            for g in &self.groups {
                f(g.error_code);
                for t in &g.topics {
                    for p in &t.partitions {
                        f(p.error_code);
                    }
                }
            }
            return;
        }
        if v >= 2 {
            f(self.error_code);
        }
        for t in &self.topics {
            for p in &t.partitions {
                f(p.error_code);
            }
        }
    }
}

impl SentCodes for FindCoordinatorResponse {
    fn sent_codes(&self, v: i16, f: &mut dyn FnMut(i16)) {
        if v >= 4 {
            for c in &self.coordinators {
                f(c.error_code);
            }
        } else {
            f(self.error_code);
        }
    }
}

impl SentCodes for SaslHandshakeResponse {
    fn sent_codes(&self, _v: i16, f: &mut dyn FnMut(i16)) {
        f(self.error_code);
    }
}

impl SentCodes for ApiVersionsResponse {
    fn sent_codes(&self, _v: i16, f: &mut dyn FnMut(i16)) {
        f(self.error_code);
    }
}

impl SentCodes for CreateTopicsResponse {
    fn sent_codes(&self, _v: i16, f: &mut dyn FnMut(i16)) {
        for t in &self.topics {
            f(t.error_code);
        }
    }
}

impl SentCodes for InitProducerIdResponse {
    fn sent_codes(&self, _v: i16, f: &mut dyn FnMut(i16)) {
        f(self.error_code);
    }
}

impl SentCodes for AddPartitionsToTxnResponse {
    fn sent_codes(&self, v: i16, f: &mut dyn FnMut(i16)) {
        if v >= 4 {
            f(self.error_code);
            for r in &self.results_by_transaction {
                for t in &r.topic_results {
                    for p in &t.results_by_partition {
                        f(p.partition_error_code);
                    }
                }
            }
        } else {
            for t in &self.results_by_topic_v3_and_below {
                for p in &t.results_by_partition {
                    f(p.partition_error_code);
                }
            }
        }
    }
}

impl SentCodes for AddOffsetsToTxnResponse {
    fn sent_codes(&self, _v: i16, f: &mut dyn FnMut(i16)) {
        f(self.error_code);
    }
}

impl SentCodes for EndTxnResponse {
    fn sent_codes(&self, _v: i16, f: &mut dyn FnMut(i16)) {
        f(self.error_code);
    }
}

impl SentCodes for TxnOffsetCommitResponse {
    fn sent_codes(&self, _v: i16, f: &mut dyn FnMut(i16)) {
        for t in &self.topics {
            for p in &t.partitions {
                f(p.error_code);
            }
        }
    }
}

impl SentCodes for SaslAuthenticateResponse {
    fn sent_codes(&self, _v: i16, f: &mut dyn FnMut(i16)) {
        f(self.error_code);
    }
}

impl SentCodes for DescribeProducersResponse {
    fn sent_codes(&self, _v: i16, f: &mut dyn FnMut(i16)) {
        for t in &self.topics {
            for p in &t.partitions {
                f(p.error_code);
            }
        }
    }
}

impl SentCodes for DescribeClientQuotasResponse {
    fn sent_codes(&self, _v: i16, f: &mut dyn FnMut(i16)) {
        f(self.error_code);
    }
}

impl SentCodes for AlterClientQuotasResponse {
    fn sent_codes(&self, _v: i16, f: &mut dyn FnMut(i16)) {
        for e in &self.entries {
            f(e.error_code);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use klamm_protocol::messages::find_coordinator::response::Coordinator;

    fn codes(r: &impl SentCodes, v: i16) -> Vec<i16> {
        let mut out = Vec::new();
        r.sent_codes(v, &mut |c| out.push(c));
        out
    }

    #[test]
    fn only_fields_of_the_version_are_read() {
        let r = FindCoordinatorResponse {
            error_code: 15,
            coordinators: vec![Coordinator {
                error_code: 16,
                ..Coordinator::default()
            }],
            ..FindCoordinatorResponse::default()
        };
        assert_eq!(codes(&r, 3), vec![15]);
        assert_eq!(codes(&r, 4), vec![16]);
        let e = EndTxnResponse {
            error_code: 51,
            ..EndTxnResponse::default()
        };
        assert_eq!(codes(&e, 3), vec![51]);
    }
}
