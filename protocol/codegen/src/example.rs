//! Emits the doctest example on every generated struct: build it with `Default` and a field or
//! two, put it where it lives inside its message, encode the message at a version where all of
//! that exists, decode it and compare.

use std::fmt::Write;

use crate::emit::snake;
use crate::schema::{Field, MessageDef, StructDef, Ty, Versions};

/// Where an example lives: `klamm_protocol::messages::<module>::<side>`.
pub struct Place<'a> {
    /// The API's module (`end_txn`).
    pub module: &'a str,
    /// `request` or `response`.
    pub side: &'a str,
}

/// The field of which struct holds `name` (directly or as array elements), if any.
fn parent_of<'m>(m: &'m MessageDef, name: &str) -> Option<(&'m StructDef, &'m Field)> {
    m.structs.iter().find_map(|st| {
        st.fields
            .iter()
            .find(|f| match &f.ty {
                Ty::Struct(n) => n == name,
                Ty::Array(e) => matches!(&**e, Ty::Struct(n) if n == name),
                _ => false,
            })
            .map(|f| (st, f))
    })
}

/// The chain of (struct, field) from the message body down to the field holding `st`.
fn path_to<'m>(m: &'m MessageDef, st: &StructDef) -> Option<Vec<(&'m StructDef, &'m Field)>> {
    let mut path = Vec::new();
    let mut name = st.name.as_str();
    while name != m.structs[0].name {
        let (parent, field) = parent_of(m, name)?;
        if path.len() > m.structs.len() {
            return None; // a cycle; Kafka's schemas have none
        }
        path.push((parent, field));
        name = parent.name.as_str();
    }
    path.reverse();
    Some(path)
}

/// A non-default literal for a simple field, or `None` for fields the example leaves alone.
fn sample(f: &Field) -> Option<String> {
    let d = f
        .default
        .as_deref()
        .filter(|d| !d.is_empty() && *d != "null");
    let lit = match f.ty {
        Ty::Bool => (d != Some("true")).to_string(),
        Ty::Int8 | Ty::Int16 | Ty::Uint16 | Ty::Int32 | Ty::Int64 => {
            if d == Some("7") { "8" } else { "7" }.to_string()
        }
        Ty::String => "\"example\".into()".to_string(),
        _ => return None,
    };
    Some(if f.nullable.is_empty() {
        lit
    } else {
        format!("Some({lit})")
    })
}

fn contains(v: Versions, version: i16) -> bool {
    v.lo <= version && version <= v.hi
}

/// How a value is put into field `f` of its parent, and how it is read back.
fn wrap(f: &Field, inner: &str) -> (String, String) {
    let name = snake(&f.name);
    let array = matches!(f.ty, Ty::Array(_));
    let nullable = !f.nullable.is_empty();
    match (array, nullable) {
        (true, false) => (format!("vec![{inner}]"), format!(".{name}[0]")),
        (true, true) => (
            format!("Some(vec![{inner}])"),
            format!(".{name}.as_ref().unwrap()[0]"),
        ),
        (false, _) => (inner.to_string(), format!(".{name}")),
    }
}

/// `Name { a: 1, ..Default::default() }` (on several lines, indented by `indent`, when long),
/// or `Name::default()` without fields.
fn literal(name: &str, fields: &[(String, String)], indent: usize) -> String {
    if fields.is_empty() {
        return format!("{name}::default()");
    }
    let mut one = format!("{name} {{ ");
    for (n, v) in fields {
        write!(one, "{n}: {v}, ").unwrap();
    }
    one.push_str("..Default::default() }");
    if indent + one.len() <= 80 && !one.contains('\n') {
        return one;
    }
    let pad = " ".repeat(indent + 4);
    let mut s = format!("{name} {{\n");
    for (n, v) in fields {
        writeln!(s, "{pad}{n}: {v},").unwrap();
    }
    write!(s, "{pad}..Default::default()\n{}}}", " ".repeat(indent)).unwrap();
    s
}

/// The doc lines (each starting with `/// `) of the example for `st`, or an empty string when
/// the struct cannot be reached from the message body at any supported version.
pub fn example(m: &MessageDef, st: &StructDef, valid: Versions, place: &Place<'_>) -> String {
    let Some(path) = path_to(m, st) else {
        return String::new();
    };
    let mut range = valid;
    for (_, f) in &path {
        range = range.intersect(f.versions);
    }
    if range.is_empty() {
        return String::new();
    }
    let version = range.hi;
    let fields: Vec<(String, String)> = st
        .fields
        .iter()
        .filter(|f| contains(f.versions, version))
        .filter_map(|f| sample(f).map(|v| (snake(&f.name), v)))
        .take(2)
        .collect();
    let top = &m.structs[0].name;
    let mut names: Vec<&str> = vec![top.as_str()];
    for (s, _) in &path {
        names.push(s.name.as_str());
    }
    names.push(st.name.as_str());
    names.dedup();
    let import = if names.len() == 1 {
        names[0].to_string()
    } else {
        format!("{{{}}}", names.join(", "))
    };

    let mut code = String::new();
    writeln!(code, "use klamm_protocol::Message;").unwrap();
    let mut use_line = format!(
        "use klamm_protocol::messages::{}::{}::{import};",
        place.module, place.side
    );
    if use_line.len() > 90 {
        use_line = format!(
            "use klamm_protocol::messages::{}::{}::{{\n    {},\n}};",
            place.module,
            place.side,
            names.join(", ")
        );
    }
    writeln!(code, "{use_line}\n").unwrap();
    if path.is_empty() {
        writeln!(code, "let message = {};", literal(top, &fields, 0)).unwrap();
    } else {
        writeln!(code, "let value = {};", literal(&st.name, &fields, 0)).unwrap();
        let mut inner = "value.clone()".to_string();
        let mut access = String::new();
        for (depth, (parent, f)) in path.iter().enumerate().rev() {
            let (put, get) = wrap(f, &inner);
            inner = literal(&parent.name, &[(snake(&f.name), put)], 4 * depth);
            access = format!("{get}{access}");
        }
        writeln!(code, "let message = {inner};").unwrap();
        writeln!(code, "let bytes = message.to_bytes({version})?;").unwrap();
        writeln!(code, "let decoded = {top}::decode(&bytes, {version})?;").unwrap();
        writeln!(code, "assert_eq!(decoded{access}, value);").unwrap();
        writeln!(code, "assert_eq!(decoded, message);").unwrap();
        return finish(&code, &format!("inside a {top} at version {version}"));
    }
    writeln!(code, "let bytes = message.to_bytes({version})?;").unwrap();
    writeln!(
        code,
        "assert_eq!({top}::decode(&bytes, {version})?, message);"
    )
    .unwrap();
    finish(&code, &format!("at version {version}"))
}

fn finish(code: &str, what: &str) -> String {
    let mut out = format!("///\n/// Encoded and decoded again {what}:\n///\n/// ```\n");
    for line in code.lines() {
        if line.is_empty() {
            out.push_str("///\n");
        } else {
            writeln!(out, "/// {line}").unwrap();
        }
    }
    out.push_str("/// # Ok::<(), Box<dyn std::error::Error>>(())\n/// ```\n");
    out
}
