//! Interoperability with an independent implementation: the `kafka-protocol` crate (its LZ4
//! codec is the C liblz4) decodes the batches klamm writes with every codec, and klamm decodes
//! the batches it writes.

use bytes::{Bytes, BytesMut};
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression as KpCompression, Record as KpRecord, RecordBatchDecoder, RecordBatchEncoder,
    RecordEncodeOptions, TimestampType,
};
use klamm_protocol::record::{BatchBuilder, Compression, RecordBatch};

fn kp_codec(c: Compression) -> KpCompression {
    match c {
        Compression::None => KpCompression::None,
        Compression::Gzip => KpCompression::Gzip,
        Compression::Snappy => KpCompression::Snappy,
        Compression::Lz4 => KpCompression::Lz4,
        Compression::Zstd => KpCompression::Zstd,
    }
}

/// 300 records, some with keys and headers, big enough for several snappy/LZ4 blocks.
/// (timestamp, key, value, headers) of one test record.
type Content = (
    i64,
    Option<Vec<u8>>,
    Option<Vec<u8>>,
    Vec<(String, Option<Vec<u8>>)>,
);

fn contents() -> Vec<Content> {
    (0..300)
        .map(|i: i64| {
            let key = (i % 3 != 0).then(|| format!("key-{i}").into_bytes());
            let value = (i % 7 != 0).then(|| format!("value {i} ").repeat(40).into_bytes());
            let headers = (0..i % 3)
                .map(|h| (format!("h{h}"), (h == 0).then(|| vec![h as u8; 5])))
                .collect();
            (1_700_000_000_000 + i * 3, key, value, headers)
        })
        .collect()
}

#[test]
fn kafka_protocol_reads_what_klamm_writes() {
    for codec in Compression::ALL {
        let mut b = BatchBuilder::new(codec)
            .base_offset(1000)
            .producer(77, 3, 500);
        for (ts, key, value, headers) in contents() {
            b.append(ts, key.as_deref(), value.as_deref(), &headers)
                .unwrap();
        }
        let mut buf = b.seal().unwrap().into_bytes();
        let set = RecordBatchDecoder::decode(&mut buf).unwrap();
        assert_eq!(set.compression, kp_codec(codec), "{codec}");
        assert_eq!(set.records.len(), 300);
        for (i, (r, (ts, key, value, headers))) in set.records.iter().zip(contents()).enumerate() {
            assert_eq!(r.offset, 1000 + i as i64);
            assert_eq!(r.timestamp, ts);
            assert_eq!((r.producer_id, r.producer_epoch), (77, 3));
            assert_eq!(r.sequence, 500 + i as i32);
            assert_eq!(r.key.as_deref(), key.as_deref(), "{codec}");
            assert_eq!(r.value.as_deref(), value.as_deref(), "{codec}");
            let theirs: Vec<(String, Option<Vec<u8>>)> = r
                .headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.as_ref().map(|v| v.to_vec())))
                .collect();
            assert_eq!(theirs, headers);
        }
    }
}

#[test]
fn klamm_reads_what_kafka_protocol_writes() {
    for codec in Compression::ALL {
        let records: Vec<KpRecord> = contents()
            .into_iter()
            .enumerate()
            .map(|(i, (ts, key, value, headers))| KpRecord {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: 0,
                producer_id: 5,
                producer_epoch: 1,
                timestamp_type: TimestampType::Creation,
                offset: i as i64,
                sequence: i as i32,
                timestamp: ts,
                key: key.map(Bytes::from),
                value: value.map(Bytes::from),
                headers: headers
                    .into_iter()
                    .map(|(k, v)| (StrBytes::from_string(k), v.map(Bytes::from)))
                    .collect::<IndexMap<_, _>>(),
            })
            .collect();
        let mut buf = BytesMut::new();
        let opts = RecordEncodeOptions {
            version: 2,
            compression: kp_codec(codec),
        };
        RecordBatchEncoder::encode(&mut buf, &records, &opts).unwrap();
        let batch = RecordBatch::decode(buf.freeze()).unwrap();
        assert_eq!(batch.compression(), codec);
        let ours: Vec<_> = batch.records().unwrap().map(Result::unwrap).collect();
        assert_eq!(ours.len(), 300);
        for (r, (ts, key, value, headers)) in ours.iter().zip(contents()) {
            assert_eq!(r.timestamp, ts);
            assert_eq!(r.key.as_deref(), key.as_deref());
            assert_eq!(r.value.as_deref(), value.as_deref());
            let h: Vec<(String, Option<Vec<u8>>)> = r
                .headers
                .iter()
                .map(|h| (h.key_str().unwrap().to_owned(), h.value.map(|v| v.to_vec())))
                .collect();
            assert_eq!(h, headers);
        }
    }
}
