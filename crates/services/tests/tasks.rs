//! TaskService over real repositories: owner-scoped create/get/update/delete, the list's
//! pagination and filter, and input validation.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{fields, init};
use services::{NewTaskInput, Principal, ServiceError, Task, TaskListInput, TaskPatchInput};

fn new(title: &str) -> NewTaskInput {
    NewTaskInput {
        title: title.into(),
        ..Default::default()
    }
}

fn list_input(limit: Option<&str>, cursor: Option<&str>, done: Option<&str>) -> TaskListInput {
    TaskListInput {
        limit: limit.map(str::to_owned),
        cursor: cursor.map(str::to_owned),
        done: done.map(str::to_owned),
    }
}

/// Creates `n` tasks titled `t0`, `t1`, ...; every third one done.
async fn seed(fx: &common::Fixture, who: &Principal, n: usize) -> Vec<Task> {
    let mut out = Vec::new();
    for i in 0..n {
        let task = fx
            .services
            .tasks
            .create(
                who,
                NewTaskInput {
                    title: format!("t{i}"),
                    description: None,
                    done: Some(i % 3 == 0),
                },
            )
            .await
            .unwrap();
        out.push(task);
    }
    out
}

#[tokio::test]
async fn create_then_get_returns_the_task() {
    let fx = init().await;
    let (_, _, who) = fx.user("alice").await;
    let tasks = &fx.services.tasks;
    let task = tasks
        .create(
            &who,
            NewTaskInput {
                title: "  buy milk ".into(),
                description: Some("two litres".into()),
                done: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(task.title, "buy milk");
    assert_eq!(task.description.as_deref(), Some("two litres"));
    assert!(!task.done);
    assert_eq!(tasks.get(&who, &task.id).await.unwrap(), task);
    let done = tasks
        .create(
            &who,
            NewTaskInput {
                done: Some(true),
                ..new("done already")
            },
        )
        .await
        .unwrap();
    assert!(done.done);
    assert_eq!(done.description, None);
    fx.cleanup();
}

#[tokio::test]
async fn another_users_task_is_not_found_for_get_update_and_delete() {
    let fx = init().await;
    let (_, _, alice) = fx.user("alice").await;
    let (_, _, bob) = fx.user("bob").await;
    let tasks = &fx.services.tasks;
    let task = tasks.create(&alice, new("alice's")).await.unwrap();

    let r = tasks.get(&bob, &task.id).await;
    assert!(matches!(r, Err(ServiceError::NotFound)), "{r:?}");
    let r = tasks
        .update(
            &bob,
            &task.id,
            TaskPatchInput {
                title: Some("mine now".into()),
                ..Default::default()
            },
        )
        .await;
    assert!(matches!(r, Err(ServiceError::NotFound)), "{r:?}");
    let r = tasks
        .update(&bob, &task.id, TaskPatchInput::default())
        .await;
    assert!(matches!(r, Err(ServiceError::NotFound)), "{r:?}");
    let r = tasks.delete(&bob, &task.id).await;
    assert!(matches!(r, Err(ServiceError::NotFound)), "{r:?}");
    let page = tasks.list(&bob, TaskListInput::default()).await.unwrap();
    assert!(page.items.is_empty());

    // Untouched for its owner.
    assert_eq!(tasks.get(&alice, &task.id).await.unwrap(), task);
    fx.cleanup();
}

#[tokio::test]
async fn update_changes_only_the_given_fields() {
    let fx = init().await;
    let (_, _, who) = fx.user("alice").await;
    let tasks = &fx.services.tasks;
    let task = tasks
        .create(
            &who,
            NewTaskInput {
                title: "first".into(),
                description: Some("desc".into()),
                done: None,
            },
        )
        .await
        .unwrap();
    let updated = tasks
        .update(
            &who,
            &task.id,
            TaskPatchInput {
                done: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(updated.done);
    assert_eq!(updated.title, "first");
    assert_eq!(updated.description.as_deref(), Some("desc"));
    assert!(updated.updated_at >= task.updated_at);

    let renamed = tasks
        .update(
            &who,
            &task.id,
            TaskPatchInput {
                title: Some("  second ".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(renamed.title, "second");
    assert!(renamed.done);
    assert_eq!(tasks.get(&who, &task.id).await.unwrap(), renamed);

    // An empty patch changes nothing and returns the task.
    let same = tasks
        .update(&who, &task.id, TaskPatchInput::default())
        .await
        .unwrap();
    assert_eq!(same, renamed);
    fx.cleanup();
}

#[tokio::test]
async fn update_with_description_some_none_clears_it() {
    let fx = init().await;
    let (_, _, who) = fx.user("alice").await;
    let tasks = &fx.services.tasks;
    let task = tasks
        .create(
            &who,
            NewTaskInput {
                title: "with notes".into(),
                description: Some("notes".into()),
                done: None,
            },
        )
        .await
        .unwrap();
    let cleared = tasks
        .update(
            &who,
            &task.id,
            TaskPatchInput {
                description: Some(None),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(cleared.description, None);
    assert_eq!(cleared.title, "with notes");
    assert_eq!(tasks.get(&who, &task.id).await.unwrap().description, None);
    fx.cleanup();
}

#[tokio::test]
async fn creating_a_task_after_the_account_was_deleted_is_token_revoked() {
    let fx = init().await;
    let (alice, _, who) = fx.user("alice").await;
    // A request that authenticated just before its account was deleted reaches the insert
    // after: refused like a revoked session, not a 500.
    let creds = fx.users_repo.credentials_by_id(&alice.id).await.unwrap();
    fx.users_repo
        .delete(&alice.id, creds.unwrap().password_version)
        .await
        .unwrap();
    let r = fx.services.tasks.create(&who, new("orphan")).await;
    assert!(matches!(r, Err(ServiceError::TokenRevoked)), "{r:?}");
    fx.cleanup();
}

#[tokio::test]
async fn delete_removes_the_task() {
    let fx = init().await;
    let (_, _, who) = fx.user("alice").await;
    let tasks = &fx.services.tasks;
    let task = tasks.create(&who, new("doomed")).await.unwrap();
    tasks.delete(&who, &task.id).await.unwrap();
    let r = tasks.get(&who, &task.id).await;
    assert!(matches!(r, Err(ServiceError::NotFound)), "{r:?}");
    let r = tasks.delete(&who, &task.id).await;
    assert!(matches!(r, Err(ServiceError::NotFound)), "{r:?}");
    fx.cleanup();
}

#[tokio::test]
async fn garbage_id_is_not_found() {
    let fx = init().await;
    let (_, _, who) = fx.user("alice").await;
    let tasks = &fx.services.tasks;
    for id in [
        "garbage",
        "",
        "42",
        "' OR 1=1 --",
        "00000000-0000-7000-8000-000000000000",
    ] {
        let r = tasks.get(&who, id).await;
        assert!(
            matches!(r, Err(ServiceError::NotFound)),
            "get {id:?}: {r:?}"
        );
        let r = tasks
            .update(
                &who,
                id,
                TaskPatchInput {
                    done: Some(true),
                    ..Default::default()
                },
            )
            .await;
        assert!(
            matches!(r, Err(ServiceError::NotFound)),
            "update {id:?}: {r:?}"
        );
        let r = tasks.delete(&who, id).await;
        assert!(
            matches!(r, Err(ServiceError::NotFound)),
            "delete {id:?}: {r:?}"
        );
    }
    fx.cleanup();
}

#[tokio::test]
async fn list_pages_through_every_task_in_creation_order_with_the_cursor() {
    let fx = init().await;
    let (_, _, who) = fx.user("alice").await;
    let (_, _, bob) = fx.user("bob").await;
    let created = seed(&fx, &who, 7).await;
    seed(&fx, &bob, 2).await;
    let tasks = &fx.services.tasks;

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = tasks
            .list(&who, list_input(Some("3"), cursor.as_deref(), None))
            .await
            .unwrap();
        pages += 1;
        assert!(page.items.len() <= 3);
        seen.extend(page.items);
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
        assert!(pages < 10, "the cursor does not advance");
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, created);

    // The default limit takes them all in one page.
    let all = tasks.list(&who, TaskListInput::default()).await.unwrap();
    assert_eq!(all.items, created);
    assert_eq!(all.next_cursor, None);

    // An exact fit has no next page.
    let exact = tasks
        .list(&who, list_input(Some("7"), None, None))
        .await
        .unwrap();
    assert_eq!(exact.items.len(), 7);
    assert_eq!(exact.next_cursor, None);

    // An empty cursor means the first page.
    let first = tasks
        .list(&who, list_input(Some("2"), Some(""), None))
        .await
        .unwrap();
    assert_eq!(first.items, created[..2]);
    fx.cleanup();
}

#[tokio::test]
async fn list_filters_on_done() {
    let fx = init().await;
    let (_, _, who) = fx.user("alice").await;
    let created = seed(&fx, &who, 7).await;
    let tasks = &fx.services.tasks;
    let want_done: Vec<Task> = created.iter().filter(|t| t.done).cloned().collect();
    let want_open: Vec<Task> = created.iter().filter(|t| !t.done).cloned().collect();
    assert_eq!(want_done.len(), 3);

    let done = tasks
        .list(&who, list_input(None, None, Some("true")))
        .await
        .unwrap();
    assert_eq!(done.items, want_done);
    let open = tasks
        .list(&who, list_input(None, None, Some("false")))
        .await
        .unwrap();
    assert_eq!(open.items, want_open);

    // The filter holds across pages.
    let p1 = tasks
        .list(&who, list_input(Some("2"), None, Some("false")))
        .await
        .unwrap();
    assert_eq!(p1.items, want_open[..2]);
    let p2 = tasks
        .list(
            &who,
            list_input(Some("2"), p1.next_cursor.as_deref(), Some("false")),
        )
        .await
        .unwrap();
    assert_eq!(p2.items, want_open[2..]);
    assert_eq!(p2.next_cursor, None);
    fx.cleanup();
}

#[tokio::test]
async fn list_with_a_bad_limit_cursor_or_done_is_validation() {
    let fx = init().await;
    let (_, _, who) = fx.user("alice").await;
    let tasks = &fx.services.tasks;
    for limit in ["0", "101", "abc", "-1", "", "1.5"] {
        assert_eq!(
            fields(tasks.list(&who, list_input(Some(limit), None, None)).await),
            ["limit"],
            "limit {limit:?}"
        );
    }
    for limit in ["1", "100"] {
        tasks
            .list(&who, list_input(Some(limit), None, None))
            .await
            .unwrap_or_else(|e| panic!("limit {limit}: {e:?}"));
    }
    for cursor in ["forged", "' OR 1=1 --", "eyJpZCI6MX0="] {
        assert_eq!(
            fields(tasks.list(&who, list_input(None, Some(cursor), None)).await),
            ["cursor"],
            "cursor {cursor:?}"
        );
    }
    assert_eq!(
        fields(tasks.list(&who, list_input(None, None, Some("yes"))).await),
        ["done"]
    );
    assert_eq!(
        fields(
            tasks
                .list(&who, list_input(Some("abc"), Some("forged"), Some("1")))
                .await
        ),
        ["limit", "cursor", "done"]
    );
    fx.cleanup();
}

#[tokio::test]
async fn empty_blank_or_too_long_title_is_validation_on_title() {
    let fx = init().await;
    let (_, _, who) = fx.user("alice").await;
    let tasks = &fx.services.tasks;
    let long = "x".repeat(201);
    for title in ["", "   ", "\t\n", long.as_str()] {
        assert_eq!(
            fields(tasks.create(&who, new(title)).await),
            ["title"],
            "{title:.20?}"
        );
    }
    // 200 characters (not bytes) is the limit.
    tasks.create(&who, new(&"é".repeat(200))).await.unwrap();

    let task = tasks.create(&who, new("fine")).await.unwrap();
    for title in ["", "   ", long.as_str()] {
        assert_eq!(
            fields(
                tasks
                    .update(
                        &who,
                        &task.id,
                        TaskPatchInput {
                            title: Some(title.into()),
                            ..Default::default()
                        },
                    )
                    .await
            ),
            ["title"],
            "{title:.20?}"
        );
    }
    assert_eq!(tasks.get(&who, &task.id).await.unwrap(), task);
    fx.cleanup();
}

#[tokio::test]
async fn too_long_description_is_validation_on_description() {
    let fx = init().await;
    let (_, _, who) = fx.user("alice").await;
    let tasks = &fx.services.tasks;
    let long = "y".repeat(2001);
    assert_eq!(
        fields(
            tasks
                .create(
                    &who,
                    NewTaskInput {
                        title: String::new(),
                        description: Some(long.clone()),
                        done: None,
                    },
                )
                .await
        ),
        ["title", "description"]
    );
    let task = tasks.create(&who, new("fine")).await.unwrap();
    assert_eq!(
        fields(
            tasks
                .update(
                    &who,
                    &task.id,
                    TaskPatchInput {
                        description: Some(Some(long)),
                        ..Default::default()
                    },
                )
                .await
        ),
        ["description"]
    );
    fx.cleanup();
}
