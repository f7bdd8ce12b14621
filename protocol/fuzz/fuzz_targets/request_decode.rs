//! Fuzzes request decoding as a broker does it: frame header, then the body of any API at any
//! version. Decoding must never panic; whatever decodes must re-encode.
#![no_main]

use bytes::Bytes;
use klamm_protocol::ApiKey;
use klamm_protocol::header::RequestHeader;
use klamm_protocol::messages::RequestBody;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let frame = Bytes::copy_from_slice(data);
    let Ok((header, body)) = RequestHeader::split_frame(&frame) else {
        return;
    };
    let Some(api) = ApiKey::from_i16(header.request_api_key) else {
        return;
    };
    if let Ok(msg) = RequestBody::decode(api, header.request_api_version, &body) {
        let mut out = Vec::new();
        msg.encode(&mut out, header.request_api_version)
            .expect("a decoded request re-encodes");
    }
});
