//! Facts about the workspace: where it is, how to call cargo, which crates and targets exist.
//!
//! The xtask grows with the workspace: instead of hard-coding which crates, benches or
//! binaries exist, it asks `cargo metadata` and says plainly what is not there yet.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

/// The workspace root (the parent of `xtask/`).
pub fn root() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.parent().map(PathBuf::from).unwrap_or(here)
}

/// The cargo target directory (honours `CARGO_TARGET_DIR`).
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                root().join(dir)
            }
        }
        None => root().join("target"),
    }
}

/// A `cargo` command (the same cargo that runs the xtask) started in the workspace root.
pub fn cargo() -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root());
    cmd
}

/// One target of a package (lib, bin, test, bench, example).
#[derive(Debug, Clone)]
pub struct Target {
    /// Target name.
    pub name: String,
    /// Kinds such as `lib`, `bin`, `test`, `bench`, `example`.
    pub kinds: Vec<String>,
}

/// One workspace member.
#[derive(Debug, Clone)]
pub struct Package {
    /// Package name, e.g. `klamm-protocol`.
    pub name: String,
    /// Its targets.
    pub targets: Vec<Target>,
}

impl Package {
    /// Whether the package has a target of `kind` named `name`.
    pub fn has(&self, kind: &str, name: &str) -> bool {
        self.targets
            .iter()
            .any(|t| t.name == name && t.kinds.iter().any(|k| k == kind))
    }

    /// Names of the targets of `kind`.
    pub fn targets_of(&self, kind: &str) -> Vec<String> {
        self.targets
            .iter()
            .filter(|t| t.kinds.iter().any(|k| k == kind))
            .map(|t| t.name.clone())
            .collect()
    }
}

/// The workspace members as `cargo metadata --no-deps` reports them.
pub fn members() -> Result<Vec<Package>> {
    let out = cargo()
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--offline",
        ])
        .output()
        .context("could not run `cargo metadata`")?;
    if !out.status.success() {
        bail!(
            "`cargo metadata` failed: {}\nfix the workspace's Cargo.toml files first",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    parse_metadata(&out.stdout)
}

fn parse_metadata(json: &[u8]) -> Result<Vec<Package>> {
    let v: serde_json::Value =
        serde_json::from_slice(json).context("`cargo metadata` printed something not JSON")?;
    let mut packages = Vec::new();
    for p in v["packages"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
        let name = p["name"].as_str().unwrap_or_default().to_string();
        let targets = p["targets"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or(&[])
            .iter()
            .map(|t| Target {
                name: t["name"].as_str().unwrap_or_default().to_string(),
                kinds: t["kind"]
                    .as_array()
                    .map(Vec::as_slice)
                    .unwrap_or(&[])
                    .iter()
                    .filter_map(|k| k.as_str().map(str::to_string))
                    .collect(),
            })
            .collect();
        packages.push(Package { name, targets });
    }
    Ok(packages)
}

/// Finds a member by name.
pub fn find<'a>(members: &'a [Package], name: &str) -> Option<&'a Package> {
    members.iter().find(|p| p.name == name)
}

/// The first non-empty line a tool prints about its version (`java -version` writes it to
/// stderr, `mvn -v` and `go version` to stdout; colour codes removed), or why the tool does
/// not run.
pub fn tool_version(program: &str, args: &[&str]) -> std::result::Result<String, String> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("`{program}` is not installed ({e})"))?;
    let text = [out.stdout, out.stderr].concat();
    let text = crate::ui::strip_ansi(&String::from_utf8_lossy(&text));
    let first = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .map(|l| l.trim().to_string())
        .unwrap_or_default();
    if out.status.success() {
        Ok(first)
    } else {
        Err(format!("`{program} {}` failed: {first}", args.join(" ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cargo_metadata() {
        let json = br#"{"packages":[{"name":"klamm-protocol","targets":[
            {"name":"klamm_protocol","kind":["lib"]},
            {"name":"record_batch","kind":["bench"]}]}]}"#;
        let members = parse_metadata(json).unwrap();
        let p = find(&members, "klamm-protocol").unwrap();
        assert!(p.has("bench", "record_batch"));
        assert!(!p.has("bench", "producer"));
        assert_eq!(p.targets_of("bench"), vec!["record_batch".to_string()]);
        assert!(find(&members, "klamm-pool").is_none());
    }

    #[test]
    fn root_holds_the_workspace_manifest() {
        assert!(root().join("Cargo.toml").is_file());
        assert!(root().join("xtask").is_dir());
    }
}
