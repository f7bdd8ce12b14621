//! Generates `protocol/src/messages/*.rs` from Apache Kafka's JSON message schemas.
//!
//! Usage: `cargo run -p klamm-protocol-codegen -- <schema-dir> <out-dir>`, where `<schema-dir>`
//! is a copy of Kafka's `clients/src/main/resources/common/message`. The generated files are
//! committed; nothing reads the schemas at build or test time.

mod emit;
mod example;
mod schema;

use std::fmt::Write;
use std::path::Path;

use emit::{Ctx, emit_struct, snake};
use schema::{Field, MessageDef, Ty, Versions, parse_message};

/// The APIs Klamm covers: (schema name, `ApiKey` variant, supported versions).
const APIS: &[(&str, &str, i16, i16)] = &[
    ("Produce", "Produce", 0, 12),
    ("Fetch", "Fetch", 0, 17),
    ("ListOffsets", "ListOffsets", 0, 10),
    ("Metadata", "Metadata", 0, 13),
    ("OffsetFetch", "OffsetFetch", 0, 9),
    ("FindCoordinator", "FindCoordinator", 0, 6),
    ("SaslHandshake", "SaslHandshake", 0, 1),
    ("ApiVersions", "ApiVersions", 0, 4),
    ("CreateTopics", "CreateTopics", 0, 7),
    ("InitProducerId", "InitProducerId", 0, 5),
    ("AddPartitionsToTxn", "AddPartitionsToTxn", 0, 5),
    ("AddOffsetsToTxn", "AddOffsetsToTxn", 0, 4),
    ("EndTxn", "EndTxn", 0, 5),
    ("TxnOffsetCommit", "TxnOffsetCommit", 0, 4),
    ("SaslAuthenticate", "SaslAuthenticate", 0, 2),
    ("DescribeProducers", "DescribeProducers", 0, 0),
    ("DescribeClientQuotas", "DescribeClientQuotas", 0, 1),
    ("AlterClientQuotas", "AlterClientQuotas", 0, 1),
];

/// Schema changes newer than the schema snapshot, applied by hand (each cites its KIP).
fn overlay(m: &mut MessageDef) {
    // KIP-890 part 2: Produce v12 has the same fields as v11. A transactional producer may send
    // it only when the broker's finalized `transaction.version` is >= 2, and then the broker adds
    // the partition to the transaction itself (no AddPartitionsToTxn first).
    if m.name == "ProduceRequest" || m.name == "ProduceResponse" {
        m.valid.hi = m.valid.hi.max(12);
    }
    // KIP-1102: Metadata v13 adds a top-level error code to the response (and nothing to the
    // request). librdkafka 2.16 and the librdkafka mock speak v13.
    if m.name == "MetadataRequest" || m.name == "MetadataResponse" {
        m.valid.hi = m.valid.hi.max(13);
    }
    if m.name == "MetadataResponse" {
        m.structs[0].fields.push(Field {
            name: "ErrorCode".into(),
            ty: Ty::Int16,
            versions: Versions {
                lo: 13,
                hi: i16::MAX,
            },
            nullable: Versions::NONE,
            tagged: Versions::NONE,
            tag: None,
            ignorable: true,
            default: None,
            about: "The top-level error code, or 0 if there was no top-level error (KIP-1102)."
                .into(),
        });
    }
}

fn load(dir: &Path, name: &str) -> Result<MessageDef, String> {
    let path = dir.join(format!("{name}.json"));
    let src = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut m = parse_message(&src).map_err(|e| format!("{}: {e}", path.display()))?;
    overlay(&mut m);
    Ok(m)
}

fn emit_side(
    out: &mut String,
    m: &MessageDef,
    module: &str,
    side: &str,
    variant: &str,
    range: (i16, i16),
    response: &str,
) {
    let valid = Versions {
        lo: range.0,
        hi: range.1,
    };
    let first_flexible = if m.flexible.is_empty() {
        i16::MAX
    } else {
        m.flexible.lo
    };
    let cx = Ctx {
        valid,
        first_flexible,
    };
    writeln!(
        out,
        "pub mod {side} {{\n    //! The {} and its nested structures.\n    //!\n    //! ```\n    //! use klamm_protocol::Message;\n    //! use klamm_protocol::messages::{module}::{side}::{name};\n    //!\n    //! // The default value is valid at every supported version.\n    //! let (lo, hi) = {name}::VERSIONS;\n    //! for version in lo..=hi {{\n    //!     let bytes = {name}::default().to_bytes(version)?;\n    //!     assert_eq!({name}::decode(&bytes, version)?, {name}::default());\n    //! }}\n    //! # Ok::<(), Box<dyn std::error::Error>>(())\n    //! ```\n",
        m.name,
        name = m.name
    )
    .unwrap();
    writeln!(
        out,
        "    #[allow(unused_imports)]\n    use crate::messages::prelude::*;\n"
    )
    .unwrap();
    let mut body = String::new();
    for (i, st) in m.structs.iter().enumerate() {
        let doc = example::example(m, st, valid, &example::Place { module, side });
        emit_struct(
            &mut body,
            st,
            &cx,
            if i == 0 { Some(m) } else { None },
            &doc,
        );
    }
    writeln!(
        body,
        "impl Message for {name} {{\n    const API_KEY: ApiKey = ApiKey::{variant};\n    const VERSIONS: (i16, i16) = ({lo}, {hi});\n    const FIRST_FLEXIBLE: i16 = {ff};\n\n    fn encode(&self, buf: &mut impl BufMut, version: i16) -> Result<(), EncodeError> {{\n        check_encode_version::<Self>(version)?;\n        self.write_to(buf, version)\n    }}\n\n    fn read<'a>(input: &'a [u8], cx: &DecodeContext<'_>) -> PResult<'a, Self> {{\n        Self::read_from(input, cx)\n    }}\n}}\n",
        name = m.name,
        lo = range.0,
        hi = range.1,
        ff = if first_flexible == i16::MAX { "i16::MAX".to_string() } else { first_flexible.to_string() },
    )
    .unwrap();
    if side == "request" {
        writeln!(
            body,
            "impl Request for {} {{\n    type Response = super::{response};\n}}\n",
            m.name
        )
        .unwrap();
    }
    for line in body.lines() {
        if line.is_empty() {
            out.push('\n');
        } else {
            writeln!(out, "    {line}").unwrap();
        }
    }
    writeln!(out, "}}\n").unwrap();
}

/// The doctest on `RequestBody` / `ResponseBody` (`method` `None`) or on one of their methods,
/// as doc lines indented for where they go.
fn body_example(kind: &str, method: Option<&str>) -> String {
    let ty = format!("EndTxn{kind}");
    let field = if kind == "Request" {
        "producer_id: 7"
    } else {
        "throttle_time_ms: 7"
    };
    let mut code = vec![
        "use bytes::Bytes;".to_string(),
        "use klamm_protocol::ApiKey;".to_string(),
        format!("use klamm_protocol::messages::{{{kind}Body, {ty}}};"),
        String::new(),
        format!("let body = {kind}Body::from({ty} {{ {field}, ..Default::default() }});"),
    ];
    match method {
        Some("api_key") => code.push("assert_eq!(body.api_key(), ApiKey::EndTxn);".into()),
        Some("encode") => code.extend([
            "let mut buf = Vec::new();".to_string(),
            "body.encode(&mut buf, 5)?;".to_string(),
            format!("let {kind}Body::EndTxn(inner) = &body else {{ unreachable!() }};"),
            "// The same bytes as the body type's own encoding.".to_string(),
            "assert_eq!(buf, klamm_protocol::Message::to_bytes(inner, 5)?);".to_string(),
        ]),
        _ => code.extend([
            "let mut buf = Vec::new();".to_string(),
            "body.encode(&mut buf, 5)?;".to_string(),
            format!("let decoded = {kind}Body::decode(body.api_key(), 5, &Bytes::from(buf))?;"),
            "assert_eq!(decoded, body);".to_string(),
        ]),
    }
    code.push("# Ok::<(), Box<dyn std::error::Error>>(())".into());
    let indent = if method.is_some() { "    " } else { "" };
    let mut out = format!("{indent}///\n{indent}/// ```\n");
    for line in code {
        if line.is_empty() {
            writeln!(out, "{indent}///").unwrap();
        } else {
            writeln!(out, "{indent}/// {line}").unwrap();
        }
    }
    writeln!(out, "{indent}/// ```").unwrap();
    out
}

fn run(schema_dir: &Path, out_dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(out_dir).map_err(|e| e.to_string())?;
    let mut modules = Vec::new();
    for &(schema, variant, lo, hi) in APIS {
        let req = load(schema_dir, &format!("{schema}Request"))?;
        let rsp = load(schema_dir, &format!("{schema}Response"))?;
        if req.valid.lo > lo || req.valid.hi < hi {
            return Err(format!(
                "{schema}: schema has versions {}, Klamm wants {lo}-{hi}",
                req.valid.describe()
            ));
        }
        let module = snake(schema);
        let mut out = String::new();
        writeln!(
            out,
            "//! {schema} (API key {}): versions {lo}-{hi}, flexible from {}.\n//!\n//! Generated by `klamm-protocol-codegen` from Apache Kafka's `{schema}Request.json` and\n//! `{schema}Response.json`; do not edit by hand.\n//!\n//! ```\n//! use klamm_protocol::{{ApiKey, Message, Request}};\n//! use klamm_protocol::messages::{module}::{{{req}, {rsp}}};\n//!\n//! assert_eq!({req}::API_KEY, ApiKey::{variant});\n//! assert_eq!({req}::VERSIONS, ({lo}, {hi}));\n//! // The request type names its response type.\n//! let response = <{req} as Request>::Response::default();\n//! let bytes = response.to_bytes({hi})?;\n//! assert_eq!({rsp}::decode(&bytes, {hi})?, response);\n//! # Ok::<(), Box<dyn std::error::Error>>(())\n//! ```\n\n#![allow(clippy::all)]\n",
            req.api_key,
            req.flexible.describe(),
            req = req.name,
            rsp = rsp.name,
        )
        .unwrap();
        writeln!(
            out,
            "pub use request::{};\npub use response::{};\n",
            req.name, rsp.name
        )
        .unwrap();
        emit_side(
            &mut out,
            &req,
            &module,
            "request",
            variant,
            (lo, hi),
            &rsp.name,
        );
        emit_side(
            &mut out,
            &rsp,
            &module,
            "response",
            variant,
            (lo, hi),
            &rsp.name,
        );
        writeln!(
            out,
            "#[cfg(test)]\nmod tests {{\n    use super::*;\n\n    #[test]\n    fn request_round_trips_at_every_version() {{\n        crate::codec::test_support::round_trip_every_version::<{}>({}::strategy);\n    }}\n\n    #[test]\n    fn response_round_trips_at_every_version() {{\n        crate::codec::test_support::round_trip_every_version::<{}>({}::strategy);\n    }}\n}}",
            req.name, req.name, rsp.name, rsp.name
        )
        .unwrap();
        let path = out_dir.join(format!("{module}.rs"));
        std::fs::write(&path, out).map_err(|e| format!("{}: {e}", path.display()))?;
        modules.push((schema, variant, module, req.name.clone(), rsp.name.clone()));
    }

    let mut m = String::new();
    writeln!(m, "//! Every message body Klamm covers, one module per API, generated from Apache Kafka's JSON\n//! message schemas by `klamm-protocol-codegen` (do not edit by hand).\n//!\n//! Each module holds a `request` and a `response` submodule with the nested structures; the\n//! top-level request and response types are re-exported here.\n//!\n//! ```\n//! use klamm_protocol::messages::{{ProduceRequest, produce}};\n//!\n//! let partition = produce::request::PartitionProduceData {{ index: 3, ..Default::default() }};\n//! let topic = produce::request::TopicProduceData {{\n//!     name: \"orders\".into(),\n//!     partition_data: vec![partition],\n//!     ..Default::default()\n//! }};\n//! let request = ProduceRequest {{ topic_data: vec![topic], ..Default::default() }};\n//! assert_eq!(request.topic_data[0].partition_data[0].index, 3);\n//! ```\n").unwrap();
    writeln!(m, "pub(crate) mod prelude;\n").unwrap();
    for (_, _, module, _, _) in &modules {
        writeln!(m, "pub mod {module};").unwrap();
    }
    writeln!(m).unwrap();
    for (_, _, module, req, rsp) in &modules {
        writeln!(m, "pub use {module}::{{{req}, {rsp}}};").unwrap();
    }
    writeln!(m, "\nuse bytes::{{BufMut, Bytes}};\n\nuse crate::api::ApiKey;\nuse crate::codec::Message;\nuse crate::error::{{DecodeError, EncodeError}};\n").unwrap();
    for (kind, idx) in [("Request", 3), ("Response", 4)] {
        writeln!(
            m,
            "/// Any {} body, for code that dispatches on the API key (a broker, a proxy, a test).",
            kind.to_lowercase()
        )
        .unwrap();
        m.push_str(&body_example(kind, None));
        writeln!(
            m,
            "#[derive(Debug, Clone, PartialEq)]\n#[non_exhaustive]\npub enum {kind}Body {{"
        )
        .unwrap();
        for t in &modules {
            let ty = if idx == 3 { &t.3 } else { &t.4 };
            writeln!(
                m,
                "    /// A {} {}.\n    {}({ty}),",
                t.0,
                kind.to_lowercase(),
                t.1
            )
            .unwrap();
        }
        writeln!(m, "}}\n").unwrap();
        writeln!(
            m,
            "impl {kind}Body {{\n    /// The API this body belongs to."
        )
        .unwrap();
        m.push_str(&body_example(kind, Some("api_key")));
        writeln!(
            m,
            "    pub fn api_key(&self) -> ApiKey {{\n        match self {{"
        )
        .unwrap();
        for t in &modules {
            writeln!(m, "            {kind}Body::{}(_) => ApiKey::{},", t.1, t.1).unwrap();
        }
        writeln!(m, "        }}\n    }}\n").unwrap();
        writeln!(
            m,
            "    /// Decodes a complete body of `api_key` at `version`."
        )
        .unwrap();
        m.push_str(&body_example(kind, Some("decode")));
        writeln!(m, "    pub fn decode(api_key: ApiKey, version: i16, body: &Bytes) -> Result<Self, DecodeError> {{\n        Ok(match api_key {{").unwrap();
        for t in &modules {
            let ty = if idx == 3 { &t.3 } else { &t.4 };
            writeln!(
                m,
                "            ApiKey::{} => {kind}Body::{}({ty}::decode(body, version)?),",
                t.1, t.1
            )
            .unwrap();
        }
        writeln!(m, "        }})\n    }}\n").unwrap();
        writeln!(m, "    /// Encodes the body at `version`.").unwrap();
        m.push_str(&body_example(kind, Some("encode")));
        writeln!(m, "    pub fn encode(&self, buf: &mut impl BufMut, version: i16) -> Result<(), EncodeError> {{\n        match self {{").unwrap();
        for t in &modules {
            writeln!(
                m,
                "            {kind}Body::{}(b) => b.encode(buf, version),",
                t.1
            )
            .unwrap();
        }
        writeln!(m, "        }}\n    }}\n}}\n").unwrap();
        for t in &modules {
            let ty = if idx == 3 { &t.3 } else { &t.4 };
            writeln!(m, "impl From<{ty}> for {kind}Body {{\n    fn from(b: {ty}) -> Self {{\n        {kind}Body::{}(b)\n    }}\n}}\n", t.1).unwrap();
        }
    }
    let path = out_dir.join("mod.rs");
    std::fs::write(&path, m).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut files: Vec<std::path::PathBuf> = modules
        .iter()
        .map(|t| out_dir.join(format!("{}.rs", t.2)))
        .collect();
    files.push(path);
    let status = std::process::Command::new("rustfmt")
        .args(["--edition", "2024"])
        .args(&files)
        .status()
        .map_err(|e| format!("running rustfmt: {e}"))?;
    if !status.success() {
        return Err(format!("rustfmt failed: {status}"));
    }
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() != 2 {
        eprintln!("usage: klamm-protocol-codegen <kafka message schema dir> <output dir>");
        std::process::exit(2);
    }
    if let Err(e) = run(Path::new(&args[0]), Path::new(&args[1])) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
