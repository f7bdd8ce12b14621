//! Every message body Klamm covers, one module per API, generated from Apache Kafka's JSON
//! message schemas by `klamm-protocol-codegen` (do not edit by hand).
//!
//! Each module holds a `request` and a `response` submodule with the nested structures; the
//! top-level request and response types are re-exported here.
//!
//! ```
//! use klamm_protocol::messages::{ProduceRequest, produce};
//!
//! let partition = produce::request::PartitionProduceData { index: 3, ..Default::default() };
//! let topic = produce::request::TopicProduceData {
//!     name: "orders".into(),
//!     partition_data: vec![partition],
//!     ..Default::default()
//! };
//! let request = ProduceRequest { topic_data: vec![topic], ..Default::default() };
//! assert_eq!(request.topic_data[0].partition_data[0].index, 3);
//! ```

pub(crate) mod prelude;

pub mod add_offsets_to_txn;
pub mod add_partitions_to_txn;
pub mod alter_client_quotas;
pub mod api_versions;
pub mod create_topics;
pub mod describe_client_quotas;
pub mod describe_producers;
pub mod end_txn;
pub mod fetch;
pub mod find_coordinator;
pub mod init_producer_id;
pub mod list_offsets;
pub mod metadata;
pub mod offset_fetch;
pub mod produce;
pub mod sasl_authenticate;
pub mod sasl_handshake;
pub mod txn_offset_commit;

pub use add_offsets_to_txn::{AddOffsetsToTxnRequest, AddOffsetsToTxnResponse};
pub use add_partitions_to_txn::{AddPartitionsToTxnRequest, AddPartitionsToTxnResponse};
pub use alter_client_quotas::{AlterClientQuotasRequest, AlterClientQuotasResponse};
pub use api_versions::{ApiVersionsRequest, ApiVersionsResponse};
pub use create_topics::{CreateTopicsRequest, CreateTopicsResponse};
pub use describe_client_quotas::{DescribeClientQuotasRequest, DescribeClientQuotasResponse};
pub use describe_producers::{DescribeProducersRequest, DescribeProducersResponse};
pub use end_txn::{EndTxnRequest, EndTxnResponse};
pub use fetch::{FetchRequest, FetchResponse};
pub use find_coordinator::{FindCoordinatorRequest, FindCoordinatorResponse};
pub use init_producer_id::{InitProducerIdRequest, InitProducerIdResponse};
pub use list_offsets::{ListOffsetsRequest, ListOffsetsResponse};
pub use metadata::{MetadataRequest, MetadataResponse};
pub use offset_fetch::{OffsetFetchRequest, OffsetFetchResponse};
pub use produce::{ProduceRequest, ProduceResponse};
pub use sasl_authenticate::{SaslAuthenticateRequest, SaslAuthenticateResponse};
pub use sasl_handshake::{SaslHandshakeRequest, SaslHandshakeResponse};
pub use txn_offset_commit::{TxnOffsetCommitRequest, TxnOffsetCommitResponse};

use bytes::{BufMut, Bytes};

use crate::api::ApiKey;
use crate::codec::Message;
use crate::error::{DecodeError, EncodeError};

/// Any request body, for code that dispatches on the API key (a broker, a proxy, a test).
///
/// ```
/// use bytes::Bytes;
/// use klamm_protocol::ApiKey;
/// use klamm_protocol::messages::{RequestBody, EndTxnRequest};
///
/// let body = RequestBody::from(EndTxnRequest { producer_id: 7, ..Default::default() });
/// let mut buf = Vec::new();
/// body.encode(&mut buf, 5)?;
/// let decoded = RequestBody::decode(body.api_key(), 5, &Bytes::from(buf))?;
/// assert_eq!(decoded, body);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum RequestBody {
    /// A Produce request.
    Produce(ProduceRequest),
    /// A Fetch request.
    Fetch(FetchRequest),
    /// A ListOffsets request.
    ListOffsets(ListOffsetsRequest),
    /// A Metadata request.
    Metadata(MetadataRequest),
    /// A OffsetFetch request.
    OffsetFetch(OffsetFetchRequest),
    /// A FindCoordinator request.
    FindCoordinator(FindCoordinatorRequest),
    /// A SaslHandshake request.
    SaslHandshake(SaslHandshakeRequest),
    /// A ApiVersions request.
    ApiVersions(ApiVersionsRequest),
    /// A CreateTopics request.
    CreateTopics(CreateTopicsRequest),
    /// A InitProducerId request.
    InitProducerId(InitProducerIdRequest),
    /// A AddPartitionsToTxn request.
    AddPartitionsToTxn(AddPartitionsToTxnRequest),
    /// A AddOffsetsToTxn request.
    AddOffsetsToTxn(AddOffsetsToTxnRequest),
    /// A EndTxn request.
    EndTxn(EndTxnRequest),
    /// A TxnOffsetCommit request.
    TxnOffsetCommit(TxnOffsetCommitRequest),
    /// A SaslAuthenticate request.
    SaslAuthenticate(SaslAuthenticateRequest),
    /// A DescribeProducers request.
    DescribeProducers(DescribeProducersRequest),
    /// A DescribeClientQuotas request.
    DescribeClientQuotas(DescribeClientQuotasRequest),
    /// A AlterClientQuotas request.
    AlterClientQuotas(AlterClientQuotasRequest),
}

impl RequestBody {
    /// The API this body belongs to.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use klamm_protocol::ApiKey;
    /// use klamm_protocol::messages::{RequestBody, EndTxnRequest};
    ///
    /// let body = RequestBody::from(EndTxnRequest { producer_id: 7, ..Default::default() });
    /// assert_eq!(body.api_key(), ApiKey::EndTxn);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn api_key(&self) -> ApiKey {
        match self {
            RequestBody::Produce(_) => ApiKey::Produce,
            RequestBody::Fetch(_) => ApiKey::Fetch,
            RequestBody::ListOffsets(_) => ApiKey::ListOffsets,
            RequestBody::Metadata(_) => ApiKey::Metadata,
            RequestBody::OffsetFetch(_) => ApiKey::OffsetFetch,
            RequestBody::FindCoordinator(_) => ApiKey::FindCoordinator,
            RequestBody::SaslHandshake(_) => ApiKey::SaslHandshake,
            RequestBody::ApiVersions(_) => ApiKey::ApiVersions,
            RequestBody::CreateTopics(_) => ApiKey::CreateTopics,
            RequestBody::InitProducerId(_) => ApiKey::InitProducerId,
            RequestBody::AddPartitionsToTxn(_) => ApiKey::AddPartitionsToTxn,
            RequestBody::AddOffsetsToTxn(_) => ApiKey::AddOffsetsToTxn,
            RequestBody::EndTxn(_) => ApiKey::EndTxn,
            RequestBody::TxnOffsetCommit(_) => ApiKey::TxnOffsetCommit,
            RequestBody::SaslAuthenticate(_) => ApiKey::SaslAuthenticate,
            RequestBody::DescribeProducers(_) => ApiKey::DescribeProducers,
            RequestBody::DescribeClientQuotas(_) => ApiKey::DescribeClientQuotas,
            RequestBody::AlterClientQuotas(_) => ApiKey::AlterClientQuotas,
        }
    }

    /// Decodes a complete body of `api_key` at `version`.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use klamm_protocol::ApiKey;
    /// use klamm_protocol::messages::{RequestBody, EndTxnRequest};
    ///
    /// let body = RequestBody::from(EndTxnRequest { producer_id: 7, ..Default::default() });
    /// let mut buf = Vec::new();
    /// body.encode(&mut buf, 5)?;
    /// let decoded = RequestBody::decode(body.api_key(), 5, &Bytes::from(buf))?;
    /// assert_eq!(decoded, body);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn decode(api_key: ApiKey, version: i16, body: &Bytes) -> Result<Self, DecodeError> {
        Ok(match api_key {
            ApiKey::Produce => RequestBody::Produce(ProduceRequest::decode(body, version)?),
            ApiKey::Fetch => RequestBody::Fetch(FetchRequest::decode(body, version)?),
            ApiKey::ListOffsets => {
                RequestBody::ListOffsets(ListOffsetsRequest::decode(body, version)?)
            }
            ApiKey::Metadata => RequestBody::Metadata(MetadataRequest::decode(body, version)?),
            ApiKey::OffsetFetch => {
                RequestBody::OffsetFetch(OffsetFetchRequest::decode(body, version)?)
            }
            ApiKey::FindCoordinator => {
                RequestBody::FindCoordinator(FindCoordinatorRequest::decode(body, version)?)
            }
            ApiKey::SaslHandshake => {
                RequestBody::SaslHandshake(SaslHandshakeRequest::decode(body, version)?)
            }
            ApiKey::ApiVersions => {
                RequestBody::ApiVersions(ApiVersionsRequest::decode(body, version)?)
            }
            ApiKey::CreateTopics => {
                RequestBody::CreateTopics(CreateTopicsRequest::decode(body, version)?)
            }
            ApiKey::InitProducerId => {
                RequestBody::InitProducerId(InitProducerIdRequest::decode(body, version)?)
            }
            ApiKey::AddPartitionsToTxn => {
                RequestBody::AddPartitionsToTxn(AddPartitionsToTxnRequest::decode(body, version)?)
            }
            ApiKey::AddOffsetsToTxn => {
                RequestBody::AddOffsetsToTxn(AddOffsetsToTxnRequest::decode(body, version)?)
            }
            ApiKey::EndTxn => RequestBody::EndTxn(EndTxnRequest::decode(body, version)?),
            ApiKey::TxnOffsetCommit => {
                RequestBody::TxnOffsetCommit(TxnOffsetCommitRequest::decode(body, version)?)
            }
            ApiKey::SaslAuthenticate => {
                RequestBody::SaslAuthenticate(SaslAuthenticateRequest::decode(body, version)?)
            }
            ApiKey::DescribeProducers => {
                RequestBody::DescribeProducers(DescribeProducersRequest::decode(body, version)?)
            }
            ApiKey::DescribeClientQuotas => RequestBody::DescribeClientQuotas(
                DescribeClientQuotasRequest::decode(body, version)?,
            ),
            ApiKey::AlterClientQuotas => {
                RequestBody::AlterClientQuotas(AlterClientQuotasRequest::decode(body, version)?)
            }
        })
    }

    /// Encodes the body at `version`.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use klamm_protocol::ApiKey;
    /// use klamm_protocol::messages::{RequestBody, EndTxnRequest};
    ///
    /// let body = RequestBody::from(EndTxnRequest { producer_id: 7, ..Default::default() });
    /// let mut buf = Vec::new();
    /// body.encode(&mut buf, 5)?;
    /// let RequestBody::EndTxn(inner) = &body else { unreachable!() };
    /// // The same bytes as the body type's own encoding.
    /// assert_eq!(buf, klamm_protocol::Message::to_bytes(inner, 5)?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn encode(&self, buf: &mut impl BufMut, version: i16) -> Result<(), EncodeError> {
        match self {
            RequestBody::Produce(b) => b.encode(buf, version),
            RequestBody::Fetch(b) => b.encode(buf, version),
            RequestBody::ListOffsets(b) => b.encode(buf, version),
            RequestBody::Metadata(b) => b.encode(buf, version),
            RequestBody::OffsetFetch(b) => b.encode(buf, version),
            RequestBody::FindCoordinator(b) => b.encode(buf, version),
            RequestBody::SaslHandshake(b) => b.encode(buf, version),
            RequestBody::ApiVersions(b) => b.encode(buf, version),
            RequestBody::CreateTopics(b) => b.encode(buf, version),
            RequestBody::InitProducerId(b) => b.encode(buf, version),
            RequestBody::AddPartitionsToTxn(b) => b.encode(buf, version),
            RequestBody::AddOffsetsToTxn(b) => b.encode(buf, version),
            RequestBody::EndTxn(b) => b.encode(buf, version),
            RequestBody::TxnOffsetCommit(b) => b.encode(buf, version),
            RequestBody::SaslAuthenticate(b) => b.encode(buf, version),
            RequestBody::DescribeProducers(b) => b.encode(buf, version),
            RequestBody::DescribeClientQuotas(b) => b.encode(buf, version),
            RequestBody::AlterClientQuotas(b) => b.encode(buf, version),
        }
    }
}

impl From<ProduceRequest> for RequestBody {
    fn from(b: ProduceRequest) -> Self {
        RequestBody::Produce(b)
    }
}

impl From<FetchRequest> for RequestBody {
    fn from(b: FetchRequest) -> Self {
        RequestBody::Fetch(b)
    }
}

impl From<ListOffsetsRequest> for RequestBody {
    fn from(b: ListOffsetsRequest) -> Self {
        RequestBody::ListOffsets(b)
    }
}

impl From<MetadataRequest> for RequestBody {
    fn from(b: MetadataRequest) -> Self {
        RequestBody::Metadata(b)
    }
}

impl From<OffsetFetchRequest> for RequestBody {
    fn from(b: OffsetFetchRequest) -> Self {
        RequestBody::OffsetFetch(b)
    }
}

impl From<FindCoordinatorRequest> for RequestBody {
    fn from(b: FindCoordinatorRequest) -> Self {
        RequestBody::FindCoordinator(b)
    }
}

impl From<SaslHandshakeRequest> for RequestBody {
    fn from(b: SaslHandshakeRequest) -> Self {
        RequestBody::SaslHandshake(b)
    }
}

impl From<ApiVersionsRequest> for RequestBody {
    fn from(b: ApiVersionsRequest) -> Self {
        RequestBody::ApiVersions(b)
    }
}

impl From<CreateTopicsRequest> for RequestBody {
    fn from(b: CreateTopicsRequest) -> Self {
        RequestBody::CreateTopics(b)
    }
}

impl From<InitProducerIdRequest> for RequestBody {
    fn from(b: InitProducerIdRequest) -> Self {
        RequestBody::InitProducerId(b)
    }
}

impl From<AddPartitionsToTxnRequest> for RequestBody {
    fn from(b: AddPartitionsToTxnRequest) -> Self {
        RequestBody::AddPartitionsToTxn(b)
    }
}

impl From<AddOffsetsToTxnRequest> for RequestBody {
    fn from(b: AddOffsetsToTxnRequest) -> Self {
        RequestBody::AddOffsetsToTxn(b)
    }
}

impl From<EndTxnRequest> for RequestBody {
    fn from(b: EndTxnRequest) -> Self {
        RequestBody::EndTxn(b)
    }
}

impl From<TxnOffsetCommitRequest> for RequestBody {
    fn from(b: TxnOffsetCommitRequest) -> Self {
        RequestBody::TxnOffsetCommit(b)
    }
}

impl From<SaslAuthenticateRequest> for RequestBody {
    fn from(b: SaslAuthenticateRequest) -> Self {
        RequestBody::SaslAuthenticate(b)
    }
}

impl From<DescribeProducersRequest> for RequestBody {
    fn from(b: DescribeProducersRequest) -> Self {
        RequestBody::DescribeProducers(b)
    }
}

impl From<DescribeClientQuotasRequest> for RequestBody {
    fn from(b: DescribeClientQuotasRequest) -> Self {
        RequestBody::DescribeClientQuotas(b)
    }
}

impl From<AlterClientQuotasRequest> for RequestBody {
    fn from(b: AlterClientQuotasRequest) -> Self {
        RequestBody::AlterClientQuotas(b)
    }
}

/// Any response body, for code that dispatches on the API key (a broker, a proxy, a test).
///
/// ```
/// use bytes::Bytes;
/// use klamm_protocol::ApiKey;
/// use klamm_protocol::messages::{ResponseBody, EndTxnResponse};
///
/// let body = ResponseBody::from(EndTxnResponse { throttle_time_ms: 7, ..Default::default() });
/// let mut buf = Vec::new();
/// body.encode(&mut buf, 5)?;
/// let decoded = ResponseBody::decode(body.api_key(), 5, &Bytes::from(buf))?;
/// assert_eq!(decoded, body);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ResponseBody {
    /// A Produce response.
    Produce(ProduceResponse),
    /// A Fetch response.
    Fetch(FetchResponse),
    /// A ListOffsets response.
    ListOffsets(ListOffsetsResponse),
    /// A Metadata response.
    Metadata(MetadataResponse),
    /// A OffsetFetch response.
    OffsetFetch(OffsetFetchResponse),
    /// A FindCoordinator response.
    FindCoordinator(FindCoordinatorResponse),
    /// A SaslHandshake response.
    SaslHandshake(SaslHandshakeResponse),
    /// A ApiVersions response.
    ApiVersions(ApiVersionsResponse),
    /// A CreateTopics response.
    CreateTopics(CreateTopicsResponse),
    /// A InitProducerId response.
    InitProducerId(InitProducerIdResponse),
    /// A AddPartitionsToTxn response.
    AddPartitionsToTxn(AddPartitionsToTxnResponse),
    /// A AddOffsetsToTxn response.
    AddOffsetsToTxn(AddOffsetsToTxnResponse),
    /// A EndTxn response.
    EndTxn(EndTxnResponse),
    /// A TxnOffsetCommit response.
    TxnOffsetCommit(TxnOffsetCommitResponse),
    /// A SaslAuthenticate response.
    SaslAuthenticate(SaslAuthenticateResponse),
    /// A DescribeProducers response.
    DescribeProducers(DescribeProducersResponse),
    /// A DescribeClientQuotas response.
    DescribeClientQuotas(DescribeClientQuotasResponse),
    /// A AlterClientQuotas response.
    AlterClientQuotas(AlterClientQuotasResponse),
}

impl ResponseBody {
    /// The API this body belongs to.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use klamm_protocol::ApiKey;
    /// use klamm_protocol::messages::{ResponseBody, EndTxnResponse};
    ///
    /// let body = ResponseBody::from(EndTxnResponse { throttle_time_ms: 7, ..Default::default() });
    /// assert_eq!(body.api_key(), ApiKey::EndTxn);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn api_key(&self) -> ApiKey {
        match self {
            ResponseBody::Produce(_) => ApiKey::Produce,
            ResponseBody::Fetch(_) => ApiKey::Fetch,
            ResponseBody::ListOffsets(_) => ApiKey::ListOffsets,
            ResponseBody::Metadata(_) => ApiKey::Metadata,
            ResponseBody::OffsetFetch(_) => ApiKey::OffsetFetch,
            ResponseBody::FindCoordinator(_) => ApiKey::FindCoordinator,
            ResponseBody::SaslHandshake(_) => ApiKey::SaslHandshake,
            ResponseBody::ApiVersions(_) => ApiKey::ApiVersions,
            ResponseBody::CreateTopics(_) => ApiKey::CreateTopics,
            ResponseBody::InitProducerId(_) => ApiKey::InitProducerId,
            ResponseBody::AddPartitionsToTxn(_) => ApiKey::AddPartitionsToTxn,
            ResponseBody::AddOffsetsToTxn(_) => ApiKey::AddOffsetsToTxn,
            ResponseBody::EndTxn(_) => ApiKey::EndTxn,
            ResponseBody::TxnOffsetCommit(_) => ApiKey::TxnOffsetCommit,
            ResponseBody::SaslAuthenticate(_) => ApiKey::SaslAuthenticate,
            ResponseBody::DescribeProducers(_) => ApiKey::DescribeProducers,
            ResponseBody::DescribeClientQuotas(_) => ApiKey::DescribeClientQuotas,
            ResponseBody::AlterClientQuotas(_) => ApiKey::AlterClientQuotas,
        }
    }

    /// Decodes a complete body of `api_key` at `version`.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use klamm_protocol::ApiKey;
    /// use klamm_protocol::messages::{ResponseBody, EndTxnResponse};
    ///
    /// let body = ResponseBody::from(EndTxnResponse { throttle_time_ms: 7, ..Default::default() });
    /// let mut buf = Vec::new();
    /// body.encode(&mut buf, 5)?;
    /// let decoded = ResponseBody::decode(body.api_key(), 5, &Bytes::from(buf))?;
    /// assert_eq!(decoded, body);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn decode(api_key: ApiKey, version: i16, body: &Bytes) -> Result<Self, DecodeError> {
        Ok(match api_key {
            ApiKey::Produce => ResponseBody::Produce(ProduceResponse::decode(body, version)?),
            ApiKey::Fetch => ResponseBody::Fetch(FetchResponse::decode(body, version)?),
            ApiKey::ListOffsets => {
                ResponseBody::ListOffsets(ListOffsetsResponse::decode(body, version)?)
            }
            ApiKey::Metadata => ResponseBody::Metadata(MetadataResponse::decode(body, version)?),
            ApiKey::OffsetFetch => {
                ResponseBody::OffsetFetch(OffsetFetchResponse::decode(body, version)?)
            }
            ApiKey::FindCoordinator => {
                ResponseBody::FindCoordinator(FindCoordinatorResponse::decode(body, version)?)
            }
            ApiKey::SaslHandshake => {
                ResponseBody::SaslHandshake(SaslHandshakeResponse::decode(body, version)?)
            }
            ApiKey::ApiVersions => {
                ResponseBody::ApiVersions(ApiVersionsResponse::decode(body, version)?)
            }
            ApiKey::CreateTopics => {
                ResponseBody::CreateTopics(CreateTopicsResponse::decode(body, version)?)
            }
            ApiKey::InitProducerId => {
                ResponseBody::InitProducerId(InitProducerIdResponse::decode(body, version)?)
            }
            ApiKey::AddPartitionsToTxn => {
                ResponseBody::AddPartitionsToTxn(AddPartitionsToTxnResponse::decode(body, version)?)
            }
            ApiKey::AddOffsetsToTxn => {
                ResponseBody::AddOffsetsToTxn(AddOffsetsToTxnResponse::decode(body, version)?)
            }
            ApiKey::EndTxn => ResponseBody::EndTxn(EndTxnResponse::decode(body, version)?),
            ApiKey::TxnOffsetCommit => {
                ResponseBody::TxnOffsetCommit(TxnOffsetCommitResponse::decode(body, version)?)
            }
            ApiKey::SaslAuthenticate => {
                ResponseBody::SaslAuthenticate(SaslAuthenticateResponse::decode(body, version)?)
            }
            ApiKey::DescribeProducers => {
                ResponseBody::DescribeProducers(DescribeProducersResponse::decode(body, version)?)
            }
            ApiKey::DescribeClientQuotas => ResponseBody::DescribeClientQuotas(
                DescribeClientQuotasResponse::decode(body, version)?,
            ),
            ApiKey::AlterClientQuotas => {
                ResponseBody::AlterClientQuotas(AlterClientQuotasResponse::decode(body, version)?)
            }
        })
    }

    /// Encodes the body at `version`.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use klamm_protocol::ApiKey;
    /// use klamm_protocol::messages::{ResponseBody, EndTxnResponse};
    ///
    /// let body = ResponseBody::from(EndTxnResponse { throttle_time_ms: 7, ..Default::default() });
    /// let mut buf = Vec::new();
    /// body.encode(&mut buf, 5)?;
    /// let ResponseBody::EndTxn(inner) = &body else { unreachable!() };
    /// // The same bytes as the body type's own encoding.
    /// assert_eq!(buf, klamm_protocol::Message::to_bytes(inner, 5)?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn encode(&self, buf: &mut impl BufMut, version: i16) -> Result<(), EncodeError> {
        match self {
            ResponseBody::Produce(b) => b.encode(buf, version),
            ResponseBody::Fetch(b) => b.encode(buf, version),
            ResponseBody::ListOffsets(b) => b.encode(buf, version),
            ResponseBody::Metadata(b) => b.encode(buf, version),
            ResponseBody::OffsetFetch(b) => b.encode(buf, version),
            ResponseBody::FindCoordinator(b) => b.encode(buf, version),
            ResponseBody::SaslHandshake(b) => b.encode(buf, version),
            ResponseBody::ApiVersions(b) => b.encode(buf, version),
            ResponseBody::CreateTopics(b) => b.encode(buf, version),
            ResponseBody::InitProducerId(b) => b.encode(buf, version),
            ResponseBody::AddPartitionsToTxn(b) => b.encode(buf, version),
            ResponseBody::AddOffsetsToTxn(b) => b.encode(buf, version),
            ResponseBody::EndTxn(b) => b.encode(buf, version),
            ResponseBody::TxnOffsetCommit(b) => b.encode(buf, version),
            ResponseBody::SaslAuthenticate(b) => b.encode(buf, version),
            ResponseBody::DescribeProducers(b) => b.encode(buf, version),
            ResponseBody::DescribeClientQuotas(b) => b.encode(buf, version),
            ResponseBody::AlterClientQuotas(b) => b.encode(buf, version),
        }
    }
}

impl From<ProduceResponse> for ResponseBody {
    fn from(b: ProduceResponse) -> Self {
        ResponseBody::Produce(b)
    }
}

impl From<FetchResponse> for ResponseBody {
    fn from(b: FetchResponse) -> Self {
        ResponseBody::Fetch(b)
    }
}

impl From<ListOffsetsResponse> for ResponseBody {
    fn from(b: ListOffsetsResponse) -> Self {
        ResponseBody::ListOffsets(b)
    }
}

impl From<MetadataResponse> for ResponseBody {
    fn from(b: MetadataResponse) -> Self {
        ResponseBody::Metadata(b)
    }
}

impl From<OffsetFetchResponse> for ResponseBody {
    fn from(b: OffsetFetchResponse) -> Self {
        ResponseBody::OffsetFetch(b)
    }
}

impl From<FindCoordinatorResponse> for ResponseBody {
    fn from(b: FindCoordinatorResponse) -> Self {
        ResponseBody::FindCoordinator(b)
    }
}

impl From<SaslHandshakeResponse> for ResponseBody {
    fn from(b: SaslHandshakeResponse) -> Self {
        ResponseBody::SaslHandshake(b)
    }
}

impl From<ApiVersionsResponse> for ResponseBody {
    fn from(b: ApiVersionsResponse) -> Self {
        ResponseBody::ApiVersions(b)
    }
}

impl From<CreateTopicsResponse> for ResponseBody {
    fn from(b: CreateTopicsResponse) -> Self {
        ResponseBody::CreateTopics(b)
    }
}

impl From<InitProducerIdResponse> for ResponseBody {
    fn from(b: InitProducerIdResponse) -> Self {
        ResponseBody::InitProducerId(b)
    }
}

impl From<AddPartitionsToTxnResponse> for ResponseBody {
    fn from(b: AddPartitionsToTxnResponse) -> Self {
        ResponseBody::AddPartitionsToTxn(b)
    }
}

impl From<AddOffsetsToTxnResponse> for ResponseBody {
    fn from(b: AddOffsetsToTxnResponse) -> Self {
        ResponseBody::AddOffsetsToTxn(b)
    }
}

impl From<EndTxnResponse> for ResponseBody {
    fn from(b: EndTxnResponse) -> Self {
        ResponseBody::EndTxn(b)
    }
}

impl From<TxnOffsetCommitResponse> for ResponseBody {
    fn from(b: TxnOffsetCommitResponse) -> Self {
        ResponseBody::TxnOffsetCommit(b)
    }
}

impl From<SaslAuthenticateResponse> for ResponseBody {
    fn from(b: SaslAuthenticateResponse) -> Self {
        ResponseBody::SaslAuthenticate(b)
    }
}

impl From<DescribeProducersResponse> for ResponseBody {
    fn from(b: DescribeProducersResponse) -> Self {
        ResponseBody::DescribeProducers(b)
    }
}

impl From<DescribeClientQuotasResponse> for ResponseBody {
    fn from(b: DescribeClientQuotasResponse) -> Self {
        ResponseBody::DescribeClientQuotas(b)
    }
}

impl From<AlterClientQuotasResponse> for ResponseBody {
    fn from(b: AlterClientQuotasResponse) -> Self {
        ResponseBody::AlterClientQuotas(b)
    }
}
