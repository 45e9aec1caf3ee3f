//! `/api/tasks`: the caller's own tasks, paged by cursor; another user's are 404.

use serde_json::{json, Value};

use crate::http::{assert_utc_time, keys, str_of, Api};
use crate::{Case, Ctx};

pub const CASES: &[Case] = testkit::cases![
    create_answers_201_with_location_and_the_task,
    create_with_an_invalid_title_or_description_is_422,
    list_pages_through_every_task_exactly_once_in_order,
    list_filters_by_done,
    list_with_a_bad_limit_cursor_or_done_is_422,
    get_patch_delete_by_id_answer_200_200_204_then_404,
    another_users_task_is_404_for_get_patch_and_delete_exactly_like_a_missing_one,
    patch_with_an_empty_title_is_422_and_changes_nothing,
    patch_description_null_clears_it_and_absent_fields_are_left_alone,
];

fn page(api: &Api<'_>, access: &str, query: &str) -> Value {
    let body = api.get(&format!("/api/tasks{query}"), Some(access)).ok(200);
    assert_eq!(keys(&body), ["items", "next_cursor"], "{body}");
    assert!(body["items"].is_array(), "{body}");
    assert!(
        body["next_cursor"].is_null() || body["next_cursor"].is_string(),
        "{body}"
    );
    body
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .map(|a| a.iter().map(|t| str_of(t, "id")).collect())
        .unwrap_or_default()
}

fn create_answers_201_with_location_and_the_task(ctx: &Ctx) {
    let api = ctx.api();
    let (_, t) = api.user_with_session();
    let res = api.post(
        "/api/tasks",
        Some(&t.access),
        json!({ "title": "  Buy milk  ", "description": "two litres" }),
    );
    let task = res.ok(201);
    assert_eq!(
        keys(&task),
        [
            "created_at",
            "description",
            "done",
            "id",
            "title",
            "updated_at"
        ],
        "{task}"
    );
    assert_eq!(task["title"], "Buy milk", "the title is trimmed");
    assert_eq!(task["description"], "two litres");
    assert_eq!(task["done"], false, "done defaults to false");
    assert_utc_time(&task, "created_at");
    assert_utc_time(&task, "updated_at");
    let id = str_of(&task, "id");
    let location = res.header("location").unwrap_or_default();
    assert_eq!(location, format!("/api/tasks/{id}"));
    assert_eq!(api.get(&location, Some(&t.access)).ok(200), task);

    let done = api.create_task(&t.access, json!({ "title": "Done already", "done": true }));
    assert_eq!(done["done"], true);
    assert!(done["description"].is_null(), "{done}");
}

fn create_with_an_invalid_title_or_description_is_422(ctx: &Ctx) {
    let api = ctx.api();
    let (_, t) = api.user_with_session();
    let create = |body| api.post("/api/tasks", Some(&t.access), body);
    for title in ["", "   ", &"t".repeat(201)] {
        create(json!({ "title": title })).invalid("title");
    }
    create(json!({ "title": "ok", "description": "d".repeat(2001) })).invalid("description");
    create(json!({ "description": "no title" })).invalid("title");
    // 200 characters (not bytes) is fine.
    create(json!({ "title": "é".repeat(200) })).ok(201);
    assert_eq!(
        ids(&page(&api, &t.access, "")).len(),
        1,
        "only the valid one"
    );
}

fn list_pages_through_every_task_exactly_once_in_order(ctx: &Ctx) {
    let api = ctx.api();
    let (_, t) = api.user_with_session();
    let created: Vec<String> = (0..7)
        .map(|i| {
            str_of(
                &api.create_task(&t.access, json!({ "title": format!("task {i}") })),
                "id",
            )
        })
        .collect();
    // Someone else's tasks never show.
    let (_, other) = api.user_with_session();
    api.create_task(&other.access, json!({ "title": "not yours" }));

    let mut seen = Vec::new();
    let mut query = "?limit=3".to_owned();
    let mut pages = 0;
    loop {
        let p = page(&api, &t.access, &query);
        let got = ids(&p);
        assert!(got.len() <= 3, "a page holds at most `limit` items");
        seen.extend(got);
        pages += 1;
        assert!(pages <= 10, "paging terminates");
        match p["next_cursor"].as_str() {
            Some(c) => query = format!("?limit=3&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen, created, "every task exactly once, oldest first");
    assert_eq!(pages, 3);

    // The default limit (20) holds them all.
    let all = page(&api, &t.access, "");
    assert_eq!(ids(&all), created);
    assert!(all["next_cursor"].is_null());
    let one = page(&api, &t.access, "?limit=1");
    assert_eq!(ids(&one), created[..1]);
    let hundred = page(&api, &t.access, "?limit=100");
    assert_eq!(ids(&hundred), created);
}

fn list_filters_by_done(ctx: &Ctx) {
    let api = ctx.api();
    let (_, t) = api.user_with_session();
    let mut done = Vec::new();
    let mut open = Vec::new();
    for i in 0..6 {
        let is_done = i % 3 == 0;
        let task = api.create_task(
            &t.access,
            json!({ "title": format!("t{i}"), "done": is_done }),
        );
        let list = if is_done { &mut done } else { &mut open };
        list.push(str_of(&task, "id"));
    }
    assert_eq!(ids(&page(&api, &t.access, "?done=true")), done);
    assert_eq!(ids(&page(&api, &t.access, "?done=false")), open);
    // Paging within a filter.
    let first = page(&api, &t.access, "?done=false&limit=2");
    assert_eq!(ids(&first), open[..2]);
    let cursor = str_of(&first, "next_cursor");
    let rest = page(
        &api,
        &t.access,
        &format!("?done=false&limit=2&cursor={cursor}"),
    );
    assert_eq!(ids(&rest), open[2..]);
}

fn list_with_a_bad_limit_cursor_or_done_is_422(ctx: &Ctx) {
    let api = ctx.api();
    let (_, t) = api.user_with_session();
    api.create_task(&t.access, json!({ "title": "one" }));
    for (query, field) in [
        ("?limit=0", "limit"),
        ("?limit=101", "limit"),
        ("?limit=abc", "limit"),
        ("?limit=-1", "limit"),
        ("?limit=2.5", "limit"),
        ("?cursor=garbage", "cursor"),
        ("?cursor=eyJpZCI6IjEyMyJ9", "cursor"),
        ("?cursor=1%20OR%201%3D1", "cursor"),
        ("?done=maybe", "done"),
    ] {
        api.get(&format!("/api/tasks{query}"), Some(&t.access))
            .invalid(field);
    }
}

fn get_patch_delete_by_id_answer_200_200_204_then_404(ctx: &Ctx) {
    let api = ctx.api();
    let (_, t) = api.user_with_session();
    let task = api.create_task(
        &t.access,
        json!({ "title": "first", "description": "desc" }),
    );
    let path = format!("/api/tasks/{}", str_of(&task, "id"));
    assert_eq!(api.get(&path, Some(&t.access)).ok(200), task);

    let patched = api
        .patch(
            &path,
            Some(&t.access),
            json!({ "title": "second", "done": true }),
        )
        .ok(200);
    assert_eq!(patched["id"], task["id"]);
    assert_eq!(patched["title"], "second");
    assert_eq!(patched["done"], true);
    assert_eq!(
        patched["description"], "desc",
        "absent fields are left alone"
    );
    assert_eq!(patched["created_at"], task["created_at"]);
    let time = |v: &Value| {
        chrono::DateTime::parse_from_rfc3339(&str_of(v, "updated_at"))
            .unwrap_or_else(|e| panic!("updated_at: {e}"))
    };
    assert!(time(&patched) >= time(&task), "updated_at moves forward");
    assert_eq!(api.get(&path, Some(&t.access)).ok(200), patched, "stored");

    api.delete(&path, Some(&t.access)).no_content();
    api.get(&path, Some(&t.access)).problem(404, "not_found");
    api.patch(&path, Some(&t.access), json!({ "done": false }))
        .problem(404, "not_found");
    api.delete(&path, Some(&t.access)).problem(404, "not_found");
    assert!(ids(&page(&api, &t.access, "")).is_empty());
    for garbage in ["garbage", "1", "6"] {
        api.get(&format!("/api/tasks/{garbage}"), Some(&t.access))
            .problem(404, "not_found");
    }
}

fn another_users_task_is_404_for_get_patch_and_delete_exactly_like_a_missing_one(ctx: &Ctx) {
    let api = ctx.api();
    let (_, owner) = api.user_with_session();
    let (_, intruder) = api.user_with_session();
    let task = api.create_task(
        &owner.access,
        json!({ "title": "private", "description": "mine" }),
    );
    let theirs = format!("/api/tasks/{}", str_of(&task, "id"));
    let missing = format!("/api/tasks/{}", uuid::Uuid::now_v7());
    let a = &intruder.access;

    let get = (api.get(&theirs, Some(a)), api.get(&missing, Some(a)));
    let patch_body = json!({ "title": "stolen", "done": true });
    let patch = (
        api.patch(&theirs, Some(a), patch_body.clone()),
        api.patch(&missing, Some(a), patch_body),
    );
    let delete = (api.delete(&theirs, Some(a)), api.delete(&missing, Some(a)));
    for (theirs, missing) in [get, patch, delete] {
        theirs.problem(404, "not_found");
        missing.problem(404, "not_found");
        assert_eq!(
            theirs.text, missing.text,
            "{}: same body as a missing task",
            theirs.what
        );
    }
    // The owner's task is untouched.
    assert_eq!(api.get(&theirs, Some(&owner.access)).ok(200), task);
    assert!(
        ids(&page(&api, a, "")).is_empty(),
        "not in the intruder's list"
    );
}

fn patch_with_an_empty_title_is_422_and_changes_nothing(ctx: &Ctx) {
    let api = ctx.api();
    let (_, t) = api.user_with_session();
    let task = api.create_task(&t.access, json!({ "title": "keep me" }));
    let path = format!("/api/tasks/{}", str_of(&task, "id"));
    for body in [
        json!({ "title": "" }),
        json!({ "title": "   " }),
        json!({ "title": "x".repeat(201) }),
    ] {
        api.patch(&path, Some(&t.access), body).invalid("title");
    }
    api.patch(
        &path,
        Some(&t.access),
        json!({ "description": "d".repeat(2001) }),
    )
    .invalid("description");
    assert_eq!(api.get(&path, Some(&t.access)).ok(200), task);
}

fn patch_description_null_clears_it_and_absent_fields_are_left_alone(ctx: &Ctx) {
    let api = ctx.api();
    let (_, t) = api.user_with_session();
    let task = api.create_task(
        &t.access,
        json!({ "title": "t", "description": "something" }),
    );
    let path = format!("/api/tasks/{}", str_of(&task, "id"));
    let kept = api
        .patch(&path, Some(&t.access), json!({ "done": true }))
        .ok(200);
    assert_eq!(kept["description"], "something", "absent: left alone");
    assert_eq!(kept["title"], "t");
    let cleared = api
        .patch(&path, Some(&t.access), json!({ "description": null }))
        .ok(200);
    assert!(
        cleared["description"].is_null(),
        "null clears it: {cleared}"
    );
    assert_eq!(cleared["done"], true);
    assert!(api.get(&path, Some(&t.access)).ok(200)["description"].is_null());
    let empty = api.patch(&path, Some(&t.access), json!({})).ok(200);
    assert_eq!(
        empty,
        api.get(&path, Some(&t.access)).ok(200),
        "{{}} changes nothing"
    );
}
