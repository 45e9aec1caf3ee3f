//! `admin::` cases: the admins' search, the last-admin rule under concurrent demotions, and
//! the audit trail's pages and pruning. The only cases that make admins, so the count of
//! admins in the shared database is theirs.

use chrono::TimeDelta;
use libtest_mimic::Trial;
use repos::{AdminRepo, AuditEvent, AuditQuery, AuditRepo, Ban, RepoError, UserSearch, UserStatus};

use super::{register, Ctx};

pub fn cases(ctx: &Ctx) -> Vec<Trial> {
    register(
        ctx,
        testkit::cases![
            admin_acts_keep_one_admin_even_when_two_demote_each_other_at_once,
            search_matches_a_name_or_address_prefix_in_any_case_and_by_status,
            audit_events_read_newest_first_in_pages_and_prune_in_batches,
        ],
    )
}

fn event(kind: &str, subject: &str, at: chrono::NaiveDateTime) -> AuditEvent {
    AuditEvent {
        id: uuid::Uuid::now_v7().to_string(),
        at,
        kind: kind.into(),
        actor_id: None,
        subject_id: Some(subject.into()),
        ip: Some("192.0.2.1".into()),
        user_agent: None,
        details: "{}".into(),
    }
}

fn admin_acts_keep_one_admin_even_when_two_demote_each_other_at_once(c: Ctx) {
    let repo = AdminRepo::new(c.database.clone());
    let now = repos::now_utc;
    // The admin the round before left: never removable, so each round demotes it once its
    // own two admins exist, and they are all.
    let mut survivor: Option<String> = None;
    for round in 0..10 {
        let (a, b) = (c.block_on(c.fresh_user()), c.block_on(c.fresh_user()));
        for id in [&a.id, &b.id] {
            c.block_on(repo.set_role(id, "admin", now(), event("r", id, now())))
                .unwrap();
        }
        if let Some(old) = survivor.take() {
            c.block_on(repo.set_role(&old, "user", now(), event("r", &old, now())))
                .unwrap();
        }
        let (one, two) = (repo.clone(), repo.clone());
        let (ra, rb) = c.block_on(async {
            tokio::join!(
                one.set_role(&a.id, "user", now(), event("r", &a.id, now())),
                two.set_role(&b.id, "user", now(), event("r", &b.id, now())),
            )
        });
        let won = [ra.is_ok(), rb.is_ok()];
        assert_eq!(
            won.iter().filter(|w| **w).count(),
            1,
            "round {round}: {ra:?} {rb:?}"
        );
        let left = if ra.is_ok() { &b } else { &a };
        let ban = Ban {
            since: now(),
            until: None,
            reason: None,
        };
        assert!(matches!(
            c.block_on(repo.ban(&left.id, ban, event("b", &left.id, now()))),
            Err(RepoError::LastAdmin)
        ));
        assert!(matches!(
            c.block_on(repo.delete(&left.id, now(), event("d", &left.id, now()))),
            Err(RepoError::LastAdmin)
        ));
        assert!(
            matches!(
                c.block_on(c.users.delete(&left.id, 0)),
                Err(RepoError::LastAdmin)
            ),
            "nor by deleting its own account"
        );
        survivor = Some(left.id.clone());
    }
}

fn search_matches_a_name_or_address_prefix_in_any_case_and_by_status(c: Ctx) {
    let repo = AdminRepo::new(c.database.clone());
    let (a, b) = (c.block_on(c.fresh_user()), c.block_on(c.fresh_user()));
    let search = |prefix: &str, status: Option<UserStatus>| {
        let page = c
            .block_on(repo.search(
                UserSearch {
                    prefix: Some(prefix.to_lowercase()),
                    status,
                    after: None,
                    limit: 100,
                    now: repos::now_utc(),
                },
                repos::database::Freshness::Primary,
            ))
            .unwrap();
        page.items.into_iter().map(|u| u.id).collect::<Vec<_>>()
    };
    assert_eq!(search(&a.username.to_uppercase(), None), vec![a.id.clone()]);
    assert_eq!(
        search(&b.email[..b.email.len() - 4], None),
        vec![b.id.clone()]
    );
    assert!(
        search("%", None).is_empty(),
        "a wildcard matches itself only"
    );
    assert!(search("u\\_", None).is_empty());
    let ban = Ban {
        since: repos::now_utc(),
        until: None,
        reason: Some("spam".into()),
    };
    c.block_on(repo.ban(&a.id, ban, event("b", &a.id, repos::now_utc())))
        .unwrap();
    assert_eq!(
        search(&a.username, Some(UserStatus::Banned)),
        vec![a.id.clone()]
    );
    assert!(search(&a.username, Some(UserStatus::Active)).is_empty());
    assert_eq!(
        search(&b.username, Some(UserStatus::Unverified)),
        vec![b.id.clone()]
    );
    // A ban that has ended counts as lifted.
    let ended = Ban {
        since: repos::now_utc() - TimeDelta::hours(2),
        until: Some(repos::now_utc() - TimeDelta::hours(1)),
        reason: None,
    };
    c.block_on(repo.ban(&b.id, ended, event("b", &b.id, repos::now_utc())))
        .unwrap();
    assert_eq!(
        search(&b.username, Some(UserStatus::Active)),
        vec![b.id.clone()]
    );
    c.block_on(repo.lift_ban(&a.id, event("l", &a.id, repos::now_utc())))
        .unwrap();
    assert_eq!(
        search(&a.username, Some(UserStatus::Active)),
        vec![a.id.clone()]
    );
}

fn audit_events_read_newest_first_in_pages_and_prune_in_batches(c: Ctx) {
    let audit = AuditRepo::new(c.database.clone());
    let who = c.block_on(c.fresh_user());
    let old = repos::now_utc() - TimeDelta::days(400);
    for kind in ["a", "b", "c"] {
        c.block_on(audit.record(event(kind, &who.id, old))).unwrap();
    }
    for kind in ["d", "e"] {
        c.block_on(audit.record(event(kind, &who.id, repos::now_utc())))
            .unwrap();
    }
    let page = |before: Option<String>| {
        c.block_on(audit.list(AuditQuery {
            subject_id: Some(who.id.clone()),
            before,
            limit: 2,
            ..AuditQuery::default()
        }))
        .unwrap()
    };
    let mut kinds = Vec::new();
    let mut cursor = None;
    loop {
        let p = page(cursor);
        kinds.extend(p.items.iter().map(|e| e.kind.clone()));
        match p.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    // Creating the account wrote the first event.
    assert_eq!(kinds, ["e", "d", "c", "b", "a", "registered"]);
    let cut = repos::now_utc() - TimeDelta::days(365);
    // Other cases' events are recent: only these three are old enough.
    assert_eq!(c.block_on(audit.prune(cut, 2)).unwrap(), 2);
    assert_eq!(c.block_on(audit.prune(cut, 2)).unwrap(), 1);
    assert_eq!(c.block_on(audit.prune(cut, 2)).unwrap(), 0);
    let kinds: Vec<String> = page(None)
        .items
        .into_iter()
        .chain(
            page(None)
                .next_cursor
                .map(|c| page(Some(c)).items)
                .unwrap_or_default(),
        )
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds, ["e", "d", "registered"]);
}
