//! Every public item of the crate carries a doc example (a fenced code block, which rustdoc
//! compiles and runs): this walks the crate's own sources and names the items that lack one.

use std::path::{Path, PathBuf};

/// The kinds of `pub` item this check covers (`pub(crate)` items are not public).
const KINDS: &[&str] = &[
    "fn ",
    "const fn ",
    "struct ",
    "enum ",
    "trait ",
    "type ",
    "const ",
    "static ",
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `file:line: item` for every public item of `src` whose doc comment has no code block.
fn missing_examples(src: &str, file: &str) -> Vec<String> {
    let lines: Vec<&str> = src.lines().collect();
    let mut missing = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim_start();
        // The unit tests at the end of a file are not API.
        if t.starts_with("#[cfg(test)]")
            && lines.get(i + 1).is_some_and(|n| n.contains("mod tests"))
        {
            break;
        }
        let Some(rest) = t.strip_prefix("pub ") else {
            continue;
        };
        if !KINDS.iter().any(|k| rest.starts_with(k)) || rest.contains("$") {
            continue; // not an item, or a macro's template (checked where the macro is used)
        }
        let mut j = i;
        let mut has_example = false;
        let mut in_test_impl = false;
        while j > 0 {
            j -= 1;
            let above = lines[j].trim_start();
            if above.starts_with("///") || above.starts_with("#[doc") {
                has_example |= above.contains("```");
            } else if above.starts_with("#[") {
                in_test_impl |= above.starts_with("#[cfg(test)]");
            } else {
                break;
            }
        }
        if !has_example && !in_test_impl {
            missing.push(format!(
                "{file}:{}: {}",
                i + 1,
                rest.trim_end_matches('{').trim()
            ));
        }
    }
    missing
}

#[test]
fn every_public_item_has_an_example() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    files.sort();
    assert!(files.len() > 20, "found the sources");
    let mut missing = Vec::new();
    let mut items = 0;
    for f in &files {
        let src = std::fs::read_to_string(f).expect("read source");
        let name = f.strip_prefix(&root).unwrap().display().to_string();
        items += src
            .lines()
            .filter(|l| l.trim_start().starts_with("pub "))
            .count();
        // `off` holds crate-private offsets inside a `pub(crate) mod`.
        missing.extend(missing_examples(&src, &name).into_iter().filter(|m| {
            !(name.ends_with("record/header.rs") && m.contains("const ") && m.contains(": usize"))
        }));
    }
    assert!(items > 300, "saw the public items ({items})");
    assert!(
        missing.is_empty(),
        "public items without an example:\n{}",
        missing.join("\n")
    );
}

#[test]
fn the_check_finds_a_missing_example() {
    let src = "/// Documented.\n///\n/// ```\n/// assert!(true);\n/// ```\npub fn good() {}\n\n/// No example.\n#[inline]\npub fn bad() {}\npub(crate) fn private() {}\n";
    assert_eq!(missing_examples(src, "x.rs"), ["x.rs:10: fn bad() {}"]);
}
