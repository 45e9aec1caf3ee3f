//! `tests/e2e/<plural>.rs`: the routes over HTTP, on every backend.

use crate::spec::{Field, Resource};

/// `json!({ "a": 1, "b": 2 })` of `(field, json source)` pairs, a member a line when long
/// (rustfmt does not wrap inside a macro); `indent` is the line's own.
fn object(pairs: &[(String, String)], indent: &str) -> String {
    let inner: Vec<String> = pairs.iter().map(|(k, v)| format!("{k:?}: {v}")).collect();
    let one_line = format!("json!({{ {} }})", inner.join(", "));
    if one_line.len() + indent.len() <= 90 {
        return one_line;
    }
    let members: String = inner
        .iter()
        .map(|m| format!("{indent}    {m},\n"))
        .collect();
    format!("json!({{\n{members}{indent}}})")
}

fn all(r: &Resource, which: usize) -> String {
    object(
        &r.fields
            .iter()
            .map(|f| (f.name.clone(), f.sample_json(which)))
            .collect::<Vec<_>>(),
        "        ",
    )
}

fn minimal(r: &Resource) -> String {
    object(
        &r.required()
            .map(|f| (f.name.clone(), f.sample_json(0)))
            .collect::<Vec<_>>(),
        "    ",
    )
}

fn filter_case(r: &Resource, f: &Field) -> (String, String) {
    let (t, n) = (&r.plural, &f.name);
    let name = format!("listing_{t}_filters_by_{n}");
    let body = format!(
        r#"
fn {name}(ctx: &Ctx) {{
    let api = ctx.api();
    let (_, t) = api.user_with_session();
    let mut yes = Vec::new();
    let mut no = Vec::new();
    for i in 0..4 {{
        let mut body = minimal();
        body[{n:?}] = json!(i % 2 == 0);
        let made = str_of(&create(&api, &t.access, body), "id");
        if i % 2 == 0 {{ yes.push(made) }} else {{ no.push(made) }}
    }}
    assert_eq!(ids(&page(&api, &t.access, "?{n}=true")), yes);
    assert_eq!(ids(&page(&api, &t.access, "?{n}=false")), no);
    api.get("/api/{t}?{n}=maybe", Some(&t.access)).invalid({n:?});
}}
"#
    );
    (name, body)
}

pub fn render(r: &Resource) -> String {
    let (t, s, a) = (&r.plural, &r.singular, r.a());
    let mut keys: Vec<String> = r.fields.iter().map(|f| f.name.clone()).collect();
    keys.extend(["id", "created_at", "updated_at"].map(str::to_owned));
    keys.sort();
    let keys = keys
        .iter()
        .map(|k| format!("{k:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut defaults: String = r
        .fields
        .iter()
        .filter(|f| !f.required())
        .map(|f| {
            format!(
                "    assert_eq!(bare[{:?}], json!({}), \"{{bare}}\");\n",
                f.name,
                f.absent_json()
            )
        })
        .collect();
    if !defaults.is_empty() {
        defaults = format!("    // Fields left out take their default, or null.\n    let bare = create(&api, &t.access, minimal());\n{defaults}");
    }
    let out_of_limits: String = r
        .fields
        .iter()
        .flat_map(|f| f.out_of_limits_json().into_iter().map(move |v| (f, v)))
        .map(|(f, v)| {
            format!(
                "    let mut body = full(0);\n    body[{n:?}] = {v};\n    api.post(PATH, Some(&t.access), body).invalid({n:?});\n",
                n = f.name
            )
        })
        .collect();
    let missing: String = r
        .required()
        .map(|f| {
            format!(
                "    let mut body = full(0);\n    if let Some(o) = body.as_object_mut() {{ o.remove({n:?}); }}\n    api.post(PATH, Some(&t.access), body).invalid({n:?});\n",
                n = f.name
            )
        })
        .collect();
    let patch_each: String = r
        .fields
        .iter()
        .map(|f| {
            let n = &f.name;
            let mut s = format!(
                "    // `{n}` alone.\n    let before = api.get(&path, Some(a)).ok(200);\n    let after = api.patch(&path, Some(a), json!({{ {n:?}: {v} }})).ok(200);\n    assert_eq!(after[{n:?}], json!({v}));\n    assert_same_but(&before, &after, {n:?});\n",
                v = f.sample_json(1)
            );
            if f.optional {
                s += &format!(
                    "    let cleared = api.patch(&path, Some(a), json!({{ {n:?}: null }})).ok(200);\n    assert!(cleared[{n:?}].is_null(), \"{{cleared}}\");\n    assert_same_but(&after, &cleared, {n:?});\n"
                );
            } else {
                s += &format!(
                    "    let kept = api.patch(&path, Some(a), json!({{ {n:?}: null }})).ok(200);\n    assert_eq!(kept[{n:?}], after[{n:?}], \"null leaves a required field alone\");\n"
                );
            }
            s
        })
        .collect();
    let (filter_names, filter_bodies): (Vec<String>, Vec<String>) =
        r.flags().map(|f| filter_case(r, f)).unzip();
    let mut cases = vec![
        format!("create_answers_201_with_location_and_the_{s}"),
        format!("creating_{a}_with_a_field_out_of_its_limits_or_missing_is_422_naming_it"),
        format!("list_pages_through_every_{s}_exactly_once_in_order"),
    ];
    cases.extend(filter_names);
    cases.extend([
        format!("patching_{a}_changes_only_the_given_field_and_null_clears_an_optional_one"),
        format!("deleting_{a}_answers_204_then_404"),
        format!("another_users_{s}_is_404_for_get_patch_and_delete_exactly_like_a_missing_one"),
        format!("deleting_the_account_deletes_its_{t}"),
    ]);
    let cases: String = cases.iter().map(|c| format!("    {c},\n")).collect();
    format!(
        r#"//! `/api/{t}` over HTTP (written by `cargo xtask new-resource`): the caller's own {t},
//! paged by cursor; another user's are 404.

use serde_json::{{json, Value}};

use crate::http::{{assert_utc_time, keys, str_of, Api}};
use crate::{{Case, Ctx}};

pub const CASES: &[Case] = testkit::cases![
{cases}];

const PATH: &str = "/api/{t}";

/// A valid body with every field; `which` 0 and 1 differ where the limits allow.
fn full(which: usize) -> Value {{
    match which {{
        0 => {full0},
        _ => {full1},
    }}
}}

/// A valid body with only the fields a create needs.
fn minimal() -> Value {{
    {minimal}
}}

fn create(api: &Api<'_>, access: &str, body: Value) -> Value {{
    api.post(PATH, Some(access), body).ok(201)
}}

fn page(api: &Api<'_>, access: &str, query: &str) -> Value {{
    let body = api.get(&format!("{{PATH}}{{query}}"), Some(access)).ok(200);
    assert_eq!(keys(&body), ["items", "next_cursor"], "{{body}}");
    body
}}

fn ids(page: &Value) -> Vec<String> {{
    page["items"]
        .as_array()
        .map(|a| a.iter().map(|item| str_of(item, "id")).collect())
        .unwrap_or_default()
}}

/// `after` is `before` but for `field` (and `updated_at`).
fn assert_same_but(before: &Value, after: &Value, field: &str) {{
    for key in keys(before) {{
        if key != field && key != "updated_at" {{
            assert_eq!(before[&key], after[&key], "{{key}} changed with {{field}}");
        }}
    }}
}}

fn create_answers_201_with_location_and_the_{s}(ctx: &Ctx) {{
    let api = ctx.api();
    let (_, t) = api.user_with_session();
    let res = api.post(PATH, Some(&t.access), full(0));
    let made = res.ok(201);
    assert_eq!(keys(&made), [{keys}], "{{made}}");
    for (key, value) in full(0).as_object().into_iter().flatten() {{
        assert_eq!(&made[key], value, "{{key}} as sent");
    }}
    assert_utc_time(&made, "created_at");
    assert_utc_time(&made, "updated_at");
    let location = res.header("location").unwrap_or_default();
    assert_eq!(location, format!("{{PATH}}/{{}}", str_of(&made, "id")));
    assert_eq!(api.get(&location, Some(&t.access)).ok(200), made);
{defaults}}}

fn creating_{a}_with_a_field_out_of_its_limits_or_missing_is_422_naming_it(ctx: &Ctx) {{
    let api = ctx.api();
    let (_, t) = api.user_with_session();
{out_of_limits}{missing}    api.post(PATH, Some(&t.access), json!({{ "no_such_field": 1 }})).invalid("no_such_field");
    assert!(ids(&page(&api, &t.access, "")).is_empty(), "nothing was stored");
}}

fn list_pages_through_every_{s}_exactly_once_in_order(ctx: &Ctx) {{
    let api = ctx.api();
    let (_, t) = api.user_with_session();
    let made: Vec<String> = (0..5)
        .map(|_| str_of(&create(&api, &t.access, minimal()), "id"))
        .collect();
    let mut seen = Vec::new();
    let mut query = "?limit=2".to_owned();
    loop {{
        let body = page(&api, &t.access, &query);
        seen.extend(ids(&body));
        match body["next_cursor"].as_str() {{
            Some(cursor) => query = format!("?limit=2&cursor={{cursor}}"),
            None => break,
        }}
    }}
    assert_eq!(seen, made);
    api.get(&format!("{{PATH}}?limit=0"), Some(&t.access)).invalid("limit");
    api.get(&format!("{{PATH}}?cursor=nope"), Some(&t.access)).invalid("cursor");
}}
{filter_bodies}
fn patching_{a}_changes_only_the_given_field_and_null_clears_an_optional_one(ctx: &Ctx) {{
    let api = ctx.api();
    let (_, t) = api.user_with_session();
    let a = &t.access;
    let path = format!("{{PATH}}/{{}}", str_of(&create(&api, a, full(0)), "id"));
{patch_each}    // An empty patch changes nothing.
    let now = api.get(&path, Some(a)).ok(200);
    assert_eq!(api.patch(&path, Some(a), json!({{}})).ok(200), now);
}}

fn deleting_{a}_answers_204_then_404(ctx: &Ctx) {{
    let api = ctx.api();
    let (_, t) = api.user_with_session();
    let path = format!("{{PATH}}/{{}}", str_of(&create(&api, &t.access, minimal()), "id"));
    api.delete(&path, Some(&t.access)).no_content();
    api.get(&path, Some(&t.access)).problem(404, "not_found");
    api.delete(&path, Some(&t.access)).problem(404, "not_found");
}}

fn another_users_{s}_is_404_for_get_patch_and_delete_exactly_like_a_missing_one(ctx: &Ctx) {{
    let api = ctx.api();
    let (_, owner) = api.user_with_session();
    let (_, intruder) = api.user_with_session();
    let made = create(&api, &owner.access, full(0));
    let theirs = format!("{{PATH}}/{{}}", str_of(&made, "id"));
    let missing = format!("{{PATH}}/{{}}", uuid::Uuid::now_v7());
    let a = &intruder.access;
    let answers = [
        (api.get(&theirs, Some(a)), api.get(&missing, Some(a))),
        (api.patch(&theirs, Some(a), full(1)), api.patch(&missing, Some(a), full(1))),
        (api.delete(&theirs, Some(a)), api.delete(&missing, Some(a))),
    ];
    for (theirs, missing) in answers {{
        theirs.problem(404, "not_found");
        missing.problem(404, "not_found");
        assert_eq!(theirs.text, missing.text, "{{}}: as for a missing one", theirs.what);
    }}
    assert_eq!(api.get(&theirs, Some(&owner.access)).ok(200), made, "untouched");
    assert!(ids(&page(&api, a, "")).is_empty(), "not in the intruder's list");
}}

fn deleting_the_account_deletes_its_{t}(ctx: &Ctx) {{
    let api = ctx.api();
    let (user, t) = api.user_with_session();
    create(&api, &t.access, full(0));
    create(&api, &t.access, minimal());
    let rows = repos::{t}::{c}Repo::new(ctx.database.clone());
    assert_eq!(ctx.rt.block_on(rows.count(&user.id)).ok(), Some(2));
    api.delete_with("/api/users/me", Some(&t.access), json!({{ "password": user.password }}))
        .no_content();
    assert_eq!(ctx.rt.block_on(rows.count(&user.id)).ok(), Some(0));
}}
"#,
        c = r.camel,
        a = r.a(),
        full0 = all(r, 0),
        full1 = all(r, 1),
        minimal = minimal(r),
        filter_bodies = filter_bodies.concat(),
    )
}
