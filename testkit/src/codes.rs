//! The Kafka error codes the broker answers with (numbers from Kafka's protocol guide).
//!
//! Kept as plain `i16` because that is what every response field carries on the wire.

/// No error.
pub const NONE: i16 = 0;
/// The requested offset is outside the log.
pub const OFFSET_OUT_OF_RANGE: i16 = 1;
/// A record batch failed its CRC or is malformed.
pub const CORRUPT_MESSAGE: i16 = 2;
/// The topic or partition does not exist.
pub const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
/// A record batch is larger than the topic's `max.message.bytes`.
pub const MESSAGE_TOO_LARGE: i16 = 10;
/// The broker is not the leader of the partition.
pub const NOT_LEADER_OR_FOLLOWER: i16 = 6;
/// The request timed out.
pub const REQUEST_TIMED_OUT: i16 = 7;
/// The coordinator is not available.
pub const COORDINATOR_NOT_AVAILABLE: i16 = 15;
/// This broker is not the coordinator for the key.
pub const NOT_COORDINATOR: i16 = 16;
/// The topic name is invalid.
pub const INVALID_TOPIC_EXCEPTION: i16 = 17;
/// The acks value is not -1, 0 or 1.
pub const INVALID_REQUIRED_ACKS: i16 = 21;
/// The SASL mechanism is not enabled.
pub const UNSUPPORTED_SASL_MECHANISM: i16 = 33;
/// A SASL request arrived in the wrong state.
pub const ILLEGAL_SASL_STATE: i16 = 34;
/// The API version is not supported.
pub const UNSUPPORTED_VERSION: i16 = 35;
/// The topic already exists.
pub const TOPIC_ALREADY_EXISTS: i16 = 36;
/// The partition count is invalid.
pub const INVALID_PARTITIONS: i16 = 37;
/// The replication factor is invalid.
pub const INVALID_REPLICATION_FACTOR: i16 = 38;
/// The request is malformed or not allowed.
pub const INVALID_REQUEST: i16 = 42;
/// The message format is not supported (record batches before magic 2).
pub const UNSUPPORTED_FOR_MESSAGE_FORMAT: i16 = 43;
/// A produce sequence number is not the next expected one.
pub const OUT_OF_ORDER_SEQUENCE_NUMBER: i16 = 45;
/// A produce sequence number was already written (old brokers; this testkit, as Kafka 2.x+,
/// answers a retried duplicate with its original offset instead, so never sends it).
pub const DUPLICATE_SEQUENCE_NUMBER: i16 = 46;
/// The producer epoch is older than the broker's.
pub const INVALID_PRODUCER_EPOCH: i16 = 47;
/// The transaction is not in a state that allows the request.
pub const INVALID_TXN_STATE: i16 = 48;
/// The producer id does not belong to the transactional id.
pub const INVALID_PRODUCER_ID_MAPPING: i16 = 49;
/// The transaction timeout is larger than the broker allows.
pub const INVALID_TRANSACTION_TIMEOUT: i16 = 50;
/// A previous transaction of this id is still completing.
pub const CONCURRENT_TRANSACTIONS: i16 = 51;
/// Not attempted because another part of the request failed.
pub const OPERATION_NOT_ATTEMPTED: i16 = 55;
/// SASL authentication failed.
pub const SASL_AUTHENTICATION_FAILED: i16 = 58;
/// The request writes transactional records without a transactional id, or the client may
/// not use it.
pub const TRANSACTIONAL_ID_AUTHORIZATION_FAILED: i16 = 53;
/// The broker has no state for the producer id.
pub const UNKNOWN_PRODUCER_ID: i16 = 59;
/// The leader epoch in the request is older than the broker's.
pub const FENCED_LEADER_EPOCH: i16 = 74;
/// The leader epoch in the request is newer than the broker's.
pub const UNKNOWN_LEADER_EPOCH: i16 = 75;
/// The record batch is invalid (e.g. more than one batch per partition).
pub const INVALID_RECORD: i16 = 87;
/// Offsets of a transaction that is not yet complete exist for the partition.
pub const UNSTABLE_OFFSET_COMMIT: i16 = 88;
/// A newer producer with the same transactional id exists.
pub const PRODUCER_FENCED: i16 = 90;
/// The fetch session is unknown to the broker.
pub const FETCH_SESSION_ID_NOT_FOUND: i16 = 70;
/// The topic id is unknown.
pub const UNKNOWN_TOPIC_ID: i16 = 100;
