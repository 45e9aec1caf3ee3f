//! `passkeys::` cases: the per-account cap under concurrent registrations, one credential
//! id in the whole table, owner-scoped renames and deletions, and a sign-in's update.

use libtest_mimic::Trial;
use repos::{Added, PasskeyRecord, PasskeyRepo, PasskeyUse, RepoError, Unique};

use super::{register, Ctx};

pub fn cases(ctx: &Ctx) -> Vec<Trial> {
    register(
        ctx,
        testkit::cases![
            of_concurrent_registrations_past_the_cap_only_the_cap_is_stored,
            a_credential_id_is_registered_once_in_the_whole_table,
            only_the_owner_renames_or_deletes_a_passkey,
            a_sign_in_stores_the_updated_credential_and_its_backup_flag,
        ],
    )
}

fn passkey(user_id: &str) -> PasskeyRecord {
    PasskeyRecord {
        id: uuid::Uuid::now_v7().to_string(),
        user_id: user_id.to_owned(),
        credential_id: testkit::random_name("cred"),
        name: "laptop".into(),
        credential: "{\"cred\":{}}".into(),
        backup_eligible: false,
        backed_up: false,
        created_at: repos::now_utc(),
        last_used_at: None,
    }
}

fn of_concurrent_registrations_past_the_cap_only_the_cap_is_stored(c: Ctx) {
    let repo = PasskeyRepo::new(c.database.clone());
    let user = c.block_on(c.fresh_user());
    let outcomes = c.block_on(async {
        let mut adds = tokio::task::JoinSet::new();
        for _ in 0..8 {
            let (repo, row) = (repo.clone(), passkey(&user.id));
            adds.spawn(async move { repo.add(row, 3, None).await });
        }
        let mut outcomes = Vec::new();
        while let Some(done) = adds.join_next().await {
            outcomes.push(done.unwrap().unwrap());
        }
        outcomes
    });
    let stored = outcomes.iter().filter(|o| **o == Added::Stored).count();
    assert_eq!(stored, 3, "{outcomes:?}");
    assert_eq!(c.block_on(repo.for_user(&user.id)).unwrap().len(), 3);
}

fn a_credential_id_is_registered_once_in_the_whole_table(c: Ctx) {
    let repo = PasskeyRepo::new(c.database.clone());
    let (a, b) = (c.block_on(c.fresh_user()), c.block_on(c.fresh_user()));
    let first = passkey(&a.id);
    assert_eq!(
        c.block_on(repo.add(first.clone(), 10, None)).unwrap(),
        Added::Stored
    );
    let again = PasskeyRecord {
        credential_id: first.credential_id.clone(),
        ..passkey(&b.id)
    };
    assert!(matches!(
        c.block_on(repo.add(again, 10, None)),
        Err(RepoError::Conflict(Unique::Credential))
    ));
    let found = c
        .block_on(repo.by_credential_id(&first.credential_id))
        .unwrap();
    assert_eq!(found.map(|p| p.user_id), Some(a.id));
    assert!(c
        .block_on(repo.by_credential_id("no-such"))
        .unwrap()
        .is_none());
}

fn only_the_owner_renames_or_deletes_a_passkey(c: Ctx) {
    let repo = PasskeyRepo::new(c.database.clone());
    let (owner, other) = (c.block_on(c.fresh_user()), c.block_on(c.fresh_user()));
    let key = passkey(&owner.id);
    c.block_on(repo.add(key.clone(), 10, None)).unwrap();
    assert!(matches!(
        c.block_on(repo.rename(&other.id, &key.id, "mine now")),
        Err(RepoError::NotFound)
    ));
    assert!(matches!(
        c.block_on(repo.delete(&other.id, &key.id, None)),
        Err(RepoError::NotFound)
    ));
    let renamed = c
        .block_on(repo.rename(&owner.id, &key.id, "phone"))
        .unwrap();
    assert_eq!(renamed.name, "phone");
    c.block_on(repo.delete(&owner.id, &key.id, None)).unwrap();
    assert!(c.block_on(repo.for_user(&owner.id)).unwrap().is_empty());
    assert!(matches!(
        c.block_on(repo.delete(&owner.id, &key.id, None)),
        Err(RepoError::NotFound)
    ));
}

fn a_sign_in_stores_the_updated_credential_and_its_backup_flag(c: Ctx) {
    let repo = PasskeyRepo::new(c.database.clone());
    let user = c.block_on(c.fresh_user());
    let key = passkey(&user.id);
    c.block_on(repo.add(key.clone(), 10, None)).unwrap();
    let at = repos::now_utc();
    let change = PasskeyUse {
        credential: "{\"cred\":{\"counter\":7}}".into(),
        backup_eligible: true,
        backed_up: true,
        at,
    };
    c.block_on(repo.used(&key.id, change.clone())).unwrap();
    let stored = c
        .block_on(repo.by_credential_id(&key.credential_id))
        .unwrap()
        .unwrap();
    assert_eq!(stored.credential, change.credential);
    assert!(stored.backup_eligible && stored.backed_up);
    assert_eq!(stored.last_used_at, Some(at));
    assert!(matches!(
        c.block_on(repo.used("no-such-id", change)),
        Err(RepoError::NotFound)
    ));
}
