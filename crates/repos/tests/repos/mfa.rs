//! `mfa::` cases: the second factor's columns and backup codes. Every use of a code is
//! one conditional UPDATE, so of racing uses one wins; enrolment needs its own pending
//! secret; turning it off forgets everything; a password change leaves it on.

use libtest_mimic::Trial;
use repos::UserRecord;

use super::{hash, register, Ctx};

pub fn cases(ctx: &Ctx) -> Vec<Trial> {
    register(
        ctx,
        testkit::cases![
            twenty_concurrent_uses_of_one_totp_step_have_one_winner,
            twenty_concurrent_uses_of_one_backup_code_have_one_winner,
            enrolment_needs_its_pending_secret_and_a_step_never_used,
            turning_the_factor_off_forgets_the_secret_and_the_codes,
            a_password_change_leaves_the_second_factor_on,
        ],
    )
}

/// A fresh user with the second factor on: secret `sealed-<id>`, last step 100, and the
/// backup codes 1 to 3, their hashes unique to the user.
async fn enrolled(c: &Ctx) -> (UserRecord, String, Vec<String>) {
    let u = c.fresh_user().await;
    let secret = format!("sealed-{}", u.id);
    let codes: Vec<String> = (1..=3)
        .map(|n| format!("{}{n:0>32}", u.id.replace('-', "")))
        .collect();
    assert!(c.mfa.start(&u.id, &secret).await.unwrap());
    assert!(c
        .mfa
        .enable(&u.id, &secret, 100, codes.clone(), None)
        .await
        .unwrap());
    (u, secret, codes)
}

fn twenty_concurrent_uses_of_one_totp_step_have_one_winner(c: Ctx) {
    c.block_on(async {
        let (u, secret, _) = enrolled(&c).await;
        let uses = (0..20).map(|_| {
            let (mfa, id, secret) = (c.mfa.clone(), u.id.clone(), secret.clone());
            tokio::spawn(async move { mfa.accept_step(&id, &secret, 101, None).await })
        });
        let mut wins = 0;
        for u in uses.collect::<Vec<_>>() {
            wins += usize::from(u.await.unwrap().unwrap());
        }
        assert_eq!(wins, 1);
        assert!(
            !c.mfa.accept_step(&u.id, &secret, 101, None).await.unwrap(),
            "replay"
        );
        assert!(
            !c.mfa.accept_step(&u.id, &secret, 99, None).await.unwrap(),
            "older step"
        );
        assert!(
            !c.mfa
                .accept_step(&u.id, "another secret", 102, None)
                .await
                .unwrap(),
            "a code checked against a secret the account no longer has"
        );
        let resealed = format!("resealed-{}", u.id);
        assert!(c
            .mfa
            .accept_step(&u.id, &secret, 102, Some(resealed.clone()))
            .await
            .unwrap());
        let creds = c.users.credentials_by_id(&u.id).await.unwrap().unwrap();
        assert_eq!(creds.totp.last_step, 102);
        assert_eq!(creds.totp.secret.as_deref(), Some(resealed.as_str()));
    });
}

fn twenty_concurrent_uses_of_one_backup_code_have_one_winner(c: Ctx) {
    c.block_on(async {
        let (u, _, codes) = enrolled(&c).await;
        let uses = (0..20).map(|_| {
            let (mfa, id, code) = (c.mfa.clone(), u.id.clone(), codes[0].clone());
            tokio::spawn(async move { mfa.use_backup_code(&id, &code).await })
        });
        let mut wins = 0;
        for u in uses.collect::<Vec<_>>() {
            wins += usize::from(u.await.unwrap().unwrap());
        }
        assert_eq!(wins, 1);
        assert_eq!(c.mfa.codes_left(&u.id).await.unwrap(), 2);
        let other = c.fresh_user().await;
        assert!(
            !c.mfa.use_backup_code(&other.id, &codes[1]).await.unwrap(),
            "another account's code"
        );
        assert!(c.mfa.use_backup_code(&u.id, &codes[1]).await.unwrap());
    });
}

fn enrolment_needs_its_pending_secret_and_a_step_never_used(c: Ctx) {
    c.block_on(async {
        let u = c.fresh_user().await;
        assert!(!u.mfa_enabled);
        assert!(c.mfa.start(&u.id, "first").await.unwrap());
        assert!(
            c.mfa.start(&u.id, "second").await.unwrap(),
            "a restart replaces it"
        );
        assert!(
            !c.mfa.enable(&u.id, "first", 5, vec![], None).await.unwrap(),
            "a code checked against the replaced secret"
        );
        assert!(
            !c.mfa
                .enable(&u.id, "second", 0, vec![], None)
                .await
                .unwrap(),
            "a step not after the last"
        );
        let creds = c.users.credentials_by_id(&u.id).await.unwrap().unwrap();
        assert!(!creds.user.mfa_enabled);
        assert_eq!(creds.totp.pending.as_deref(), Some("second"));
        assert!(c
            .mfa
            .enable(&u.id, "second", 5, vec![], None)
            .await
            .unwrap());
        let creds = c.users.credentials_by_id(&u.id).await.unwrap().unwrap();
        assert!(creds.user.mfa_enabled);
        assert_eq!(creds.totp.secret.as_deref(), Some("second"));
        assert_eq!(creds.totp.pending, None);
        assert_eq!(creds.totp.last_step, 5);
        assert!(!c.mfa.start(&u.id, "third").await.unwrap(), "already on");
        assert!(
            !format!("{creds:?}").contains("second"),
            "Debug hides secrets"
        );
    });
}

fn turning_the_factor_off_forgets_the_secret_and_the_codes(c: Ctx) {
    c.block_on(async {
        let (u, secret, codes) = enrolled(&c).await;
        assert_eq!(c.mfa.codes_left(&u.id).await.unwrap(), 3);
        assert!(c.mfa.disable(&u.id, None, None).await.unwrap());
        assert!(
            !c.mfa.disable(&u.id, None, None).await.unwrap(),
            "already off"
        );
        let creds = c.users.credentials_by_id(&u.id).await.unwrap().unwrap();
        assert!(!creds.user.mfa_enabled);
        assert_eq!((creds.totp.secret, creds.totp.pending), (None, None));
        assert_eq!(c.mfa.codes_left(&u.id).await.unwrap(), 0);
        assert!(!c.mfa.use_backup_code(&u.id, &codes[0]).await.unwrap());
        assert!(!c.mfa.accept_step(&u.id, &secret, 500, None).await.unwrap());
        assert!(
            !c.mfa
                .replace_codes(&u.id, vec![codes[0].clone()])
                .await
                .unwrap(),
            "no codes while off"
        );
    });
}

fn a_password_change_leaves_the_second_factor_on(c: Ctx) {
    c.block_on(async {
        let (u, secret, codes) = enrolled(&c).await;
        let old = c.users.credentials_by_id(&u.id).await.unwrap().unwrap();
        c.users
            .update_password_hash(&u.id, old.password_version, &hash("$2b$04$new"), None)
            .await
            .unwrap();
        let creds = c.users.credentials_by_id(&u.id).await.unwrap().unwrap();
        assert!(creds.user.mfa_enabled);
        assert_eq!(creds.totp.secret.as_deref(), Some(secret.as_str()));
        assert!(c.mfa.use_backup_code(&u.id, &codes[2]).await.unwrap());
        let fresh: Vec<String> = codes.iter().map(|c| c.replace('0', "f")).collect();
        assert!(c.mfa.replace_codes(&u.id, fresh.clone()).await.unwrap());
        assert!(
            !c.mfa.use_backup_code(&u.id, &codes[0]).await.unwrap(),
            "old set"
        );
        assert!(c.mfa.use_backup_code(&u.id, &fresh[0]).await.unwrap());
    });
}
