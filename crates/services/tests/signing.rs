//! The signing keys' life cycle over a real database (SQLite), with every duration one
//! second: publish, promote, retire, scheduled rotation, and a revoked current key.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use db::Backend;
use services::signing::{KeyView, SigningAlgorithm, SigningKeys, SigningSettings};
use services::{AuthSettings, Infra};
use testkit::TestDatabase;

const KEK: [u8; 32] = [7; 32];

async fn keys(db: &TestDatabase, rotation: Option<Duration>) -> SigningKeys {
    let settings = AuthSettings {
        access_ttl: Duration::from_secs(1),
        leeway: Duration::ZERO,
        signing: SigningSettings {
            algorithm: SigningAlgorithm::EdDsa,
            sealing: Some(services::seal::SealingKeys {
                current: KEK,
                previous: None,
            }),
            jwks_max_age: Duration::from_secs(1),
            refresh: Duration::from_secs(1),
            rotation,
        },
        ..Default::default()
    };
    let infra = Infra {
        database_url: db.url(),
        pool: services::bootstrap::pool_options(2, Duration::from_secs(5)),
        redis: None,
    };
    services::bootstrap::signing_keys(infra, settings)
        .await
        .unwrap()
}

/// The states, oldest key first.
async fn states(k: &SigningKeys) -> Vec<String> {
    k.list()
        .await
        .unwrap()
        .into_iter()
        .map(|KeyView { state, .. }| state)
        .collect()
}

/// A little over one of the life cycle's seconds.
async fn tick() {
    tokio::time::sleep(Duration::from_millis(1100)).await;
}

#[tokio::test]
async fn a_scheduled_rotation_publishes_then_promotes_then_retires() {
    let db = TestDatabase::create(Backend::Sqlite).unwrap();
    let k = keys(&db, Some(Duration::from_secs(1))).await;
    k.start().await.unwrap();
    assert_eq!(states(&k).await, ["current"], "a new install signs at once");
    tick().await;
    k.refresh().await.unwrap();
    assert_eq!(
        states(&k).await,
        ["current", "next"],
        "published before it signs"
    );
    tick().await;
    k.refresh().await.unwrap();
    assert_eq!(states(&k).await, ["previous", "current"]);
    tick().await;
    k.refresh().await.unwrap();
    let now = states(&k).await;
    assert_eq!(now[..2], ["retired", "current"], "{now:?}");
    let published: serde_json::Value = serde_json::from_str(&k.jwks().0).unwrap();
    assert_eq!(
        published["keys"].as_array().map(Vec::len),
        Some(now.iter().filter(|s| *s != "retired").count()),
        "a retired key is unpublished"
    );
}

#[tokio::test]
async fn without_a_schedule_only_a_rotation_publishes_and_revoking_the_current_key_replaces_it() {
    let db = TestDatabase::create(Backend::Sqlite).unwrap();
    let k = keys(&db, None).await;
    k.start().await.unwrap();
    tick().await;
    k.refresh().await.unwrap();
    assert_eq!(states(&k).await, ["current"], "no schedule, no new key");
    let first = k.list().await.unwrap()[0].kid.clone();
    assert!(k.revoke(&first).await.unwrap());
    assert_eq!(states(&k).await, ["revoked", "current"], "replaced at once");
    let published = k.jwks().0;
    assert!(!published.contains(&first), "{published}");
}
