//! Fuzzes response decoding as a client does it. The first two bytes choose the API and the
//! third the version, the rest is the frame (response header + body).
#![no_main]

use bytes::Bytes;
use klamm_protocol::SUPPORTED_APIS;
use klamm_protocol::header::ResponseHeader;
use klamm_protocol::messages::ResponseBody;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let api = SUPPORTED_APIS[data[0] as usize % SUPPORTED_APIS.len()];
    let span = (api.max_version - api.min_version + 1) as u8;
    let version = api.min_version + (data[1] % span) as i16;
    let frame = Bytes::copy_from_slice(&data[2..]);
    let Ok((_, body)) =
        ResponseHeader::split_frame(&frame, api.key.response_header_version(version))
    else {
        return;
    };
    if let Ok(msg) = ResponseBody::decode(api.key, version, &body) {
        let mut out = Vec::new();
        msg.encode(&mut out, version).expect("a decoded response re-encodes");
    }
});
