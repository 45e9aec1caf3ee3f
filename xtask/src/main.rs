//! Project tools, run as `cargo xtask <command>` (the alias is in .cargo/config.toml).
//!
//! `new-resource` writes an owner-scoped resource through every layer, with its tests and
//! its README rows, and adds it to the workspace's list of resources. docs/extending.md
//! walks through what it writes.

mod plan;
mod render;
mod spec;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask new-resource <plural> <field>... [--singular <word>] [--dry-run]

  <field>    name:type[:min..=max][=default][?]
             type: text (a character range, default 0..=1000), int (default the i32
             range), bool, datetime (RFC 3339); `?` makes it optional (null)
  --singular the singular, when dropping the plural's `s` is wrong (`movies --singular movie`)
  --dry-run  list what would be written and changed, and write nothing

example: cargo xtask new-resource notes body:text:1..=10000 pinned:bool=false due:datetime?";

/// The workspace the command runs in: the nearest folder up from the current one that
/// holds the list of resources (`cargo xtask` runs in the folder it is called from).
fn workspace_root() -> Result<PathBuf, String> {
    let here = std::env::current_dir().map_err(|e| format!("current folder: {e}"))?;
    here.ancestors()
        .find(|dir| dir.join(plan::LIST).is_file() && dir.join("Cargo.toml").is_file())
        .map(Path::to_path_buf)
        .ok_or_else(|| {
            format!(
                "no {} above {}: run this inside strata's workspace",
                plan::LIST,
                here.display()
            )
        })
}

/// Runs the command line `args` in the workspace at `root`; the error is one line.
pub fn run(root: &Path, args: &[String]) -> Result<String, String> {
    let (command, rest) = args.split_first().ok_or(USAGE)?;
    if ["help", "--help", "-h"].contains(&command.as_str()) {
        return Ok(format!("{USAGE}\n"));
    }
    if command != "new-resource" {
        return Err(USAGE.to_owned());
    }
    let mut dry_run = false;
    let mut singular = None;
    let mut words = Vec::new();
    let mut rest = rest.iter();
    while let Some(word) = rest.next() {
        match word.as_str() {
            "--dry-run" => dry_run = true,
            "--singular" => singular = Some(rest.next().ok_or("--singular needs a word")?),
            w if w.starts_with('-') => return Err(format!("unknown option `{w}`; try --help")),
            w => words.push(w),
        }
    }
    let (name, fields) = words.split_first().ok_or(USAGE)?;
    let fields = fields
        .iter()
        .map(|w| spec::field(w).map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    let existing = plan::existing(root)?;
    let resource = spec::resource(name, singular.map(String::as_str), fields, &existing)
        .map_err(|e| e.to_string())?;
    let plan = plan::plan(root, &resource)?;
    let mut report = format!(
        "resource /api/{}: a row is a `{}`, types `{}…` (give --singular if that is wrong)\n",
        resource.plural, resource.singular, resource.camel
    );
    for (path, _) in &plan.writes {
        report += &format!("write  {}\n", path.display());
    }
    for (path, _) in &plan.edits {
        report += &format!("change {}\n", path.display());
    }
    if dry_run {
        return Ok(format!("{report}(dry run: nothing written)\n"));
    }
    plan.apply(root)?;
    Ok(format!(
        "{report}\n/api/{t} is ready: `make lint` and `make test` check it on every backend; \
         docs/extending.md says how to change it by hand.\n",
        t = resource.plural
    ))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match workspace_root().and_then(|root| run(&root, &args)) {
        Ok(report) => {
            print!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::fs;

    use super::*;

    /// A throwaway folder with what the command reads: the list, the README and one
    /// migration.
    fn skeleton(name: &str) -> PathBuf {
        let root = std::env::temp_dir().join(format!("xtask-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        let real = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        for file in [plan::LIST, "README.md"] {
            let text = fs::read_to_string(real.join(file)).unwrap_or_default();
            fs::create_dir_all(&root).ok();
            fs::write(root.join(file), text).ok();
        }
        let first = root.join("migrations/postgres/2026-11-28-000001_create_users");
        fs::create_dir_all(&first).ok();
        fs::write(first.join("up.sql"), "").ok();
        fs::create_dir_all(root.join("crates/models/src")).ok();
        // rustfmt follows the services tests' `mod common;`.
        fs::create_dir_all(root.join("crates/services/tests/common")).ok();
        fs::write(
            root.join("crates/services/tests/common/mod.rs"),
            "//! The fixture.\n",
        )
        .ok();
        root
    }

    /// Every file under `root` and its text.
    fn tree(root: &Path) -> BTreeMap<PathBuf, String> {
        let mut out = BTreeMap::new();
        let mut dirs = vec![root.to_path_buf()];
        while let Some(dir) = dirs.pop() {
            for entry in fs::read_dir(&dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    dirs.push(path);
                } else {
                    out.insert(path.clone(), fs::read_to_string(&path).unwrap_or_default());
                }
            }
        }
        out
    }

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn a_clash_a_bad_field_or_a_dry_run_writes_nothing() {
        let root = skeleton("refusals");
        fs::write(
            root.join("crates/models/src/notes.rs"),
            "// a team's own file",
        )
        .ok();
        let before = tree(&root);
        for (line, says) in [
            ("new-resource notes body:string", "unknown type `string`"),
            ("new-resource notes body:text:9..=1", "not a range"),
            ("new-resource tasks body:text", "clashes"),
            ("new-resource type body:text", "Rust keyword"),
            ("new-resource select body:text", "SQL keyword"),
            ("new-resource notes body:text", "exists already"),
            ("new-resource notes", "at least one field"),
        ] {
            let refused = run(&root, &args(line));
            assert!(
                refused
                    .as_ref()
                    .is_err_and(|e| e.contains(says) && !e.contains('\n')),
                "{line}: {refused:?}"
            );
            assert_eq!(tree(&root), before, "{line} wrote something");
        }
        let dry = run(&root, &args("new-resource memos body:text --dry-run"));
        assert!(
            dry.as_ref()
                .is_ok_and(|r| r.contains("write  crates/domain/src/memos.rs")),
            "{dry:?}"
        );
        assert_eq!(tree(&root), before, "a dry run wrote something");
        let _ = fs::remove_dir_all(&root);
    }

    #[test]
    fn a_resource_writes_every_layer_and_registers_once() {
        let root = skeleton("writes");
        let before = tree(&root);
        let done = run(
            &root,
            &args("new-resource memos body:text:1..=50 flagged:bool=false"),
        );
        assert!(done.is_ok(), "{done:?}");
        let after = tree(&root);
        let changed: Vec<&PathBuf> = before
            .iter()
            .filter(|(p, text)| after.get(*p) != Some(text))
            .map(|(p, _)| p)
            .collect();
        assert_eq!(changed, [&root.join("README.md"), &root.join(plan::LIST)]);
        let list = &after[&root.join(plan::LIST)];
        assert!(list.contains("            memos: MemoService,\n"), "{list}");
        let new = after.len() - before.len();
        assert_eq!(new, 14, "six SQL files, five layers, three test files");
        assert!(
            run(&root, &args("new-resource memos body:text")).is_err(),
            "twice"
        );
        let _ = fs::remove_dir_all(&root);
    }
}
