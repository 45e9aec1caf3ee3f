//! What a new resource writes and which shared files it changes: worked out in full, and
//! checked, before anything is written.

use std::fs;
use std::path::{Path, PathBuf};

use crate::render;
use crate::spec::Resource;

/// The list every crate expands (see the file itself).
pub const LIST: &str = "resources.rs";
/// The line the list's entries go above.
const LIST_END: &str = "        }";
/// The README row the resource's rows go above.
const README_ANCHOR: &str = "| GET /verify-email";

/// New files and the new text of changed ones.
#[derive(Debug, Default)]
pub struct Plan {
    pub writes: Vec<(PathBuf, String)>,
    pub edits: Vec<(PathBuf, String)>,
}

/// The resources already in the list.
pub fn existing(root: &Path) -> Result<Vec<String>, String> {
    let list = read(root, LIST)?;
    Ok(list
        .lines()
        .filter_map(|l| l.trim().strip_suffix(',')?.split_once(':'))
        .map(|(name, _)| name.trim().to_owned())
        .filter(|name| name.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
        .collect())
}

fn read(root: &Path, path: &str) -> Result<String, String> {
    fs::read_to_string(root.join(path)).map_err(|e| format!("cannot read {path}: {e}"))
}

/// The next migration's folder name: the newest one's number plus one, dated today (or
/// the newest one's date, if that is later).
fn migration(root: &Path, r: &Resource) -> Result<String, String> {
    let dir = root.join("migrations/postgres");
    let newest = fs::read_dir(&dir)
        .map_err(|e| format!("cannot list {}: {e}", dir.display()))?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .max()
        .ok_or("migrations/postgres holds no migration")?;
    // `2026-12-01-000005_add_password_version`
    let (date, number) = newest
        .get(..17)
        .map(|v| v.split_at(11))
        .ok_or_else(|| format!("cannot read the migration name `{newest}`"))?;
    let number: u32 = number
        .parse()
        .map_err(|_| format!("cannot read the number of `{newest}`"))?;
    let today = chrono::Utc::now().format("%Y-%m-%d-").to_string();
    let date = today.as_str().max(date);
    Ok(format!("{date}{:06}_create_{}", number + 1, r.plural))
}

/// Works out every file; refuses if one of the new ones exists already.
pub fn plan(root: &Path, r: &Resource) -> Result<Plan, String> {
    let t = &r.plural;
    let folder = migration(root, r)?;
    let mut writes = Vec::new();
    for backend in render::sql::BACKENDS {
        let dir = format!("migrations/{backend}/{folder}");
        writes.push((format!("{dir}/up.sql"), render::sql::up(backend, r)));
        writes.push((format!("{dir}/down.sql"), render::sql::down(r)));
    }
    writes.extend([
        (
            format!("crates/models/src/{t}.rs"),
            render::models::render(r),
        ),
        (
            format!("crates/domain/src/{t}.rs"),
            render::domain::render(r),
        ),
        (format!("crates/repos/src/{t}.rs"), render::repos::render(r)),
        (
            format!("crates/services/src/{t}.rs"),
            render::services::render(r),
        ),
        (
            format!("crates/api/src/routes/{t}.rs"),
            render::routes::render(r),
        ),
        (
            format!("crates/repos/tests/repos/{t}.rs"),
            render::repo_tests::render(r),
        ),
        (
            format!("crates/services/tests/{t}.rs"),
            render::service_tests::render(r),
        ),
        (format!("tests/e2e/{t}.rs"), render::e2e_tests::render(r)),
    ]);
    for (path, _) in &writes {
        if root.join(path).exists() {
            return Err(format!(
                "{path} exists already: `{t}` clashes with what is there"
            ));
        }
    }

    let list = read(root, LIST)?;
    let entry = format!("            {t}: {}Service,\n", r.camel);
    let at = list
        .find(&format!("\n{LIST_END}\n"))
        .ok_or(format!("{LIST}: cannot find the end of the list"))?;
    let list = format!("{}\n{entry}{}", &list[..at], &list[at + 1..]);

    let readme = read(root, "README.md")?;
    let rows = render::readme::rows(r);
    let readme = match readme.find(&format!("\n{README_ANCHOR}")) {
        Some(at) => format!("{}\n{rows}{}", &readme[..at], &readme[at + 1..]),
        None => format!(
            "{readme}\n## /api/{t}\n\n| method and path | auth | success | notable errors |\n|---|---|---|---|\n{rows}"
        ),
    };
    Ok(Plan {
        writes: writes
            .into_iter()
            .map(|(p, s)| (PathBuf::from(p), s))
            .collect(),
        edits: vec![
            (PathBuf::from(LIST), list),
            (PathBuf::from("README.md"), readme),
        ],
    })
}

impl Plan {
    /// Writes the new files, then the changed ones, then formats the Rust with rustfmt.
    pub fn apply(&self, root: &Path) -> Result<(), String> {
        for (path, text) in self.writes.iter().chain(&self.edits) {
            let full = root.join(path);
            if let Some(dir) = full.parent() {
                fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
            }
            fs::write(&full, text).map_err(|e| format!("writing {}: {e}", path.display()))?;
        }
        let rust: Vec<PathBuf> = self
            .writes
            .iter()
            .filter(|(p, _)| p.extension().is_some_and(|e| e == "rs"))
            .map(|(p, _)| root.join(p))
            .collect();
        let status = std::process::Command::new("rustfmt")
            .args(["--edition", "2021"])
            .args(&rust)
            .status()
            .map_err(|e| format!("running rustfmt: {e}"))?;
        if !status.success() {
            return Err("rustfmt failed on the written files".to_owned());
        }
        Ok(())
    }
}
