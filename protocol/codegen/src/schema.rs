//! The subset of Kafka's JSON message schema language the generator understands.

use serde_json::Value;

/// A version range, inclusive; empty when `lo > hi`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Versions {
    pub lo: i16,
    pub hi: i16,
}

impl Versions {
    pub const NONE: Versions = Versions { lo: 1, hi: 0 };

    pub fn parse(s: &str) -> Result<Versions, String> {
        let s = s.trim();
        if s == "none" || s.is_empty() {
            return Ok(Versions::NONE);
        }
        let num = |t: &str| {
            t.trim()
                .parse::<i16>()
                .map_err(|e| format!("bad version {t:?}: {e}"))
        };
        if let Some(lo) = s.strip_suffix('+') {
            return Ok(Versions {
                lo: num(lo)?,
                hi: i16::MAX,
            });
        }
        if let Some((lo, hi)) = s.split_once('-') {
            return Ok(Versions {
                lo: num(lo)?,
                hi: num(hi)?,
            });
        }
        let v = num(s)?;
        Ok(Versions { lo: v, hi: v })
    }

    pub fn is_empty(&self) -> bool {
        self.lo > self.hi
    }

    pub fn intersect(&self, o: Versions) -> Versions {
        Versions {
            lo: self.lo.max(o.lo),
            hi: self.hi.min(o.hi),
        }
    }

    /// A Rust boolean expression testing `var` against this range, simplified for `within`
    /// (the versions the message supports at all).
    pub fn cond(&self, var: &str, within: Versions) -> String {
        let r = self.intersect(within);
        if r.is_empty() {
            return "false".into();
        }
        let lo = r.lo > within.lo;
        let hi = r.hi < within.hi;
        match (lo, hi) {
            (false, false) => "true".into(),
            (true, false) => format!("{var} >= {}", r.lo),
            (false, true) => format!("{var} <= {}", r.hi),
            (true, true) if r.lo == r.hi => format!("{var} == {}", r.lo),
            (true, true) => format!("({}..={}).contains(&{var})", r.lo, r.hi),
        }
    }

    pub fn describe(&self) -> String {
        if self.is_empty() {
            "none".into()
        } else if self.hi == i16::MAX {
            format!("{}+", self.lo)
        } else if self.lo == self.hi {
            format!("{}", self.lo)
        } else {
            format!("{}-{}", self.lo, self.hi)
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Ty {
    Bool,
    Int8,
    Int16,
    Uint16,
    Int32,
    Int64,
    Float64,
    Uuid,
    String,
    Bytes,
    Records,
    Struct(String),
    Array(Box<Ty>),
}

impl Ty {
    fn parse(s: &str) -> Ty {
        if let Some(inner) = s.strip_prefix("[]") {
            return Ty::Array(Box::new(Ty::parse(inner)));
        }
        match s {
            "bool" => Ty::Bool,
            "int8" => Ty::Int8,
            "int16" => Ty::Int16,
            "uint16" => Ty::Uint16,
            "int32" => Ty::Int32,
            "int64" => Ty::Int64,
            "float64" => Ty::Float64,
            "uuid" => Ty::Uuid,
            "string" => Ty::String,
            "bytes" => Ty::Bytes,
            "records" => Ty::Records,
            other => Ty::Struct(other.to_string()),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Field {
    pub name: String,
    pub ty: Ty,
    pub versions: Versions,
    pub nullable: Versions,
    pub tagged: Versions,
    pub tag: Option<u32>,
    pub ignorable: bool,
    pub default: Option<String>,
    pub about: String,
}

#[derive(Debug, Clone)]
pub struct StructDef {
    pub name: String,
    pub about: String,
    pub fields: Vec<Field>,
}

#[derive(Debug, Clone)]
pub struct MessageDef {
    pub name: String,
    pub api_key: i16,
    pub valid: Versions,
    pub flexible: Versions,
    /// The top-level struct first, then every nested and common struct.
    pub structs: Vec<StructDef>,
}

/// Removes `//` comments (outside strings) so that serde_json can read the schema files.
pub fn strip_comments(src: &str) -> String {
    let mut out = String::with_capacity(src.len());
    for line in src.lines() {
        let mut in_str = false;
        let mut prev = '\0';
        let mut cut = line.len();
        for (i, c) in line.char_indices() {
            if c == '"' && prev != '\\' {
                in_str = !in_str;
            }
            if !in_str && c == '/' && prev == '/' {
                cut = i - 1;
                break;
            }
            prev = c;
        }
        out.push_str(&line[..cut]);
        out.push('\n');
    }
    out
}

fn s<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(Value::as_str)
}

fn parse_field(v: &Value, structs: &mut Vec<StructDef>) -> Result<Field, String> {
    let name = s(v, "name").ok_or("field without name")?.to_string();
    let ty_s = s(v, "type").ok_or(format!("field {name} without type"))?;
    let ty = Ty::parse(ty_s.trim());
    let versions = Versions::parse(s(v, "versions").ok_or(format!("{name}: no versions"))?)?;
    let nullable = s(v, "nullableVersions")
        .map(Versions::parse)
        .transpose()?
        .unwrap_or(Versions::NONE);
    let tagged = s(v, "taggedVersions")
        .map(Versions::parse)
        .transpose()?
        .unwrap_or(Versions::NONE);
    let tag = v.get("tag").and_then(Value::as_u64).map(|t| t as u32);
    let ignorable = v.get("ignorable").and_then(Value::as_bool).unwrap_or(false);
    let default = s(v, "default").map(|d| d.trim().to_string());
    let about = s(v, "about").unwrap_or("").to_string();
    if let Some(fields) = v.get("fields").and_then(Value::as_array) {
        let sname = match &ty {
            Ty::Struct(n) => n.clone(),
            Ty::Array(inner) => match &**inner {
                Ty::Struct(n) => n.clone(),
                _ => return Err(format!("{name}: fields on a non-struct array")),
            },
            _ => return Err(format!("{name}: fields on a non-struct type")),
        };
        let mut parsed = Vec::new();
        for f in fields {
            parsed.push(parse_field(f, structs)?);
        }
        structs.push(StructDef {
            name: sname,
            about: about.clone(),
            fields: parsed,
        });
    }
    Ok(Field {
        name,
        ty,
        versions,
        nullable,
        tagged,
        tag,
        ignorable,
        default,
        about,
    })
}

pub fn parse_message(src: &str) -> Result<MessageDef, String> {
    let v: Value = serde_json::from_str(&strip_comments(src)).map_err(|e| e.to_string())?;
    let name = s(&v, "name").ok_or("no name")?.to_string();
    let api_key = v.get("apiKey").and_then(Value::as_i64).ok_or("no apiKey")? as i16;
    let valid = Versions::parse(s(&v, "validVersions").ok_or("no validVersions")?)?;
    let flexible = Versions::parse(s(&v, "flexibleVersions").ok_or("no flexibleVersions")?)?;
    let mut nested = Vec::new();
    let mut fields = Vec::new();
    for f in v
        .get("fields")
        .and_then(Value::as_array)
        .ok_or("no fields")?
    {
        fields.push(parse_field(f, &mut nested)?);
    }
    if let Some(common) = v.get("commonStructs").and_then(Value::as_array) {
        for c in common {
            let cname = s(c, "name")
                .ok_or("common struct without name")?
                .to_string();
            let mut cf = Vec::new();
            for f in c
                .get("fields")
                .and_then(Value::as_array)
                .ok_or("common struct without fields")?
            {
                cf.push(parse_field(f, &mut nested)?);
            }
            nested.push(StructDef {
                name: cname,
                about: String::new(),
                fields: cf,
            });
        }
    }
    let mut structs = vec![StructDef {
        name: name.clone(),
        about: String::new(),
        fields,
    }];
    // Nested structs were pushed innermost first; keep outer-to-inner order for readability.
    let mut seen = std::collections::HashSet::new();
    for st in nested.into_iter().rev() {
        if seen.insert(st.name.clone()) {
            structs.push(st);
        }
    }
    Ok(MessageDef {
        name,
        api_key,
        valid,
        flexible,
        structs,
    })
}
