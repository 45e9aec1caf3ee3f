//! `crates/repos/tests/repos/<plural>.rs`: the queries on every backend.

use crate::spec::{Field, Kind, Resource};

/// A checked value of `f` as Rust source (`which` 0 or 1).
fn value(r: &Resource, f: &Field, which: usize) -> String {
    let v = f.sample_json(which);
    let v = match f.kind {
        Kind::Text { .. } | Kind::Int { .. } => {
            format!("{}::parse({v}).unwrap()", f.domain_type(r))
        }
        Kind::DateTime => format!("Instant::parse({:?}, {v}).unwrap()", f.name),
        Kind::Bool => v,
    };
    if f.optional {
        format!("Some({v})")
    } else {
        v
    }
}

pub fn render(r: &Resource) -> String {
    let (t, s, c) = (&r.plural, &r.singular, &r.camel);
    let new = |which: usize| -> String {
        let fields: String = r
            .fields
            .iter()
            .map(|f| format!("        {}: {},\n", f.name, value(r, f, which)))
            .collect();
        format!("New{c} {{\n{fields}    }}")
    };
    let stored: String = r
        .fields
        .iter()
        .map(|f| {
            let n = &f.name;
            let col = if f.kind == Kind::Bool {
                format!("new.{n}")
            } else if f.optional {
                format!("new.{n}.as_ref().map(|v| {})", f.to_column("v"))
            } else {
                f.to_column(&format!("new.{n}"))
            };
            format!("    assert_eq!(row.{n}, {col});\n")
        })
        .collect();
    let flag_filters: String = r.flags().map(|f| format!("{}: None,\n", f.name)).collect();
    let flag_cases: String = r
        .flags()
        .map(|f| {
            let n = &f.name;
            let set = if f.optional { "Some(on)" } else { "on" };
            let rest = if r.fields.len() > 1 { ", ..new(0)" } else { "" };
            format!(
                r#"
fn listing_{t}_filters_by_{n}(c: Ctx) {{
    c.block_on(async {{
        let u = c.fresh_user().await;
        let rows = repo(&c);
        for on in [true, false, true] {{
            rows.create(&u.id, &New{c} {{ {n}: {set}{rest} }}).await.unwrap();
        }}
        let only = |v: bool| {c}Query {{ {n}: Some(v), ..query(&u.id, 10) }};
        assert_eq!(rows.list(only(true)).await.unwrap().items.len(), 2);
        assert_eq!(rows.list(only(false)).await.unwrap().items.len(), 1);
    }})
}}
"#
            )
        })
        .collect();
    let flag_names: String = r
        .flags()
        .map(|f| format!("    listing_{t}_filters_by_{},\n", f.name))
        .collect();
    let first_field = &r.fields[0];
    let first = first_field.name.clone();
    let patch = {
        let rest = if r.fields.len() > 1 {
            ", ..Default::default()"
        } else {
            ""
        };
        format!(
            "{c}Patch {{ {first}: Some({}){rest} }}",
            value(r, first_field, 1)
        )
    };
    let clone = if matches!(first_field.kind, Kind::Text { .. }) {
        ".clone()"
    } else {
        ""
    };
    let mut domain_uses = vec![format!("New{c}"), format!("{c}Patch")];
    domain_uses.extend(
        r.fields
            .iter()
            .filter(|f| matches!(f.kind, Kind::Text { .. } | Kind::Int { .. }))
            .map(|f| f.domain_type(r)),
    );
    domain_uses.sort();
    let instant = if r.has_time() {
        "use domain::Instant;\n"
    } else {
        ""
    };
    format!(
        r#"//! `{c}Repo` on every backend (written by `cargo xtask new-resource`).

use domain::{t}::{{{domain_uses}}};
{instant}use repos::{t}::{{{c}Query, {c}Record, {c}Repo}};
use repos::RepoError;

use crate::Ctx;

pub(crate) const CASES: &[crate::Case] = testkit::cases![
    {a}_reads_back_as_stored,
    another_users_{s}_is_not_found_for_get_update_delete,
    {t}_page_by_keyset_without_gaps_or_repeats,
{flag_names}    updating_{a}_changes_only_the_given_fields,
    a_{s}_for_a_missing_user_finds_its_owner_gone,
    deleting_the_user_deletes_their_{t},
];

fn repo(c: &Ctx) -> {c}Repo {{
    {c}Repo::new(c.database.clone())
}}

/// A new {s} with every field; `which` 0 and 1 differ where the limits allow.
fn new(which: usize) -> New{c} {{
    match which {{
        0 => {new0},
        _ => {new1},
    }}
}}

fn query(user_id: &str, limit: u32) -> {c}Query {{
    {c}Query {{
        user_id: user_id.to_owned(),
        after: None,
        {flag_filters}limit,
    }}
}}

fn {a}_reads_back_as_stored(c: Ctx) {{
    c.block_on(async {{
        let u = c.fresh_user().await;
        let new = new(0);
        let row = repo(&c).create(&u.id, &new).await.unwrap();
        assert_eq!(row.user_id, u.id);
{stored}        assert_eq!(row.created_at, row.updated_at);
        assert_eq!(repo(&c).get(&u.id, &row.id).await.unwrap(), row);
    }})
}}

fn another_users_{s}_is_not_found_for_get_update_delete(c: Ctx) {{
    c.block_on(async {{
        let rows = repo(&c);
        let row = rows.create(&c.alice.id, &new(0)).await.unwrap();
        let bob = &c.bob.id;
        assert!(matches!(rows.get(bob, &row.id).await, Err(RepoError::NotFound)));
        assert!(matches!(rows.update(bob, &row.id, {patch}).await, Err(RepoError::NotFound)));
        assert!(matches!(rows.delete(bob, &row.id).await, Err(RepoError::NotFound)));
        assert_eq!(rows.get(&c.alice.id, &row.id).await.unwrap(), row, "untouched");
    }})
}}

fn {t}_page_by_keyset_without_gaps_or_repeats(c: Ctx) {{
    c.block_on(async {{
        let u = c.fresh_user().await;
        let rows = repo(&c);
        let mut made = Vec::new();
        for _ in 0..7 {{
            made.push(rows.create(&u.id, &new(0)).await.unwrap().id);
        }}
        let mut seen = Vec::new();
        let mut after = None;
        loop {{
            let page = rows.list({c}Query {{ after: after.clone(), ..query(&u.id, 3) }}).await.unwrap();
            seen.extend(page.items.into_iter().map(|row| row.id));
            match page.next_cursor {{
                Some(next) => after = Some(next),
                None => break,
            }}
        }}
        assert_eq!(seen, made);
    }})
}}
{flag_cases}
fn updating_{a}_changes_only_the_given_fields(c: Ctx) {{
    c.block_on(async {{
        let u = c.fresh_user().await;
        let rows = repo(&c);
        let row = rows.create(&u.id, &new(0)).await.unwrap();
        let after = rows.update(&u.id, &row.id, {patch}).await.unwrap();
        assert_eq!(
            {c}Record {{ {first}: after.{first}{clone}, updated_at: after.updated_at, ..row.clone() }},
            after
        );
        assert!(after.updated_at >= row.updated_at);
        let every = rows.update(&u.id, &row.id, every_field()).await.unwrap();
        assert_eq!(every.id, row.id);
    }})
}}

/// A patch of every field, to the values of `new(1)`.
fn every_field() -> {c}Patch {{
    let v = new(1);
    {c}Patch {{
{every}    }}
}}

fn a_{s}_for_a_missing_user_finds_its_owner_gone(c: Ctx) {{
    c.block_on(async {{
        let err = repo(&c).create("no-such-user", &new(0)).await.unwrap_err();
        assert!(matches!(err, RepoError::OwnerGone), "{{err:?}}");
    }})
}}

fn deleting_the_user_deletes_their_{t}(c: Ctx) {{
    c.block_on(async {{
        let u = c.fresh_user().await;
        repo(&c).create(&u.id, &new(0)).await.unwrap();
        assert_eq!(repo(&c).count(&u.id).await.unwrap(), 1);
        c.users.delete(&u.id, 0).await.unwrap();
        assert_eq!(repo(&c).count(&u.id).await.unwrap(), 0);
    }})
}}
"#,
        domain_uses = domain_uses.join(", "),
        a = r.a(),
        new0 = new(0),
        new1 = new(1),
        every = r
            .fields
            .iter()
            .map(|f| format!("        {n}: Some(v.{n}),\n", n = f.name))
            .collect::<String>(),
    )
}
