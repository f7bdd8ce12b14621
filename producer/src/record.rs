//! What goes in ([`ProducerRecord`]) and what comes back ([`RecordMetadata`]).

use std::sync::Arc;

use bytes::Bytes;
use klamm_protocol::record::AsHeader;

/// A record header: a string key and an optional byte value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Header {
    /// The header's name.
    pub key: String,
    /// The header's value (`None` is Kafka's null).
    pub value: Option<Bytes>,
}

impl AsHeader for Header {
    fn header_key(&self) -> &[u8] {
        self.key.as_bytes()
    }
    fn header_value(&self) -> Option<&[u8]> {
        self.value.as_deref()
    }
}

/// A record to send. `Bytes` everywhere, so the value is not copied between `send` and the
/// batch buffer.
///
/// ```
/// use klamm_producer::ProducerRecord;
/// let record = ProducerRecord::new("orders")
///     .key("order-17")
///     .value("{\"total\": 12}")
///     .header("source", "web")
///     .timestamp(1_700_000_000_000);
/// assert_eq!(&*record.topic, "orders");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerRecord {
    /// The topic. An `Arc<str>`, so sending many records to one topic shares one string.
    pub topic: Arc<str>,
    /// An explicit partition; `None` lets the partitioner choose.
    pub partition: Option<i32>,
    /// The key (murmur2 of it picks the partition when none is given).
    pub key: Option<Bytes>,
    /// The value (`None` is a tombstone on compacted topics).
    pub value: Option<Bytes>,
    /// Headers, in order.
    pub headers: Vec<Header>,
    /// Create time in milliseconds since the epoch; `None` uses the time of `send`.
    pub timestamp: Option<i64>,
}

impl ProducerRecord {
    /// A record for `topic` with no key, value or headers.
    pub fn new(topic: impl Into<Arc<str>>) -> Self {
        ProducerRecord {
            topic: topic.into(),
            partition: None,
            key: None,
            value: None,
            headers: Vec::new(),
            timestamp: None,
        }
    }

    /// Set the key.
    pub fn key(mut self, key: impl Into<Bytes>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Set the value.
    pub fn value(mut self, value: impl Into<Bytes>) -> Self {
        self.value = Some(value.into());
        self
    }

    /// Append a header.
    pub fn header(mut self, key: impl Into<String>, value: impl Into<Bytes>) -> Self {
        self.headers.push(Header {
            key: key.into(),
            value: Some(value.into()),
        });
        self
    }

    /// Send to this partition instead of asking the partitioner.
    pub fn partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }

    /// Set the create timestamp (milliseconds since the epoch).
    pub fn timestamp(mut self, millis: i64) -> Self {
        self.timestamp = Some(millis);
        self
    }

    /// An upper bound of the record's size inside a RecordBatch v2, without the batch header
    /// (Java's `DefaultRecord.sizeInBytes` upper bound: every varint at its widest).
    pub fn encoded_size_upper_bound(&self) -> usize {
        const VARINT: usize = 5;
        const VARLONG: usize = 10;
        let bytes = |b: &Option<Bytes>| b.as_ref().map_or(0, Bytes::len);
        let headers: usize = self
            .headers
            .iter()
            .map(|h| VARINT + h.key.len() + VARINT + bytes(&h.value))
            .sum();
        // length + attributes + timestamp delta + offset delta + key + value + header count
        VARINT
            + 1
            + VARLONG
            + VARINT
            + VARINT
            + bytes(&self.key)
            + VARINT
            + bytes(&self.value)
            + VARINT
            + headers
    }
}

/// Where a record was written.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RecordMetadata {
    /// The topic.
    pub topic: Arc<str>,
    /// The partition.
    pub partition: i32,
    /// The record's offset; `-1` when unknown: with `acks = 0` (the broker does not answer),
    /// and when the broker answered a retry with DUPLICATE_SEQUENCE_NUMBER (written by an
    /// earlier attempt, offset no longer known; Java reports -1 too).
    pub offset: i64,
    /// The record's timestamp: the broker's log append time for topics with
    /// `message.timestamp.type=LogAppendTime`, the create time otherwise.
    pub timestamp: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_sets_every_field() {
        let r = ProducerRecord::new("t")
            .key("k")
            .value(vec![1u8, 2, 3])
            .header("h", "v")
            .partition(2)
            .timestamp(7);
        assert_eq!(r.key.as_deref(), Some(&b"k"[..]));
        assert_eq!(r.value.as_deref(), Some(&[1u8, 2, 3][..]));
        assert_eq!(
            r.headers,
            vec![Header {
                key: "h".into(),
                value: Some(Bytes::from_static(b"v"))
            }]
        );
        assert_eq!((r.partition, r.timestamp), (Some(2), Some(7)));
    }

    #[test]
    fn size_bound_covers_payload() {
        let empty = ProducerRecord::new("t").encoded_size_upper_bound();
        let r = ProducerRecord::new("t")
            .key(vec![0u8; 10])
            .value(vec![0u8; 100])
            .header("abc", vec![0u8; 4]);
        assert_eq!(
            r.encoded_size_upper_bound(),
            empty + 10 + 100 + (5 + 3 + 5 + 4)
        );
        // The bound is never below the real minimum encoding (7 one-byte varints + 1 attribute
        // byte for an empty record).
        assert!(empty >= 7);
    }
}
