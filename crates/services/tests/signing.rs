//! The signing keys' life cycle over a real database, on every backend, with a clock the
//! test moves by hand: publish, promote, retire, scheduled rotation, the CLI's rotation, a
//! revoked current key, and a second instance noticing a revocation by itself.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use db::Backend;
use services::signing::{Clock, KeyView, Rotation, SigningAlgorithm, SigningKeys, SigningSettings};
use services::{AuthSettings, Infra};
use testkit::{SetupError, TestDatabase};

const KEK: [u8; 32] = [7; 32];
const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);

/// A database of each backend this machine reaches (all of them, when required).
fn databases() -> Vec<TestDatabase> {
    [Backend::Sqlite, Backend::Postgres, Backend::Mysql]
        .into_iter()
        .filter_map(|b| match TestDatabase::create(b) {
            Ok(db) => Some(db),
            Err(SetupError::Unreachable(why)) if !testkit::require_all_backends() => {
                eprintln!("skipping {b:?}: {why}");
                None
            }
            Err(e) => panic!("{b:?}: {e:?}"),
        })
        .collect()
}

/// Production-like durations: tokens live 15 minutes (plus 30 s leeway), the key set is
/// cached for an hour, keys are read every minute.
async fn keys(db: &TestDatabase, rotation: Option<Duration>) -> SigningKeys {
    let settings = AuthSettings {
        access_ttl: 15 * MINUTE,
        leeway: Duration::from_secs(30),
        signing: SigningSettings {
            algorithm: SigningAlgorithm::EdDsa,
            sealing: Some(services::seal::SealingKeys {
                current: KEK,
                previous: None,
            }),
            jwks_max_age: HOUR,
            refresh: MINUTE,
            rotation,
        },
        ..Default::default()
    };
    let infra = Infra {
        database: services::bootstrap::DatabaseConfig::direct(
            db.url(),
            services::bootstrap::pool_options(2, Duration::from_secs(5)),
        ),
        redis: None,
    };
    services::bootstrap::signing_keys(infra, settings)
        .await
        .unwrap()
}

/// The keys' states, oldest first.
async fn states(k: &SigningKeys) -> Vec<String> {
    k.list()
        .await
        .unwrap()
        .into_iter()
        .map(|KeyView { state, .. }| state)
        .collect()
}

async fn kids(k: &SigningKeys) -> Vec<String> {
    k.list().await.unwrap().into_iter().map(|v| v.kid).collect()
}

/// The kids in the key set the instance serves.
fn published(k: &SigningKeys) -> Vec<String> {
    let set: serde_json::Value = serde_json::from_str(&k.jwks().0).unwrap();
    set["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["kid"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_scheduled_rotation_publishes_then_promotes_then_retires_on_time() {
    for db in databases() {
        let clock = Clock::manual(repos::now_utc());
        let k = keys(&db, Some(24 * HOUR)).await.with_clock(clock.clone());
        k.start().await.unwrap();
        assert_eq!(states(&k).await, ["current"], "a new install signs at once");
        let first = kids(&k).await[0].clone();

        clock.advance(24 * HOUR - MINUTE);
        k.refresh().await.unwrap();
        assert_eq!(states(&k).await, ["current"], "not due yet");

        clock.advance(MINUTE);
        k.refresh().await.unwrap();
        assert_eq!(states(&k).await, ["current", "next"], "due: published");
        let second = kids(&k).await[1].clone();
        assert_eq!(published(&k), [first.clone(), second.clone()]);

        clock.advance(HOUR - Duration::from_secs(1));
        k.refresh().await.unwrap();
        assert_eq!(
            states(&k).await,
            ["current", "next"],
            "a verifier may still hold the key set without it"
        );

        clock.advance(Duration::from_secs(1));
        k.refresh().await.unwrap();
        assert_eq!(
            states(&k).await,
            ["previous", "current"],
            "published an hour: signs"
        );
        let promoted = clock.now();
        let views = k.list().await.unwrap();
        assert_eq!(views[1].activated_at, Some(promoted));
        assert_eq!(views[0].deactivated_at, Some(promoted));

        clock.advance(15 * MINUTE + Duration::from_secs(29));
        k.refresh().await.unwrap();
        assert_eq!(
            states(&k).await,
            ["previous", "current"],
            "a token it signed may still be live"
        );

        clock.advance(Duration::from_secs(1));
        k.refresh().await.unwrap();
        assert_eq!(
            states(&k).await,
            ["retired", "current"],
            "its tokens expired"
        );
        assert_eq!(published(&k), [second], "a retired key is unpublished");
    }
}

#[tokio::test]
async fn without_a_schedule_only_the_cli_rotates_and_a_revoked_current_key_is_replaced() {
    for db in databases() {
        let clock = Clock::manual(repos::now_utc());
        let k = keys(&db, None).await.with_clock(clock.clone());
        k.start().await.unwrap();
        clock.advance(365 * 24 * HOUR);
        k.refresh().await.unwrap();
        assert_eq!(states(&k).await, ["current"], "no schedule, no new key");
        let first = kids(&k).await[0].clone();

        let Rotation::Published { kid: next, at } = k.rotate().await.unwrap() else {
            panic!("a rotation publishes first");
        };
        assert_eq!(at, clock.now() + chrono::TimeDelta::hours(1));
        assert!(published(&k).contains(&next), "published before it signs");
        clock.advance(HOUR - Duration::from_secs(1));
        assert!(
            matches!(k.rotate().await.unwrap(), Rotation::Waiting { kid, .. } if kid == next),
            "too early to sign"
        );
        clock.advance(Duration::from_secs(1));
        assert_eq!(
            k.rotate().await.unwrap(),
            Rotation::Promoted {
                kid: next.clone(),
                previous: Some(first.clone())
            }
        );

        assert!(k.revoke(&next).await.unwrap());
        assert_eq!(
            states(&k).await,
            ["previous", "revoked", "current"],
            "replaced at once"
        );
        assert!(!published(&k).contains(&next));
        assert!(!k.revoke(&next).await.unwrap(), "once");
    }
}

#[tokio::test]
async fn a_running_instance_drops_a_key_another_process_revoked_before_its_next_refresh() {
    for db in databases() {
        let running = keys(&db, None).await;
        running.start().await.unwrap();
        let kid = kids(&running).await[0].clone();
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(running.clone().run(stopped));

        // `api keys revoke`, in a process of its own; the instance refreshes only hourly
        // here, so only its watch can notice.
        let cli = keys(&db, None).await;
        assert!(cli.revoke(&kid).await.unwrap());
        let start = Instant::now();
        while published(&running).contains(&kid) {
            assert!(start.elapsed() < Duration::from_secs(30), "not dropped");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(!running.changed().await.unwrap());
        stop.send(true).unwrap();
        task.await.unwrap();
    }
}
