//! `mail::` cases: the outbox's claim, lease, retry, failure and prune, and one-time
//! tokens: single use under concurrency, expiry, and what each kind does.

use std::time::Duration;

use libtest_mimic::Trial;
use repos::mailed_tokens::kind;
use repos::{NewMail, NewMailedToken, PasswordHash, RepoError, Unique};

use super::{hash, register, Ctx};

pub fn cases(ctx: &Ctx) -> Vec<Trial> {
    register(
        ctx,
        testkit::cases![
            // One trial: a single claimer, so no other case takes these rows meanwhile.
            the_outbox_leases_retries_fails_and_prunes_its_rows,
            twenty_concurrent_uses_of_one_token_have_one_winner,
            an_expired_token_or_one_for_an_old_address_verifies_nothing,
            a_reset_sets_the_password_kills_other_resets_and_queues_its_notice,
            a_change_of_address_to_a_taken_one_is_refused_and_leaves_the_token,
        ],
    )
}

fn the_outbox_leases_retries_fails_and_prunes_its_rows(c: Ctx) {
    a_due_row_is_claimed_by_one_worker_until_its_lease_ends(c.clone());
    a_failed_attempt_is_due_again_after_its_backoff_and_then_fails_for_good(c.clone());
    a_sent_row_forgets_its_token_and_is_pruned_after_retention(c);
}

fn mail(to: &str) -> NewMail {
    NewMail {
        kind: "verify_email".into(),
        recipient: to.to_owned(),
        params: "{}".into(),
        sealed_token: Some("sealed".into()),
    }
}

fn some_mail(to: &str, _: &repos::PasswordReset) -> Option<NewMail> {
    Some(mail(to))
}

fn token(value: &str, kind: &'static str, email: &str, ttl_secs: i64) -> NewMailedToken {
    NewMailedToken {
        hash: format!("{value:0>64}"),
        kind,
        email: email.to_owned(),
        expires_at: repos::now_utc() + chrono::Duration::seconds(ttl_secs),
    }
}

/// Claims everything due for `owner` and keeps the rows of `to` only (the token cases
/// queue mails too; theirs are given back at once).
async fn claim_for(c: &Ctx, owner: &str, to: &str, lease: Duration) -> Vec<repos::ClaimedMail> {
    let all = c.outbox.claim(owner, lease, 1000).await.unwrap();
    let (mine, others): (Vec<_>, Vec<_>) = all.into_iter().partition(|m| m.recipient == to);
    for m in others {
        // Give the others back at once: an expired lease.
        c.outbox
            .attempt_failed(&m.id, owner, "not this case's", Some(Duration::ZERO))
            .await
            .unwrap();
    }
    mine
}

fn a_due_row_is_claimed_by_one_worker_until_its_lease_ends(c: Ctx) {
    c.block_on(async {
        let u = c.fresh_user().await;
        c.outbox.queue(vec![mail(&u.email)]).await.unwrap();
        let first = claim_for(&c, "worker-a", &u.email, Duration::from_millis(300)).await;
        assert_eq!(first.len(), 1);
        assert!(claim_for(&c, "worker-b", &u.email, Duration::from_secs(60))
            .await
            .is_empty());
        // The lease lapses (the worker died): another worker takes the row.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let second = claim_for(&c, "worker-b", &u.email, Duration::from_secs(60)).await;
        assert_eq!(second.len(), 1);
        assert_eq!(second[0].id, first[0].id);
        // The first worker's late outcome is refused: it no longer holds the row.
        assert!(matches!(
            c.outbox.sent(&first[0].id, "worker-a").await,
            Err(RepoError::NotFound)
        ));
        c.outbox.sent(&second[0].id, "worker-b").await.unwrap();
    })
}

fn a_failed_attempt_is_due_again_after_its_backoff_and_then_fails_for_good(c: Ctx) {
    c.block_on(async {
        let u = c.fresh_user().await;
        c.outbox.queue(vec![mail(&u.email)]).await.unwrap();
        let m = claim_for(&c, "w", &u.email, Duration::from_secs(60))
            .await
            .remove(0);
        c.outbox
            .attempt_failed(
                &m.id,
                "w",
                "connection refused",
                Some(Duration::from_secs(1)),
            )
            .await
            .unwrap();
        assert!(
            claim_for(&c, "w", &u.email, Duration::from_secs(60))
                .await
                .is_empty(),
            "due before its backoff"
        );
        tokio::time::sleep(Duration::from_millis(1200)).await;
        let again = claim_for(&c, "w", &u.email, Duration::from_secs(60))
            .await
            .remove(0);
        assert_eq!(
            (again.id.as_str(), again.attempts),
            (m.id.as_str(), m.attempts + 1)
        );
        let before = c.outbox.backlog().await.unwrap();
        c.outbox
            .attempt_failed(&again.id, "w", "550 no such user", None)
            .await
            .unwrap();
        let after = c.outbox.backlog().await.unwrap();
        assert_eq!(after.failed, before.failed + 1);
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert!(
            claim_for(&c, "w", &u.email, Duration::from_secs(60))
                .await
                .is_empty(),
            "a failed row came back"
        );
    })
}

fn a_sent_row_forgets_its_token_and_is_pruned_after_retention(c: Ctx) {
    c.block_on(async {
        let u = c.fresh_user().await;
        c.outbox.queue(vec![mail(&u.email)]).await.unwrap();
        let m = claim_for(&c, "w", &u.email, Duration::from_secs(60))
            .await
            .remove(0);
        assert_eq!(m.sealed_token.as_deref(), Some("sealed"));
        c.outbox.sent(&m.id, "w").await.unwrap();
        assert_eq!(
            c.outbox
                .queued_for(&u.email, Duration::from_secs(3600))
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            c.outbox.prune(Duration::from_secs(3600)).await.unwrap(),
            0,
            "pruned too early"
        );
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert!(c.outbox.prune(Duration::from_secs(1)).await.unwrap() >= 1);
        assert_eq!(
            c.outbox
                .queued_for(&u.email, Duration::from_secs(3600))
                .await
                .unwrap(),
            0
        );
    })
}

fn twenty_concurrent_uses_of_one_token_have_one_winner(c: Ctx) {
    let u = c.block_on(c.fresh_user());
    let t = token(&u.id.replace('-', ""), kind::VERIFY_EMAIL, &u.email, 600);
    c.block_on(c.tokens.issue(&u.id, t.clone(), vec![mail(&u.email)]))
        .unwrap();
    let results: Vec<_> = c.block_on(async {
        let uses = (0..20).map(|_| {
            let tokens = c.tokens.clone();
            let h = t.hash.clone();
            tokio::spawn(async move { tokens.verify_email(&h).await })
        });
        let mut out = Vec::new();
        for u in uses.collect::<Vec<_>>() {
            out.push(u.await.unwrap());
        }
        out
    });
    let wins = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(wins, 1, "{results:?}");
    assert!(
        results
            .iter()
            .all(|r| r.is_ok() || matches!(r, Err(RepoError::NotFound))),
        "{results:?}"
    );
    let user = c.block_on(c.users.find_by_id(&u.id)).unwrap().unwrap();
    assert!(user.email_verified);
    assert_eq!(
        kinds_of(&c, &u.id),
        ["registered", "email_verified"],
        "the winner's change is recorded with it, once"
    );
}

/// The kinds of the account's audit events, oldest first.
fn kinds_of(c: &Ctx, user_id: &str) -> Vec<String> {
    let audit = repos::AuditRepo::new(c.database.clone());
    let page = c
        .block_on(audit.list(repos::AuditQuery {
            subject_id: Some(user_id.to_owned()),
            limit: 100,
            ..Default::default()
        }))
        .unwrap();
    page.items.into_iter().rev().map(|e| e.kind).collect()
}

fn an_expired_token_or_one_for_an_old_address_verifies_nothing(c: Ctx) {
    c.block_on(async {
        let u = c.fresh_user().await;
        let expired = token("e1", kind::VERIFY_EMAIL, &u.email, -1);
        c.tokens
            .issue(&u.id, expired.clone(), vec![])
            .await
            .unwrap();
        assert!(matches!(
            c.tokens.verify_email(&expired.hash).await,
            Err(RepoError::NotFound)
        ));
        let old = token("e2", kind::VERIFY_EMAIL, "someone.else@example.com", 600);
        c.tokens.issue(&u.id, old.clone(), vec![]).await.unwrap();
        assert!(matches!(
            c.tokens.verify_email(&old.hash).await,
            Err(RepoError::NotFound)
        ));
        // A reset token is not a verification token.
        let reset = token("e3", kind::PASSWORD_RESET, &u.email, 600);
        c.tokens.issue(&u.id, reset.clone(), vec![]).await.unwrap();
        assert!(matches!(
            c.tokens.verify_email(&reset.hash).await,
            Err(RepoError::NotFound)
        ));
        assert!(matches!(
            c.tokens.verify_email(&"f".repeat(64)).await,
            Err(RepoError::NotFound)
        ));
        assert!(
            !c.users
                .find_by_id(&u.id)
                .await
                .unwrap()
                .unwrap()
                .email_verified
        );
        // The live one still works afterwards.
        assert_eq!(
            c.tokens
                .holder(&reset.hash, kind::PASSWORD_RESET)
                .await
                .unwrap(),
            Some(u.id.clone())
        );
    })
}

fn a_reset_sets_the_password_kills_other_resets_and_queues_its_notice(c: Ctx) {
    c.block_on(async {
        let u = c.fresh_user().await;
        let (a, b) = (
            token(
                &format!("a{}", &u.id[..8]),
                kind::PASSWORD_RESET,
                &u.email,
                600,
            ),
            token(
                &format!("b{}", &u.id[..8]),
                kind::PASSWORD_RESET,
                &u.email,
                600,
            ),
        );
        c.tokens.issue(&u.id, a.clone(), vec![]).await.unwrap();
        c.tokens.issue(&u.id, b.clone(), vec![]).await.unwrap();
        let before = c
            .outbox
            .queued_for(&u.email, Duration::from_secs(60))
            .await
            .unwrap();
        let to = u.email.clone();
        let who = c
            .tokens
            .reset_password(&a.hash, &hash("$2b$04$reset"), move |email: &str, _: &_| {
                assert_eq!(email, to);
                Some(mail(email))
            })
            .await
            .unwrap();
        assert_eq!(who.user_id, u.id);
        let creds = c.users.credentials_by_id(&u.id).await.unwrap().unwrap();
        assert_eq!(
            creds.password_hash,
            Some(PasswordHash::new("$2b$04$reset".into()))
        );
        let audit = repos::AuditRepo::new(c.database.clone());
        let events = audit
            .list(repos::AuditQuery {
                subject_id: Some(u.id.clone()),
                kind: Some("password_reset".into()),
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(events.items.len(), 1, "recorded with the reset");
        assert_eq!(
            c.outbox
                .queued_for(&u.email, Duration::from_secs(60))
                .await
                .unwrap(),
            before + 1
        );
        for used in [&a, &b] {
            let again = c
                .tokens
                .reset_password(&used.hash, &hash("$2b$04$again"), some_mail)
                .await;
            assert!(matches!(again, Err(RepoError::NotFound)), "{again:?}");
        }
        // A password change kills outstanding resets, and pending changes of address (a
        // thief's link to their own address must not outlive the owner's new password).
        let d = token(
            &format!("d{}", &u.id[..8]),
            kind::PASSWORD_RESET,
            &u.email,
            600,
        );
        c.tokens.issue(&u.id, d.clone(), vec![]).await.unwrap();
        let thief = format!("thief.{}", u.email);
        let away = token(&format!("m{}", &u.id[..8]), kind::CHANGE_EMAIL, &thief, 600);
        c.tokens.issue(&u.id, away.clone(), vec![]).await.unwrap();
        // The reset above moved the password's version on, as a change does.
        let version = c
            .users
            .credentials_by_id(&u.id)
            .await
            .unwrap()
            .unwrap()
            .password_version;
        assert_eq!(version, 1);
        c.users
            .update_password_hash(&u.id, version, &hash("$2b$04$changed"), None)
            .await
            .unwrap();
        assert_eq!(
            c.tokens
                .holder(&d.hash, kind::PASSWORD_RESET)
                .await
                .unwrap(),
            None
        );
        let moved = c.tokens.verify_email(&away.hash).await;
        assert!(matches!(moved, Err(RepoError::NotFound)), "{moved:?}");
    })
}

fn a_change_of_address_to_a_taken_one_is_refused_and_leaves_the_token(c: Ctx) {
    c.block_on(async {
        let u = c.fresh_user().await;
        let other = c.fresh_user().await;
        let taken = token(
            &format!("t{}", &u.id[..8]),
            kind::CHANGE_EMAIL,
            &other.email,
            600,
        );
        c.tokens.issue(&u.id, taken.clone(), vec![]).await.unwrap();
        assert!(matches!(
            c.tokens.verify_email(&taken.hash).await,
            Err(RepoError::Conflict(Unique::Email))
        ));
        assert_eq!(
            c.users.find_by_id(&u.id).await.unwrap().unwrap().email,
            u.email
        );
        let new = format!("new.{}", u.email);
        let free = token(&format!("f{}", &u.id[..8]), kind::CHANGE_EMAIL, &new, 600);
        c.tokens.issue(&u.id, free.clone(), vec![]).await.unwrap();
        let reset = token(
            &format!("r{}", &u.id[..8]),
            kind::PASSWORD_RESET,
            &u.email,
            600,
        );
        c.tokens.issue(&u.id, reset.clone(), vec![]).await.unwrap();
        let v = c.tokens.verify_email(&free.hash).await.unwrap();
        // A reset link mailed to the old address resets nothing now, nor names its user.
        assert_eq!(
            c.tokens
                .holder(&reset.hash, kind::PASSWORD_RESET)
                .await
                .unwrap(),
            None
        );
        let late = c
            .tokens
            .reset_password(&reset.hash, &hash("$2b$04$late"), some_mail)
            .await;
        assert!(matches!(late, Err(RepoError::NotFound)), "{late:?}");
        assert_eq!(
            (v.email.as_str(), v.previous.as_deref()),
            (new.as_str(), Some(u.email.as_str()))
        );
        let now = c.users.find_by_id(&u.id).await.unwrap().unwrap();
        assert_eq!(
            (now.email.as_str(), now.email_verified),
            (new.as_str(), true)
        );
    })
}
