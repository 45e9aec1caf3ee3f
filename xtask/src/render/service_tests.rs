//! `crates/services/tests/<plural>.rs`: the service's rules over real repositories.

use crate::spec::{Field, Kind, Resource};

/// A valid wire value of `f` as Rust source (`which` 0 or 1), for an input struct.
fn wire(f: &Field, which: usize) -> String {
    let v = f.sample_json(which);
    match f.kind {
        Kind::Text { .. } | Kind::DateTime => format!("{v}.to_owned()"),
        Kind::Int { .. } => format!("{v}_i64"),
        Kind::Bool => v,
    }
}

/// A wire value just out of `f`'s limits, as Rust source.
fn too_far(f: &Field) -> Option<String> {
    match &f.kind {
        Kind::Text { max, .. } => Some(format!("\"x\".repeat({})", max + 1)),
        Kind::Int { max, .. } if *max < i64::MAX => Some(format!("{}_i64", max + 1)),
        Kind::Int { min, .. } if *min > i64::MIN => Some(format!("{}_i64", min - 1)),
        Kind::Int { .. } | Kind::Bool => None,
        Kind::DateTime => Some("\"not a time\".to_owned()".to_owned()),
    }
}

pub fn render(r: &Resource) -> String {
    let (t, s, c) = (&r.plural, &r.singular, &r.camel);
    let input = |which: usize| -> String {
        let fields: String = r
            .fields
            .iter()
            .map(|f| {
                let v = wire(f, which);
                let v = if f.required() {
                    v
                } else {
                    format!("Some({v})")
                };
                format!("        {}: {v},\n", f.name)
            })
            .collect();
        format!("New{c}Input {{\n{fields}    }}")
    };
    let mut minimal: String = r
        .required()
        .map(|f| format!("        {}: {},\n", f.name, wire(f, 0)))
        .collect();
    if r.fields.iter().any(|f| !f.required()) {
        minimal += "        ..Default::default()\n";
    }
    let bad: Vec<(&Field, String)> = r
        .fields
        .iter()
        .filter_map(|f| too_far(f).map(|v| (f, v)))
        .collect();
    let bad_fields: String = r
        .fields
        .iter()
        .map(|f| {
            let v = match bad.iter().find(|(b, _)| b.name == f.name) {
                Some((_, v)) => v.clone(),
                None => wire(f, 0),
            };
            let v = if f.required() {
                v
            } else {
                format!("Some({v})")
            };
            format!("        {}: {v},\n", f.name)
        })
        .collect();
    let bad_names = bad
        .iter()
        .map(|(f, _)| format!("{:?}", f.name))
        .collect::<Vec<_>>()
        .join(", ");
    let refused = if bad.is_empty() {
        String::new()
    } else {
        format!(
            r#"
#[tokio::test]
async fn every_field_out_of_its_limits_is_refused_at_once_and_nothing_is_stored() {{
    let fx = init().await;
    let (_, _, who) = fx.someone().await;
    let input = New{c}Input {{
{bad_fields}    }};
    assert_eq!(fields(service(&fx).create(&who, input).await), [{bad_names}]);
    assert!(service(&fx).list(&who, Default::default()).await.unwrap().items.is_empty());
    fx.cleanup();
}}
"#
        )
    };
    let patches: String = r
        .fields
        .iter()
        .map(|f| {
            let n = &f.name;
            let v = wire(f, 1);
            let v = if f.optional { format!("Some(Some({v}))") } else { format!("Some({v})") };
            let clone = if matches!(f.kind, Kind::Text { .. }) { ".clone()" } else { "" };
            let rest = if r.fields.len() > 1 { ", ..Default::default()" } else { "" };
            format!(
                "    let patch = {c}PatchInput {{ {n}: {v}{rest} }};\n    \
                 let after = {t}.update(&who, &made.id, patch).await.unwrap();\n    \
                 assert_eq!({c} {{ {n}: after.{n}{clone}, updated_at: after.updated_at, ..made.clone() }}, after, \"only {n} changed\");\n    \
                 let made = after;\n"
            )
        })
        .collect();
    let flag_test: String = r
        .flags()
        .map(|f| {
            format!(
                r#"
#[tokio::test]
async fn list_filters_by_{n}() {{
    let fx = init().await;
    let (_, _, who) = fx.someone().await;
    for on in [true, false, true] {{
        let input = New{c}Input {{ {n}: {val}{rest} }};
        service(&fx).create(&who, input).await.unwrap();
    }}
    let only = |v: &str| {c}ListInput {{ {n}: Some(v.to_owned()), ..Default::default() }};
    let on = service(&fx).list(&who, only("true")).await.unwrap().items;
    let off = service(&fx).list(&who, only("false")).await.unwrap().items;
    assert_eq!((on.len(), off.len()), (2, 1));
    assert!(on.iter().all(|x| {want}));
    assert_eq!(fields(service(&fx).list(&who, only("yes")).await), [{n:?}]);
    fx.cleanup();
}}
"#,
                n = f.name,
                val = if f.required() {
                    "on".to_owned()
                } else {
                    "Some(on)".to_owned()
                },
                want = if f.optional {
                    format!("x.{} == Some(true)", f.name)
                } else {
                    format!("x.{}", f.name)
                },
                rest = if r.fields.len() > 1 {
                    ", ..minimal()"
                } else {
                    ""
                },
            )
        })
        .collect();
    format!(
        r#"//! {c}Service over real repositories (written by `cargo xtask new-resource`): owner-scoped
//! create/get/update/delete, the list's pages and filters, and input validation.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{{fields, init, Fixture}};
use services::{t}::{{{c}, {c}ListInput, {c}PatchInput, {c}Service, New{c}Input}};
use services::ServiceError;

fn service(fx: &Fixture) -> &{c}Service {{
    &fx.services.resources.{t}
}}

/// An input with every field.
fn full(which: usize) -> New{c}Input {{
    match which {{
        0 => {full0},
        _ => {full1},
    }}
}}

/// An input with only the fields a create needs.
fn minimal() -> New{c}Input {{
    New{c}Input {{
{minimal}    }}
}}

#[tokio::test]
async fn create_then_get_returns_the_{s}() {{
    let fx = init().await;
    let (_, _, who) = fx.someone().await;
    let made = service(&fx).create(&who, full(0)).await.unwrap();
    assert_eq!(service(&fx).get(&who, &made.id).await.unwrap(), made);
    let bare = service(&fx).create(&who, minimal()).await.unwrap();
    assert_ne!(bare.id, made.id);
    fx.cleanup();
}}
{refused}
#[tokio::test]
async fn update_changes_only_the_given_field() {{
    let fx = init().await;
    let (_, _, who) = fx.someone().await;
    let {t} = service(&fx);
    let made = {t}.create(&who, full(0)).await.unwrap();
{patches}    let same = {t}.update(&who, &made.id, Default::default()).await.unwrap();
    assert_eq!(same, made, "an empty patch changes nothing");
    fx.cleanup();
}}

#[tokio::test]
async fn another_users_{s}_is_not_found_like_a_missing_one() {{
    let fx = init().await;
    let (_, _, owner) = fx.someone().await;
    let (_, _, intruder) = fx.someone().await;
    let made = service(&fx).create(&owner, full(0)).await.unwrap();
    for id in [made.id.as_str(), "0193a1b2-7c3d-7e4f-8a5b-6c7d8e9fa0b1", "not-an-id"] {{
        let s = service(&fx);
        assert!(matches!(s.get(&intruder, id).await, Err(ServiceError::NotFound)));
        assert!(matches!(s.update(&intruder, id, {c}PatchInput::default()).await, Err(ServiceError::NotFound)));
        assert!(matches!(s.delete(&intruder, id).await, Err(ServiceError::NotFound)));
    }}
    assert_eq!(service(&fx).get(&owner, &made.id).await.unwrap(), made);
    fx.cleanup();
}}

#[tokio::test]
async fn list_pages_through_every_{s}_once_in_order() {{
    let fx = init().await;
    let (_, _, who) = fx.someone().await;
    let mut made = Vec::new();
    for _ in 0..5 {{
        made.push(service(&fx).create(&who, minimal()).await.unwrap().id);
    }}
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {{
        let input = {c}ListInput {{ limit: Some("2".into()), cursor: cursor.clone(){list_rest} }};
        let page = service(&fx).list(&who, input).await.unwrap();
        seen.extend(page.items.into_iter().map(|x| x.id));
        match page.next_cursor {{
            Some(next) => cursor = Some(next),
            None => break,
        }}
    }}
    assert_eq!(seen, made);
    let bad = {c}ListInput {{ limit: Some("0".into()), cursor: Some("nope".into()){list_rest} }};
    assert_eq!(fields(service(&fx).list(&who, bad).await), ["limit", "cursor"]);
    fx.cleanup();
}}
{flag_test}
#[tokio::test]
async fn delete_then_get_is_not_found() {{
    let fx = init().await;
    let (_, _, who) = fx.someone().await;
    let made = service(&fx).create(&who, minimal()).await.unwrap();
    service(&fx).delete(&who, &made.id).await.unwrap();
    assert!(matches!(service(&fx).get(&who, &made.id).await, Err(ServiceError::NotFound)));
    fx.cleanup();
}}
"#,
        full0 = input(0),
        full1 = input(1),
        list_rest = if r.flags().next().is_some() {
            ", ..Default::default()"
        } else {
            ""
        },
    )
}
