//! The migration, for each backend: the table, owned by a user (deleted with them), and the
//! index keyset pages read.

use crate::spec::{Field, Kind, Resource};

/// The three backends' migration folders.
pub const BACKENDS: [&str; 3] = ["postgres", "mysql", "sqlite"];

fn column(backend: &str, f: &Field) -> String {
    let ty = match (&f.kind, backend) {
        (Kind::Text { .. }, "sqlite") => "TEXT".to_owned(),
        (Kind::Text { max, .. }, "postgres") if *max <= 10_485_760 => format!("VARCHAR({max})"),
        (Kind::Text { .. }, "postgres") => "TEXT".to_owned(),
        // MySQL counts every VARCHAR's bytes (4 per character in utf8mb4) against one
        // 65,535-byte row: longer text goes off-row as TEXT.
        (Kind::Text { max, .. }, _) if *max <= 255 => format!("VARCHAR({max})"),
        (Kind::Text { max, .. }, _) if *max <= 16_383 => "TEXT".to_owned(),
        (Kind::Text { max, .. }, _) if *max <= 4_194_303 => "MEDIUMTEXT".to_owned(),
        (Kind::Text { .. }, _) => "LONGTEXT".to_owned(),
        (Kind::Int { .. }, _) => "BIGINT".to_owned(),
        (Kind::Bool, _) => "BOOLEAN".to_owned(),
        (Kind::DateTime, "mysql") => "DATETIME(6)".to_owned(),
        (Kind::DateTime, _) => "TIMESTAMP".to_owned(),
    };
    let null = if f.optional { "NULL" } else { "NOT NULL" };
    let default = match (&f.kind, &f.default) {
        (Kind::Bool | Kind::Int { .. }, Some(d)) => format!(" DEFAULT {}", d.to_uppercase()),
        _ => String::new(),
    };
    format!("{ty} {null}{default}")
}

/// `name` quoted for `backend`, so a word one database reserves (MariaDB's `read`, `long`,
/// `condition`, …) still names a column.
fn quoted(backend: &str, name: &str) -> String {
    if backend == "mysql" {
        format!("`{name}`")
    } else {
        format!("\"{name}\"")
    }
}

/// `up.sql` for `backend`.
pub fn up(backend: &str, r: &Resource) -> String {
    let (plain, t) = (&r.plural, &quoted(backend, &r.plural));
    let (id, time) = match backend {
        "postgres" => ("VARCHAR(36) COLLATE \"C\" NOT NULL", "TIMESTAMP NOT NULL"),
        "mysql" => (
            "CHAR(36) CHARACTER SET ascii COLLATE ascii_bin NOT NULL",
            "DATETIME(6) NOT NULL",
        ),
        _ => ("TEXT NOT NULL", "TIMESTAMP NOT NULL"),
    };
    let width = r
        .fields
        .iter()
        .map(|f| f.name.len())
        .chain([10])
        .max()
        .unwrap_or(10);
    let width = width + 2;
    let line = |name: &str, def: &str| format!("    {:<width$} {def},\n", quoted(backend, name));
    let mut s = format!(
        "-- The `{plain}` of `cargo xtask new-resource`: owned by a user, deleted with them.\n\
         CREATE TABLE {t} (\n"
    );
    s += &line("id", &format!("{id} PRIMARY KEY"));
    if backend == "sqlite" {
        s += &line(
            "user_id",
            &format!(
                "{id} CONSTRAINT {plain}_user_id_fkey REFERENCES users (id) ON DELETE CASCADE"
            ),
        );
    } else {
        s += &line("user_id", id);
    }
    for f in &r.fields {
        s += &line(&f.name, &column(backend, f));
    }
    s += &line("created_at", time);
    let index = format!("{plain}_user_id_id_idx");
    let keyset = "-- Keyset pages of one user's rows: WHERE user_id = ? AND id > ? ORDER BY id.";
    match backend {
        "postgres" => {
            s += &line("updated_at", time);
            s += &format!(
                "    CONSTRAINT {plain}_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE\n);\n\
                 {keyset}\nCREATE INDEX {index} ON {t} (user_id, id);\n"
            );
        }
        "mysql" => {
            s += &line("updated_at", time);
            s += &format!(
                "    CONSTRAINT {plain}_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,\n    \
                 {keyset}\n    INDEX {index} (user_id, id)\n\
                 ) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;\n"
            );
        }
        _ => {
            s += &format!("    {:<width$} {time}\n);\n", quoted(backend, "updated_at"));
            s += &format!("{keyset}\nCREATE INDEX {index} ON {t} (user_id, id);\n");
        }
    }
    s
}

/// `down.sql`.
pub fn down(r: &Resource) -> String {
    format!("DROP TABLE {};\n", r.plural)
}
