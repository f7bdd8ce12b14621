//! Emits Rust source for one message schema.

use std::fmt::Write;

use crate::schema::{Field, MessageDef, StructDef, Ty, Versions};

/// Everything the emitter needs to know about the message a struct belongs to.
pub struct Ctx {
    /// The versions this codec supports for the message.
    pub valid: Versions,
    /// The first flexible version, or `i16::MAX`.
    pub first_flexible: i16,
}

pub fn snake(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_uppercase() {
            let prev_lower =
                i > 0 && (chars[i - 1].is_lowercase() || chars[i - 1].is_ascii_digit());
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            let prev_upper = i > 0 && chars[i - 1].is_uppercase();
            if i > 0 && (prev_lower || (prev_upper && next_lower)) {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    match out.as_str() {
        "type" | "match" | "ref" | "move" | "self" | "struct" | "fn" | "mod" | "use" => {
            format!("r#{out}")
        }
        _ => out,
    }
}

fn doc_text(s: &str) -> String {
    s.replace('\n', " ")
        .replace('[', "\\[")
        .replace(']', "\\]")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn base_type(ty: &Ty) -> String {
    match ty {
        Ty::Bool => "bool".into(),
        Ty::Int8 => "i8".into(),
        Ty::Int16 => "i16".into(),
        Ty::Uint16 => "u16".into(),
        Ty::Int32 => "i32".into(),
        Ty::Int64 => "i64".into(),
        Ty::Float64 => "f64".into(),
        Ty::Uuid => "Uuid".into(),
        Ty::String => "String".into(),
        Ty::Bytes | Ty::Records => "Bytes".into(),
        Ty::Struct(n) => n.clone(),
        Ty::Array(e) => format!("Vec<{}>", base_type(e)),
    }
}

fn is_option(f: &Field) -> bool {
    !f.nullable.is_empty() || f.ty == Ty::Records
}

fn rust_type(f: &Field) -> String {
    if is_option(f) {
        format!("Option<{}>", base_type(&f.ty))
    } else {
        base_type(&f.ty)
    }
}

fn base_default(ty: &Ty, d: Option<&str>) -> String {
    let d = d.filter(|d| !d.is_empty());
    match ty {
        Ty::Bool => d.unwrap_or("false").to_string(),
        Ty::Int8 | Ty::Int16 | Ty::Uint16 | Ty::Int32 | Ty::Int64 => match d {
            Some(x) if x.starts_with("0x") => x.to_string(),
            Some(x) => x.to_string(),
            None => "0".into(),
        },
        Ty::Float64 => format!("{}f64", d.unwrap_or("0.0")),
        Ty::Uuid => "Uuid::ZERO".into(),
        Ty::String => match d {
            Some(x) => format!("String::from({x:?})"),
            None => "String::new()".into(),
        },
        Ty::Bytes | Ty::Records => "Bytes::new()".into(),
        Ty::Struct(n) => format!("{n}::default()"),
        Ty::Array(e) => format!("Vec::<{}>::new()", base_type(e)),
    }
}

fn default_expr(f: &Field) -> String {
    let d = f.default.as_deref();
    if d == Some("null") || f.ty == Ty::Records {
        return "None".into();
    }
    let b = base_default(&f.ty, d);
    if is_option(f) {
        format!("Some({b})")
    } else {
        b
    }
}

/// The code that writes the non-null value `e` (a reference) of type `ty`.
fn write_nonnull(ty: &Ty, e: &str, depth: usize) -> String {
    match ty {
        Ty::Bool => format!("put_bool(buf, *{e});"),
        Ty::Int8 => format!("buf.put_i8(*{e});"),
        Ty::Int16 => format!("buf.put_i16(*{e});"),
        Ty::Uint16 => format!("buf.put_u16(*{e});"),
        Ty::Int32 => format!("buf.put_i32(*{e});"),
        Ty::Int64 => format!("buf.put_i64(*{e});"),
        Ty::Float64 => format!("buf.put_f64(*{e});"),
        Ty::Uuid => format!("put_uuid(buf, {e});"),
        Ty::String => format!("put_str(buf, {e}, flex)?;"),
        Ty::Bytes | Ty::Records => format!("put_bytes(buf, {e}, flex)?;"),
        Ty::Struct(_) => format!("({e}).write_to(buf, v)?;"),
        Ty::Array(el) => {
            let it = format!("e{depth}");
            format!(
                "put_array_len(buf, Some(({e}).len()), flex)?; for {it} in ({e}).iter() {{ {} }}",
                write_nonnull(el, &it, depth + 1)
            )
        }
    }
}

/// The code that writes the nullable value `e` (an `Option<&T>`).
fn write_nullable(ty: &Ty, e: &str) -> String {
    match ty {
        Ty::String => format!("put_nullable_str(buf, {e}.map(|s| s.as_str()), flex)?;"),
        Ty::Bytes | Ty::Records => format!("put_nullable_bytes(buf, {e}.map(|b| &b[..]), flex)?;"),
        Ty::Array(_) => format!(
            "match {e} {{ None => put_array_len(buf, None, flex)?, Some(a) => {{ {} }} }}",
            write_nonnull(ty, "a", 0)
        ),
        other => panic!("nullable {other:?} is not supported"),
    }
}

/// The code writing field `f` (held at `self.<name>`) at version `v`.
fn write_value(f: &Field, cx: &Ctx) -> String {
    let name = snake(&f.name);
    if is_option(f) {
        let nul = f.nullable.cond("v", cx.valid);
        let nn = write_nonnull(&f.ty, "x", 0);
        let null_err = format!(
            "return Err(EncodeError::NullNotAllowed {{ field: {:?}, version: v }})",
            f.name
        );
        match nul.as_str() {
            "true" => write_nullable(&f.ty, &format!("self.{name}.as_ref()")),
            "false" => {
                format!("match &self.{name} {{ Some(x) => {{ {nn} }} None => {null_err}, }}")
            }
            _ => format!(
                "if {nul} {{ {} }} else {{ match &self.{name} {{ Some(x) => {{ {nn} }} None => {null_err}, }} }}",
                write_nullable(&f.ty, &format!("self.{name}.as_ref()"))
            ),
        }
    } else {
        write_nonnull(&f.ty, &format!("&self.{name}"), 0)
    }
}

/// A call expression parsing a non-null value of `ty` from `input`.
fn read_nonnull(ty: &Ty, input: &str) -> String {
    match ty {
        Ty::Bool => format!("boolean({input})"),
        Ty::Int8 => format!("int8({input})"),
        Ty::Int16 => format!("int16({input})"),
        Ty::Uint16 => format!("uint16({input})"),
        Ty::Int32 => format!("int32({input})"),
        Ty::Int64 => format!("int64({input})"),
        Ty::Float64 => format!("float64({input})"),
        Ty::Uuid => format!("uuid({input})"),
        Ty::String => format!("read_string({input}, flex)"),
        Ty::Bytes | Ty::Records => format!("read_bytes({input}, cx, flex)"),
        Ty::Struct(n) => format!("{n}::read_from({input}, cx)"),
        Ty::Array(el) => format!("array({input}, flex, |i| {})", read_nonnull(el, "i")),
    }
}

fn read_nullable(ty: &Ty, input: &str) -> String {
    match ty {
        Ty::String => format!("read_nullable_string({input}, flex)"),
        Ty::Bytes | Ty::Records => format!("read_nullable_bytes({input}, cx, flex)"),
        Ty::Array(el) => format!(
            "nullable_array({input}, flex, |i| {})",
            read_nonnull(el, "i")
        ),
        other => panic!("nullable {other:?} is not supported"),
    }
}

/// Statements reading field `f` from `input` into `this`, leaving the rest in `rest_var`.
fn read_value(f: &Field, cx: &Ctx, input: &str, rest_var: &str) -> String {
    let name = snake(&f.name);
    if is_option(f) {
        let nul = f.nullable.cond("v", cx.valid);
        let nullable = format!(
            "{{ let (r, x) = {}?; {rest_var} = r; this.{name} = x; }}",
            read_nullable(&f.ty, input)
        );
        let nonnull = format!(
            "{{ let (r, x) = {}?; {rest_var} = r; this.{name} = Some(x); }}",
            read_nonnull(&f.ty, input)
        );
        match nul.as_str() {
            "true" => nullable,
            "false" => nonnull,
            _ => format!("if {nul} {nullable} else {nonnull}"),
        }
    } else {
        format!(
            "{{ let (r, x) = {}?; {rest_var} = r; this.{name} = x; }}",
            read_nonnull(&f.ty, input)
        )
    }
}

fn strategy_nonnull(ty: &Ty) -> String {
    match ty {
        Ty::Bool => "any::<bool>().boxed()".into(),
        Ty::Int8 => "any::<i8>().boxed()".into(),
        Ty::Int16 => "any::<i16>().boxed()".into(),
        Ty::Uint16 => "any::<u16>().boxed()".into(),
        Ty::Int32 => "any::<i32>().boxed()".into(),
        Ty::Int64 => "any::<i64>().boxed()".into(),
        Ty::Float64 => "(-1.0e9f64..1.0e9f64).boxed()".into(),
        Ty::Uuid => "any::<[u8; 16]>().prop_map(Uuid).boxed()".into(),
        Ty::String => "\"[a-zA-Z0-9._-]{0,12}\".boxed()".into(),
        Ty::Bytes | Ty::Records => {
            "proptest::collection::vec(any::<u8>(), 0..24).prop_map(Bytes::from).boxed()".into()
        }
        Ty::Struct(n) => format!("{n}::strategy(v)"),
        Ty::Array(el) => format!(
            "proptest::collection::vec({}, 0..3).boxed()",
            strategy_nonnull(el)
        ),
    }
}

fn strategy(f: &Field, cx: &Ctx) -> String {
    let present = f.versions.cond("v", cx.valid);
    let value = if is_option(f) {
        let nul = f.nullable.cond("v", cx.valid);
        let nn = strategy_nonnull(&f.ty);
        format!(
            "if {nul} {{ proptest::option::of({nn}).boxed() }} else {{ {nn}.prop_map(Some).boxed() }}"
        )
    } else {
        strategy_nonnull(&f.ty)
    };
    match present.as_str() {
        "true" => value,
        "false" => format!("Just({}).boxed()", default_expr(f)),
        _ => format!(
            "if {present} {{ {value} }} else {{ Just({}).boxed() }}",
            default_expr(f)
        ),
    }
}

/// The versions in which `f` is encoded in the regular (non-tagged) position.
fn regular_versions(f: &Field) -> Versions {
    if f.tag.is_none() || f.tagged.is_empty() {
        return f.versions;
    }
    assert!(
        f.tagged.hi >= f.versions.hi,
        "{}: tagged versions must be a suffix",
        f.name
    );
    Versions {
        lo: f.versions.lo,
        hi: f.tagged.lo - 1,
    }
    .intersect(f.versions)
}

/// Emits one struct with its `Default`, `Struct` and test-strategy impls; `example` holds the
/// doc lines of its doctest (see [`crate::example`]).
pub fn emit_struct(
    out: &mut String,
    st: &StructDef,
    cx: &Ctx,
    top: Option<&MessageDef>,
    example: &str,
) {
    let flexible = cx.first_flexible != i16::MAX;
    let about = if st.about.is_empty() {
        format!("The `{}` structure.", st.name)
    } else {
        doc_text(&st.about)
    };
    match top {
        Some(m) => writeln!(
            out,
            "/// The {} body (API key {}), versions {}.",
            m.name,
            m.api_key,
            cx.valid.describe()
        )
        .unwrap(),
        None => writeln!(out, "/// {about}").unwrap(),
    }
    out.push_str(example);
    writeln!(
        out,
        "#[derive(Debug, Clone, PartialEq)]\npub struct {} {{",
        st.name
    )
    .unwrap();
    for f in &st.fields {
        let mut about = doc_text(&f.about);
        if about.is_empty() {
            about = format!("The `{}` field.", f.name);
        }
        let mut notes = format!("Versions {}", f.versions.describe());
        if !f.nullable.is_empty() {
            write!(notes, "; nullable {}", f.nullable.describe()).unwrap();
        }
        if let Some(t) = f.tag {
            write!(notes, "; tagged {} (tag {t})", f.tagged.describe()).unwrap();
        }
        writeln!(
            out,
            "    /// {about}\n    ///\n    /// {notes}.\n    pub {}: {},",
            snake(&f.name),
            rust_type(f)
        )
        .unwrap();
    }
    if flexible {
        writeln!(out, "    /// Tagged fields kept as raw bytes for byte-identical re-encoding: unknown tags, and known\n    /// tags that arrived holding their default value (Kafka omits those; other peers send them).\n    pub unknown_tagged_fields: UnknownTaggedFields,").unwrap();
    }
    writeln!(out, "}}\n").unwrap();

    // Default with the schema's defaults.
    writeln!(
        out,
        "impl Default for {} {{\n    fn default() -> Self {{\n        {} {{",
        st.name, st.name
    )
    .unwrap();
    for f in &st.fields {
        writeln!(out, "            {}: {},", snake(&f.name), default_expr(f)).unwrap();
    }
    if flexible {
        writeln!(out, "            unknown_tagged_fields: Vec::new(),").unwrap();
    }
    writeln!(out, "        }}\n    }}\n}}\n").unwrap();

    // Encoding and decoding.
    let flex_expr = if flexible {
        format!("v >= {}", cx.first_flexible)
    } else {
        "false".into()
    };
    writeln!(out, "impl Struct for {} {{", st.name).unwrap();
    writeln!(
        out,
        "    fn write_to<B: BufMut>(&self, buf: &mut B, v: i16) -> Result<(), EncodeError> {{"
    )
    .unwrap();
    writeln!(
        out,
        "        let flex = {flex_expr};\n        let _ = (flex, v);"
    )
    .unwrap();
    for f in &st.fields {
        let name = snake(&f.name);
        let regular = regular_versions(f).cond("v", cx.valid);
        let in_tagged = if f.tag.is_some() {
            f.tagged.intersect(f.versions).cond("v", cx.valid)
        } else {
            "false".into()
        };
        let missing = if f.ignorable {
            String::new()
        } else {
            format!(
                " else if !({in_tagged}) && self.{name} != {} {{ return Err(EncodeError::FieldNotSupported {{ field: {:?}, version: v }}); }}",
                default_expr(f),
                f.name
            )
        };
        match regular.as_str() {
            "true" => writeln!(out, "        {}", write_value(f, cx)).unwrap(),
            "false" if missing.is_empty() => {}
            "false" => writeln!(out, "        if false {{}}{missing}").unwrap(),
            _ => writeln!(
                out,
                "        if {regular} {{ {} }}{missing}",
                write_value(f, cx)
            )
            .unwrap(),
        }
    }
    if flexible {
        writeln!(out, "        if flex {{\n            #[allow(unused_mut)]\n            let mut tagged: Vec<(u32, Vec<u8>)> = Vec::new();").unwrap();
        let mut tagged_fields: Vec<&Field> = st.fields.iter().filter(|f| f.tag.is_some()).collect();
        tagged_fields.sort_by_key(|f| f.tag);
        for f in tagged_fields {
            let name = snake(&f.name);
            let cond = f.tagged.intersect(f.versions).cond("v", cx.valid);
            writeln!(
                out,
                "            if ({cond}) && self.{name} != {} {{ let mut b: Vec<u8> = Vec::new(); {{ let buf = &mut b; let flex = true; let _ = flex; {} }} tagged.push(({}, b)); }}",
                default_expr(f),
                write_value(f, cx),
                f.tag.unwrap()
            )
            .unwrap();
        }
        writeln!(
            out,
            "            put_tag_section(buf, tagged, &self.unknown_tagged_fields)?;\n        }}"
        )
        .unwrap();
    }
    writeln!(out, "        Ok(())\n    }}\n").unwrap();

    writeln!(
        out,
        "    fn read_from<'a>(input: &'a [u8], cx: &DecodeContext<'_>) -> PResult<'a, Self> {{"
    )
    .unwrap();
    writeln!(
        out,
        "        let v = cx.version;\n        let flex = {flex_expr};\n        let _ = (flex, v);"
    )
    .unwrap();
    writeln!(out, "        #[allow(unused_mut)]\n        let mut this = Self::default();\n        #[allow(unused_mut)]\n        let mut rest = input;").unwrap();
    for f in &st.fields {
        let regular = regular_versions(f).cond("v", cx.valid);
        match regular.as_str() {
            "false" => {}
            "true" => writeln!(out, "        {}", read_value(f, cx, "rest", "rest")).unwrap(),
            _ => writeln!(
                out,
                "        if {regular} {{ {} }}",
                read_value(f, cx, "rest", "rest")
            )
            .unwrap(),
        }
    }
    if flexible {
        writeln!(out, "        if flex {{").unwrap();
        writeln!(out, "            let (r, unknown) = tagged_fields(rest, cx, |tag, data| {{\n                let _ = data;\n                match tag {{").unwrap();
        for f in st.fields.iter().filter(|f| f.tag.is_some()) {
            let cond = f.tagged.intersect(f.versions).cond("v", cx.valid);
            writeln!(
                out,
                "                    {} if {cond} => {{ let flex = true; let _ = flex; #[allow(unused_assignments, unused_variables)] let mut _r: &[u8] = data; {} Ok(this.{} != {}) }}",
                f.tag.unwrap(),
                read_value(f, cx, "data", "_r"),
                snake(&f.name),
                default_expr(f)
            )
            .unwrap();
        }
        writeln!(out, "                    _ => Ok(false),\n                }}\n            }})?;\n            rest = r;\n            this.unknown_tagged_fields = unknown;\n        }}").unwrap();
    }
    writeln!(out, "        Ok((rest, this))\n    }}\n}}\n").unwrap();

    // Property-test strategy producing values valid at one version.
    writeln!(out, "#[cfg(test)]\nimpl {} {{", st.name).unwrap();
    writeln!(out, "    /// Values of this struct that are representable at version `v`.\n    pub(crate) fn strategy(v: i16) -> BoxedStrategy<Self> {{").unwrap();
    writeln!(out, "        let _ = v;").unwrap();
    let mut parts: Vec<(String, String)> = st
        .fields
        .iter()
        .map(|f| (snake(&f.name), strategy(f, cx)))
        .collect();
    if flexible {
        parts.push((
            "unknown_tagged_fields".into(),
            format!("if v >= {} {{ crate::codec::test_support::unknown_tagged_fields() }} else {{ Just(Vec::new()).boxed() }}", cx.first_flexible),
        ));
    }
    if parts.is_empty() {
        writeln!(out, "        Just(Self::default()).boxed()\n    }}\n}}\n").unwrap();
        return;
    }
    let groups: Vec<&[(String, String)]> = parts.chunks(10).collect();
    let mut strat = String::from("(");
    let mut pat = String::from("(");
    for g in &groups {
        strat.push('(');
        pat.push('(');
        for (n, s) in g.iter() {
            write!(strat, "{s}, ").unwrap();
            // A raw identifier (`r#match`) is a valid binding as it is; stripping the `r#`
            // would leave a keyword.
            write!(pat, "{n}, ").unwrap();
        }
        strat.push_str("), ");
        pat.push_str("), ");
    }
    strat.push(')');
    pat.push(')');
    let fields: Vec<String> = parts.iter().map(|(n, _)| n.clone()).collect();
    writeln!(
        out,
        "        {strat}.prop_map(|{pat}| {} {{ {} }}).boxed()\n    }}\n}}\n",
        st.name,
        fields.join(", ")
    )
    .unwrap();
}
