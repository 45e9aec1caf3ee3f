//! `identities::` cases: an account made by a provider's sign-in (no password, a proven
//! address, its identity) in one step, a provider's account linked once in the whole
//! table, and a sign-in's update.

use libtest_mimic::Trial;
use repos::{IdentityRepo, ProviderAccount, RepoError, Unique};

use super::{email, register, username, Ctx};

pub fn cases(ctx: &Ctx) -> Vec<Trial> {
    register(
        ctx,
        testkit::cases![
            an_account_made_by_a_provider_has_no_password_and_a_proven_address,
            a_linked_identity_or_a_taken_address_stores_nothing,
            a_sign_in_records_when_and_the_address_given,
            deleting_the_account_deletes_its_identities,
        ],
    )
}

fn account(provider: &str) -> ProviderAccount {
    ProviderAccount {
        provider: provider.to_owned(),
        issuer: format!("https://{provider}.example"),
        subject: testkit::random_name("sub"),
        email: Some("given@idp.example".into()),
    }
}

/// Creates an account for a fresh provider account; returns the account and its user.
fn created(c: &Ctx, repo: &IdentityRepo) -> (ProviderAccount, repos::UserRecord) {
    let name = testkit::random_name("o");
    let who = account("corp");
    let user = c
        .block_on(repo.create_account(
            &username(&name),
            &email(&format!("{name}@example.com")),
            who.clone(),
            None,
        ))
        .unwrap();
    (who, user)
}

fn an_account_made_by_a_provider_has_no_password_and_a_proven_address(c: Ctx) {
    let repo = IdentityRepo::new(c.database.clone());
    let (who, user) = created(&c, &repo);
    assert!(user.email_verified);
    let creds = c
        .block_on(c.users.credentials_by_id(&user.id))
        .unwrap()
        .unwrap();
    assert_eq!(creds.password_hash, None, "no password");
    let found = c
        .block_on(repo.find(&who.issuer, &who.subject))
        .unwrap()
        .unwrap();
    assert_eq!(found.user_id, user.id);
    assert_eq!(found.email.as_deref(), Some("given@idp.example"));
    // The same subject at another issuer is another account.
    assert!(c
        .block_on(repo.find("https://accounts.google.com", &who.subject))
        .unwrap()
        .is_none());
    let listed = c.block_on(repo.for_user(&user.id)).unwrap();
    assert_eq!(listed, vec![found]);
}

fn a_linked_identity_or_a_taken_address_stores_nothing(c: Ctx) {
    let repo = IdentityRepo::new(c.database.clone());
    let (who, user) = created(&c, &repo);
    let name = testkit::random_name("o");
    let again = c.block_on(repo.create_account(
        &username(&name),
        &email(&format!("{name}@example.com")),
        who.clone(),
        None,
    ));
    assert!(
        matches!(again, Err(RepoError::Conflict(Unique::Identity))),
        "{again:?}"
    );
    assert!(
        c.block_on(c.users.find_by_username(&username(&name)))
            .unwrap()
            .is_none(),
        "the account of the refused link was not kept"
    );
    let other = account("corp");
    let taken = c.block_on(repo.create_account(
        &username(&testkit::random_name("o")),
        &email(&user.email),
        other.clone(),
        None,
    ));
    assert!(
        matches!(taken, Err(RepoError::Conflict(Unique::Email))),
        "{taken:?}"
    );
    assert!(c
        .block_on(repo.find(&other.issuer, &other.subject))
        .unwrap()
        .is_none());
}

fn a_sign_in_records_when_and_the_address_given(c: Ctx) {
    let repo = IdentityRepo::new(c.database.clone());
    let (who, _) = created(&c, &repo);
    let found = c
        .block_on(repo.find(&who.issuer, &who.subject))
        .unwrap()
        .unwrap();
    let at = repos::now_utc();
    c.block_on(repo.used(&found.id, Some("new@idp.example".into()), at))
        .unwrap();
    let now = c
        .block_on(repo.find(&who.issuer, &who.subject))
        .unwrap()
        .unwrap();
    assert_eq!(now.email.as_deref(), Some("new@idp.example"));
    assert_eq!(now.last_used_at, Some(at));
    assert!(matches!(
        c.block_on(repo.used("no-such-id", None, at)),
        Err(RepoError::NotFound)
    ));
}

fn deleting_the_account_deletes_its_identities(c: Ctx) {
    let repo = IdentityRepo::new(c.database.clone());
    let (who, user) = created(&c, &repo);
    c.block_on(c.users.delete(&user.id, 0)).unwrap();
    assert!(c
        .block_on(repo.find(&who.issuer, &who.subject))
        .unwrap()
        .is_none());
}
