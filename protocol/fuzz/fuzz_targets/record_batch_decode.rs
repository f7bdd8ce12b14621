//! Fuzzes RecordBatch decoding: every batch of a `records` field, every record in it
//! (decompressing where the attributes say so), with and without CRC checks, and the legacy
//! message-set reader. Nothing may panic or allocate past the configured bounds.
#![no_main]

use bytes::Bytes;
use klamm_protocol::record::{DecodeOptions, RecordBatches};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let bytes = Bytes::copy_from_slice(data);
    for verify_crc in [false, true] {
        let opts = DecodeOptions {
            verify_crc,
            max_decompressed_size: 1 << 20,
        };
        for batch in RecordBatches::with_options(bytes.clone(), opts) {
            let Ok(batch) = batch else { continue };
            let _ = batch.end_txn_marker();
            if let Ok(records) = batch.records() {
                for r in records.flatten() {
                    for h in r.headers.iter() {
                        let _ = h.key_str();
                    }
                }
            }
        }
    }
    let opts = DecodeOptions {
        verify_crc: true,
        max_decompressed_size: 1 << 20,
    };
    for _ in klamm_protocol::record::legacy::MessageSet::new(bytes, opts) {}
});
