//! The repository suite, run on SQLite, PostgreSQL and MySQL/MariaDB in turn.
//!
//! BeforeSuite: a database with a random name is created, migrated and seeded with two
//! users. Describe groups (`users::`, `tasks::`, `concurrency::`) run against it. AfterSuite:
//! the database is dropped, also when a case failed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "repos/admin.rs"]
mod admin;
#[path = "repos/identities.rs"]
mod identities;
#[path = "repos/mail.rs"]
mod mail;
#[path = "repos/mfa.rs"]
mod mfa;
#[path = "repos/passkeys.rs"]
mod passkeys;
#[path = "repos/races.rs"]
mod races;
#[path = "repos/signing_keys.rs"]
mod signing_keys;

// The generated resources' cases (the list is the workspace's resources.rs), in
// `repos/<name>.rs`.
#[path = "repos"]
mod resources {
    include!("../../../resources.rs");
    macro_rules! resource_cases {
        ($($name:ident: $service:ident),* $(,)?) => {
            $(pub(crate) mod $name;)*

            /// Every generated resource's cases.
            #[allow(unused_variables, unused_mut)]
            pub(crate) fn cases(ctx: &crate::Ctx) -> Vec<libtest_mimic::Trial> {
                let mut trials = Vec::new();
                $(trials.extend(crate::register(ctx, $name::CASES));)*
                trials
            }
        };
    }
    with_resources!(resource_cases);
}

use std::process::ExitCode;
use std::sync::Arc;

use db::{Backend, Freshness, PoolOptions};
use domain::{Email, TaskDescription, TaskPatch, TaskTitle, Username};
use libtest_mimic::Trial;
use repos::{
    MailedTokenRepo, MfaRepo, OutboxRepo, PasswordHash, RepoError, TaskQuery, TaskRepo, Unique,
    UserRecord, UserRepo,
};
use testkit::{run_suite, trial, Plan, Prepared, SetupError, TestDatabase};
use tokio::runtime::Runtime;

/// What every case gets: the runtime, the repositories and the seeded users.
#[derive(Clone)]
pub(crate) struct Ctx {
    rt: Arc<Runtime>,
    users: UserRepo,
    tasks: TaskRepo,
    tokens: MailedTokenRepo,
    outbox: OutboxRepo,
    mfa: MfaRepo,
    /// The database, for repositories a case makes itself.
    database: db::Database,
    alice: UserRecord,
    bob: UserRecord,
}

impl Ctx {
    pub(crate) fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    /// A user of the case's own, so cases never step on each other.
    pub(crate) async fn fresh_user(&self) -> UserRecord {
        let name = testkit::random_name("u");
        self.users
            .create(
                &username(&name),
                &email(&format!("{name}@example.com")),
                &PasswordHash::new("$2b$04$hash".into()),
                None,
            )
            .await
            .expect("create user")
    }
}

pub(crate) fn hash(s: &str) -> PasswordHash {
    PasswordHash::new(s.to_owned())
}

pub(crate) fn username(s: &str) -> Username {
    Username::parse(s).expect("a valid username")
}

pub(crate) fn email(s: &str) -> Email {
    Email::parse(s).expect("a valid address")
}

pub(crate) fn title(s: &str) -> TaskTitle {
    TaskTitle::parse(s).expect("a valid title")
}

pub(crate) fn description(s: &str) -> TaskDescription {
    TaskDescription::parse(s).expect("a valid description")
}

/// One case: its function's name and the function.
pub(crate) type Case = (&'static str, fn(Ctx));

/// Trials over `ctx` of cases named by their functions (`testkit::cases!`).
pub(crate) fn register(ctx: &Ctx, cases: &[Case]) -> Vec<Trial> {
    cases
        .iter()
        .map(|&(name, body)| {
            let ctx = ctx.clone();
            trial(name, move || body(ctx))
        })
        .collect()
}

fn users_cases(ctx: &Ctx) -> Vec<Trial> {
    register(
        ctx,
        testkit::cases![
            create_then_find_by_id_username_and_email,
            seeded_users_exist_before_the_cases,
            missing_user_is_none_not_an_error,
            duplicate_username_is_a_conflict_naming_username,
            duplicate_email_is_a_conflict_naming_email,
            check_free_names_the_taken_field_in_one_read,
            credentials_carry_the_hash_and_debug_hides_it,
            update_password_hash_replaces_it,
            a_rehash_replaces_only_the_hash_it_read_and_keeps_the_version,
            a_password_change_checked_against_an_old_hash_changes_nothing,
            update_password_of_missing_user_is_not_found,
            delete_removes_the_user_and_their_tasks,
            timestamps_round_trip_to_the_microsecond,
        ],
    )
}

fn tasks_cases(ctx: &Ctx) -> Vec<Trial> {
    register(
        ctx,
        testkit::cases![
            create_then_get_returns_what_was_stored,
            another_users_task_is_not_found_for_get_update_delete,
            list_pages_by_keyset_without_gaps_or_repeats,
            list_of_exactly_one_page_has_no_next_cursor,
            list_filters_by_done_and_never_shows_other_users,
            update_changes_only_the_given_fields,
            delete_then_get_is_not_found,
            a_task_for_a_missing_user_finds_its_owner_gone,
            unicode_and_quotes_are_stored_verbatim,
        ],
    )
}

fn concurrency_cases(ctx: &Ctx) -> Vec<Trial> {
    register(
        ctx,
        testkit::cases![eight_threads_times_fifty_inserts_all_succeed,],
    )
}

fn plan(backend: Backend, label: &str) -> Plan {
    Plan {
        label: label.to_owned(),
        before_suite: Box::new(move || {
            let database = TestDatabase::create(backend)?;
            let rt = Arc::new(Runtime::new().map_err(|e| SetupError::Failed(e.to_string()))?);
            let pool = db::init_db(&database.url(), PoolOptions::default())
                .map_err(|e| SetupError::Failed(e.to_string()))?;
            let users = UserRepo::new(pool.clone());
            let tasks = TaskRepo::new(pool.clone());
            let (tokens, mfa) = (
                MailedTokenRepo::new(pool.clone()),
                MfaRepo::new(pool.clone()),
            );
            let outbox = OutboxRepo::new(pool.clone());
            let seed = |name: &'static str| {
                let users = users.clone();
                rt.block_on(async move {
                    users
                        .create(
                            &username(name),
                            &email(&format!("{name}@example.com")),
                            &hash(&format!("$2b$04${name}hash")),
                            None,
                        )
                        .await
                })
                .map_err(|e| SetupError::Failed(format!("seeding {name}: {e}")))
            };
            let ctx = Ctx {
                alice: seed("alice")?,
                bob: seed("bob")?,
                rt,
                users,
                tasks,
                tokens,
                outbox,
                mfa,
                database: pool,
            };
            let mut trials = users_cases(&ctx);
            trials.extend(tasks_cases(&ctx));
            trials.extend(concurrency_cases(&ctx));
            trials.extend(mail::cases(&ctx));
            trials.extend(mfa::cases(&ctx));
            trials.extend(races::cases(&ctx));
            trials.extend(admin::cases(&ctx));
            trials.extend(signing_keys::cases(&ctx));
            trials.extend(passkeys::cases(&ctx));
            trials.extend(identities::cases(&ctx));
            trials.extend(resources::cases(&ctx));
            // The pool goes before the database it points at.
            Ok(Prepared {
                trials,
                guard: Box::new((ctx, database)),
            })
        }),
    }
}

fn main() -> ExitCode {
    run_suite(
        "repos",
        vec![
            plan(Backend::Sqlite, "sqlite"),
            plan(Backend::Postgres, "postgres"),
            plan(Backend::Mysql, "mysql"),
        ],
    )
}

fn create_then_find_by_id_username_and_email(c: Ctx) {
    c.block_on(async {
        let u = c.fresh_user().await;
        assert_eq!(c.users.find_by_id(&u.id).await.unwrap(), Some(u.clone()));
        assert_eq!(
            c.users
                .find_by_username(&username(&u.username))
                .await
                .unwrap(),
            Some(u.clone())
        );
        assert_eq!(
            c.users.find_by_email(&email(&u.email)).await.unwrap(),
            Some(u.clone())
        );
        assert_eq!(uuid::Uuid::parse_str(&u.id).unwrap().get_version_num(), 7);
    })
}

fn seeded_users_exist_before_the_cases(c: Ctx) {
    c.block_on(async {
        assert_eq!(
            c.users.find_by_username(&username("alice")).await.unwrap(),
            Some(c.alice.clone())
        );
        assert_eq!(
            c.users
                .find_by_email(&email("bob@example.com"))
                .await
                .unwrap(),
            Some(c.bob.clone())
        );
    })
}

fn missing_user_is_none_not_an_error(c: Ctx) {
    c.block_on(async {
        assert_eq!(
            c.users
                .find_by_id("00000000-0000-7000-8000-000000000000")
                .await
                .unwrap(),
            None
        );
        assert_eq!(
            c.users
                .find_by_username(&username("nobody-here"))
                .await
                .unwrap(),
            None
        );
        assert!(c
            .users
            .credentials_by_email(&email("nobody@example.com"))
            .await
            .unwrap()
            .is_none());
    })
}

fn duplicate_username_is_a_conflict_naming_username(c: Ctx) {
    c.block_on(async {
        let err = c
            .users
            .create(
                &username("alice"),
                &email("other-alice@example.com"),
                &hash("h"),
                None,
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, RepoError::Conflict(Unique::Username)),
            "{err:?}"
        );
    })
}

fn duplicate_email_is_a_conflict_naming_email(c: Ctx) {
    c.block_on(async {
        let err = c
            .users
            .create(
                &username("not-alice"),
                &email("alice@example.com"),
                &hash("h"),
                None,
            )
            .await
            .unwrap_err();
        assert!(matches!(err, RepoError::Conflict(Unique::Email)), "{err:?}");
    })
}

fn check_free_names_the_taken_field_in_one_read(c: Ctx) {
    c.block_on(async {
        let a = c.fresh_user().await;
        let b = c.fresh_user().await;
        let (nobody, nowhere) = (username("nobody_here"), email("nobody@example.org"));
        let (a_name, b_email) = (username(&a.username), email(&b.email));
        let field = |r: Result<(), RepoError>| match r {
            Ok(()) => "free",
            Err(RepoError::Conflict(Unique::Username)) => "username",
            Err(RepoError::Conflict(Unique::Email)) => "email",
            Err(e) => panic!("{e:?}"),
        };
        assert_eq!(field(c.users.check_free(&nobody, &nowhere).await), "free");
        assert_eq!(
            field(c.users.check_free(&a_name, &nowhere).await),
            "username"
        );
        assert_eq!(
            field(c.users.check_free(&nobody, &email(&a.email)).await),
            "email"
        );
        // Both taken, by two different accounts: the username is named.
        assert_eq!(
            field(c.users.check_free(&a_name, &b_email).await),
            "username"
        );
    })
}

fn credentials_carry_the_hash_and_debug_hides_it(c: Ctx) {
    c.block_on(async {
        let creds = c
            .users
            .credentials_by_username(&username("alice"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            creds.password_hash,
            Some(PasswordHash::new("$2b$04$alicehash".into()))
        );
        assert!(!format!("{creds:?}").contains("alicehash"));
    })
}

fn update_password_hash_replaces_it(c: Ctx) {
    c.block_on(async {
        let u = c.fresh_user().await;
        c.users
            .update_password_hash(&u.id, 0, &hash("$2b$04$new"), None)
            .await
            .unwrap();
        let creds = c.users.credentials_by_id(&u.id).await.unwrap().unwrap();
        assert_eq!(
            creds.password_hash,
            Some(PasswordHash::new("$2b$04$new".into()))
        );
        assert_eq!(creds.password_version, 1, "a change moves the version on");
        assert!(creds.user.updated_at >= u.updated_at);
    })
}

fn a_password_change_checked_against_an_old_hash_changes_nothing(c: Ctx) {
    c.block_on(async {
        let u = c.fresh_user().await;
        let newer = hash("$2b$04$newer");
        c.users
            .update_password_hash(&u.id, 0, &newer, None)
            .await
            .unwrap();
        // A second change verified against the old password arrives late.
        let late = c
            .users
            .update_password_hash(&u.id, 0, &hash("$2b$04$late"), None)
            .await;
        assert!(matches!(late, Err(RepoError::Stale)), "{late:?}");
        let late = c.users.delete(&u.id, 0).await;
        assert!(matches!(late, Err(RepoError::Stale)), "{late:?}");
        let creds = c.users.credentials_by_id(&u.id).await.unwrap().unwrap();
        assert_eq!(creds.password_hash, Some(newer));
    })
}

fn a_rehash_replaces_only_the_hash_it_read_and_keeps_the_version(c: Ctx) {
    c.block_on(async {
        let u = c.fresh_user().await;
        let (old, upgraded) = (
            hash("$2b$04$hash"),
            hash("$argon2id$v=19$m=19456,t=2,p=1$up"),
        );
        assert!(c.users.rehash(&u.id, &old, &upgraded).await.unwrap());
        let creds = c.users.credentials_by_id(&u.id).await.unwrap().unwrap();
        assert_eq!(creds.password_hash, Some(upgraded.clone()));
        assert_eq!(creds.password_version, 0, "the same password: no change");
        // A second login's rehash of the old hash comes too late and changes nothing.
        assert!(!c
            .users
            .rehash(&u.id, &old, &hash("$2b$04$other"))
            .await
            .unwrap());
        // A password change verified before the rehash still lands: its version holds.
        c.users
            .update_password_hash(&u.id, 0, &hash("$2b$04$changed"), None)
            .await
            .unwrap();
        // A rehash of the password from before the change finds its hash gone.
        assert!(!c
            .users
            .rehash(&u.id, &upgraded, &hash("$2b$04$stale"))
            .await
            .unwrap());
        let creds = c.users.credentials_by_id(&u.id).await.unwrap().unwrap();
        assert_eq!(
            creds.password_hash,
            Some(PasswordHash::new("$2b$04$changed".into()))
        );
        assert_eq!(creds.password_version, 1);
    })
}

fn update_password_of_missing_user_is_not_found(c: Ctx) {
    c.block_on(async {
        let err = c
            .users
            .update_password_hash("no-such-id", 0, &hash("h2"), None)
            .await
            .unwrap_err();
        assert!(matches!(err, RepoError::NotFound), "{err:?}");
    })
}

fn delete_removes_the_user_and_their_tasks(c: Ctx) {
    c.block_on(async {
        let u = c.fresh_user().await;
        let t = c
            .tasks
            .create(&u.id, &title("doomed"), None, false)
            .await
            .unwrap();
        c.users.delete(&u.id, 0).await.unwrap();
        assert_eq!(c.users.find_by_id(&u.id).await.unwrap(), None);
        assert!(matches!(
            c.tasks.get(&u.id, &t.id).await,
            Err(RepoError::NotFound)
        ));
        assert_eq!(c.tasks.count(&u.id).await.unwrap(), 0);
        assert!(matches!(
            c.users.delete(&u.id, 0).await,
            Err(RepoError::NotFound)
        ));
    })
}

fn timestamps_round_trip_to_the_microsecond(c: Ctx) {
    c.block_on(async {
        let u = c.fresh_user().await;
        let back = c.users.find_by_id(&u.id).await.unwrap().unwrap();
        assert_eq!(back.created_at, u.created_at);
        assert_eq!(back.created_at.and_utc().timestamp_subsec_nanos() % 1000, 0);
    })
}

fn create_then_get_returns_what_was_stored(c: Ctx) {
    c.block_on(async {
        let t = c
            .tasks
            .create(
                &c.alice.id,
                &title("write tests"),
                Some(&description("all three backends")),
                false,
            )
            .await
            .unwrap();
        let back = c.tasks.get(&c.alice.id, &t.id).await.unwrap();
        assert_eq!(back, t);
        assert_eq!(back.description.as_deref(), Some("all three backends"));
        assert!(!back.done);
    })
}

fn another_users_task_is_not_found_for_get_update_delete(c: Ctx) {
    c.block_on(async {
        let t = c
            .tasks
            .create(&c.alice.id, &title("private"), None, false)
            .await
            .unwrap();
        assert!(matches!(
            c.tasks.get(&c.bob.id, &t.id).await,
            Err(RepoError::NotFound)
        ));
        let patch = TaskPatch {
            done: Some(true),
            ..TaskPatch::default()
        };
        assert!(matches!(
            c.tasks.update(&c.bob.id, &t.id, patch).await,
            Err(RepoError::NotFound)
        ));
        assert!(matches!(
            c.tasks.delete(&c.bob.id, &t.id).await,
            Err(RepoError::NotFound)
        ));
        assert_eq!(
            c.tasks.get(&c.alice.id, &t.id).await.unwrap(),
            t,
            "unchanged for its owner"
        );
    })
}

fn list_pages_by_keyset_without_gaps_or_repeats(c: Ctx) {
    c.block_on(async {
        let u = c.fresh_user().await;
        let mut made = Vec::new();
        for i in 0..25 {
            made.push(
                c.tasks
                    .create(&u.id, &title(&format!("task {i}")), None, false)
                    .await
                    .unwrap()
                    .id,
            );
        }
        let mut seen = Vec::new();
        let mut after = None;
        let mut pages = 0;
        loop {
            let page = c
                .tasks
                .list(
                    TaskQuery {
                        user_id: u.id.clone(),
                        after: after.clone(),
                        done: None,
                        limit: 10,
                    },
                    Freshness::Primary,
                )
                .await
                .unwrap();
            pages += 1;
            assert!(page.items.len() <= 10);
            seen.extend(page.items.iter().map(|t| t.id.clone()));
            match page.next_cursor {
                Some(cursor) => after = Some(cursor),
                None => break,
            }
        }
        assert_eq!(pages, 3);
        assert_eq!(seen, made, "every task once, in creation order");
    })
}

fn list_of_exactly_one_page_has_no_next_cursor(c: Ctx) {
    c.block_on(async {
        let u = c.fresh_user().await;
        for i in 0..5 {
            c.tasks
                .create(&u.id, &title(&format!("t{i}")), None, false)
                .await
                .unwrap();
        }
        let q = TaskQuery {
            user_id: u.id.clone(),
            after: None,
            done: None,
            limit: 5,
        };
        let page = c.tasks.list(q, Freshness::Primary).await.unwrap();
        assert_eq!(page.items.len(), 5);
        assert_eq!(page.next_cursor, None);
    })
}

fn list_filters_by_done_and_never_shows_other_users(c: Ctx) {
    c.block_on(async {
        let u = c.fresh_user().await;
        for i in 0..6 {
            c.tasks
                .create(&u.id, &title(&format!("t{i}")), None, i % 2 == 0)
                .await
                .unwrap();
        }
        c.tasks
            .create(&c.bob.id, &title("bob's"), None, true)
            .await
            .unwrap();
        let q = |done| TaskQuery {
            user_id: u.id.clone(),
            after: None,
            done,
            limit: 100,
        };
        let done = c
            .tasks
            .list(q(Some(true)), Freshness::Primary)
            .await
            .unwrap()
            .items;
        let open = c
            .tasks
            .list(q(Some(false)), Freshness::Primary)
            .await
            .unwrap()
            .items;
        let all = c
            .tasks
            .list(q(None), Freshness::Primary)
            .await
            .unwrap()
            .items;
        assert_eq!((done.len(), open.len(), all.len()), (3, 3, 6));
        assert!(done.iter().all(|t| t.done && t.user_id == u.id));
        assert!(open.iter().all(|t| !t.done && t.user_id == u.id));
    })
}

fn update_changes_only_the_given_fields(c: Ctx) {
    c.block_on(async {
        let t = c
            .tasks
            .create(
                &c.alice.id,
                &title("old title"),
                Some(&description("keep me")),
                false,
            )
            .await
            .unwrap();
        let patch = TaskPatch {
            done: Some(true),
            ..TaskPatch::default()
        };
        let u = c.tasks.update(&c.alice.id, &t.id, patch).await.unwrap();
        assert_eq!(
            (u.title.as_str(), u.description.as_deref(), u.done),
            ("old title", Some("keep me"), true)
        );
        assert!(u.updated_at >= t.updated_at);
        assert_eq!(u.created_at, t.created_at);
        let patch = TaskPatch {
            title: Some(title("new title")),
            description: Some(None),
            done: None,
        };
        let u = c.tasks.update(&c.alice.id, &t.id, patch).await.unwrap();
        assert_eq!(
            (u.title.as_str(), u.description.as_deref(), u.done),
            ("new title", None, true)
        );
        assert_eq!(c.tasks.get(&c.alice.id, &t.id).await.unwrap(), u);
    })
}

fn delete_then_get_is_not_found(c: Ctx) {
    c.block_on(async {
        let t = c
            .tasks
            .create(&c.alice.id, &title("short-lived"), None, false)
            .await
            .unwrap();
        c.tasks.delete(&c.alice.id, &t.id).await.unwrap();
        assert!(matches!(
            c.tasks.get(&c.alice.id, &t.id).await,
            Err(RepoError::NotFound)
        ));
        assert!(matches!(
            c.tasks.delete(&c.alice.id, &t.id).await,
            Err(RepoError::NotFound)
        ));
    })
}

fn a_task_for_a_missing_user_finds_its_owner_gone(c: Ctx) {
    c.block_on(async {
        let err = c
            .tasks
            .create("no-such-user", &title("orphan"), None, false)
            .await
            .unwrap_err();
        assert!(matches!(err, RepoError::OwnerGone), "{err:?}");
    })
}

fn unicode_and_quotes_are_stored_verbatim(c: Ctx) {
    c.block_on(async {
        let raw = "O'Brien \"quoted\" -- ; DROP TABLE tasks; ✓ 漢字";
        let t = c
            .tasks
            .create(
                &c.alice.id,
                &title(raw),
                Some(&description("\\ % _")),
                false,
            )
            .await
            .unwrap();
        let back = c.tasks.get(&c.alice.id, &t.id).await.unwrap();
        assert_eq!(back.title, raw);
        assert_eq!(back.description.as_deref(), Some("\\ % _"));
    })
}

fn eight_threads_times_fifty_inserts_all_succeed(c: Ctx) {
    let u = c.block_on(c.fresh_user());
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let (c, user_id) = (c.clone(), u.id.clone());
            std::thread::spawn(move || {
                c.block_on(async {
                    for i in 0..50 {
                        c.tasks
                            .create(&user_id, &title(&format!("t{t}-{i}")), None, false)
                            .await
                            .expect("insert");
                    }
                })
            })
        })
        .collect();
    for t in threads {
        t.join().expect("thread");
    }
    assert_eq!(c.block_on(c.tasks.count(&u.id)).unwrap(), 400);
}
