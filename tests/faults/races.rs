//! Races: many refreshes of one token, logout against refresh, a password change against
//! requests on other sessions. Whoever wins, no token of a revoked session works afterwards.

use std::sync::{Arc, Barrier};
use std::time::Duration;

use db::Backend;
use libtest_mimic::Trial;
use reqwest::blocking::Client;
use serde_json::{json, Value};
use strata_e2e::process::ApiProcess;
use strata_e2e::Backing;

use crate::{client, name, register_login, s, PASSWORD};

/// Where a case runs: its database, and a private Redis Cluster instead of the shared Redis.
#[derive(Clone, Copy)]
pub struct On {
    pub backend: Backend,
    pub cluster: bool,
}

fn start(on: On) -> (Backing, ApiProcess) {
    let backing = if on.cluster {
        Backing::on_cluster(on.backend).unwrap()
    } else {
        Backing::create(on.backend, on.backend != Backend::Sqlite).unwrap()
    };
    let app = ApiProcess::start(&backing.env, Duration::from_secs(60)).unwrap();
    (backing, app)
}

fn refresh(c: &Client, base: &str, token: &str) -> (u16, Value) {
    let r = c
        .post(format!("{base}/api/auth/refresh"))
        .json(&json!({"refresh_token": token}))
        .send()
        .unwrap();
    (r.status().as_u16(), r.json().unwrap_or_default())
}

fn me(c: &Client, base: &str, token: &str) -> u16 {
    c.get(format!("{base}/api/users/me"))
        .bearer_auth(token)
        .send()
        .unwrap()
        .status()
        .as_u16()
}

/// Runs `n` copies of `f` released at the same instant; returns their results in order.
fn at_once<T: Send + 'static>(n: usize, f: impl Fn(usize) -> T + Send + Sync + 'static) -> Vec<T> {
    let barrier = Arc::new(Barrier::new(n));
    let f = Arc::new(f);
    let threads: Vec<_> = (0..n)
        .map(|i| {
            let (b, f) = (barrier.clone(), f.clone());
            std::thread::spawn(move || {
                b.wait();
                f(i)
            })
        })
        .collect();
    threads.into_iter().map(|t| t.join().unwrap()).collect()
}

fn fifty_concurrent_refreshes_of_one_token_yield_one_pair(on: On) {
    let (_b, app) = start(on);
    let base = app.address.clone();
    let tokens = register_login(&client(), &base, &name());
    let presented = s(&tokens, "refresh_token");
    let results = {
        let base = base.clone();
        at_once(50, move |_| refresh(&client(), &base, &presented))
    };
    let first = &results[0].1;
    for (status, body) in &results {
        assert_eq!(*status, 200, "{body}");
        assert_eq!(
            s(body, "access_token"),
            s(first, "access_token"),
            "every caller holds the same pair"
        );
        assert_eq!(s(body, "refresh_token"), s(first, "refresh_token"));
    }
    let c = client();
    assert_eq!(me(&c, &base, &s(first, "access_token")), 200);
    assert_eq!(
        me(&c, &base, &s(&tokens, "access_token")),
        401,
        "the first access token was replaced"
    );
}

fn after_logout_returns_no_token_of_the_session_works(on: On) {
    let (_b, app) = start(on);
    let base = app.address.clone();
    let user = name();
    let c = client();
    register_login(&c, &base, &user);
    for round in 0..10 {
        let tokens = crate::login(&c, &base, &user).unwrap();
        let (access, refresh_token) = (s(&tokens, "access_token"), s(&tokens, "refresh_token"));
        let outcomes = {
            let (base, access, refresh_token) =
                (base.clone(), access.clone(), refresh_token.clone());
            at_once(2, move |i| {
                let c = client();
                if i == 0 {
                    let r = c
                        .post(format!("{base}/api/auth/logout"))
                        .bearer_auth(&access)
                        .send()
                        .unwrap();
                    (r.status().as_u16(), Value::Null)
                } else {
                    refresh(&c, &base, &refresh_token)
                }
            })
        };
        let (logout_status, (refresh_status, new_pair)) = (outcomes[0].0, outcomes[1].clone());
        assert!(
            matches!(logout_status, 204 | 401),
            "round {round}: logout {logout_status}"
        );
        assert!(
            matches!(refresh_status, 200 | 401),
            "round {round}: refresh {refresh_status}"
        );
        if logout_status == 401 {
            // The refresh won and replaced the access token before logout checked it: log
            // out with the new one, which must work.
            let r = c
                .post(format!("{base}/api/auth/logout"))
                .bearer_auth(s(&new_pair, "access_token"))
                .send()
                .unwrap();
            assert_eq!(r.status(), 204, "round {round}");
        }
        // After logout returned, nothing of this session works, whoever won.
        assert_eq!(me(&c, &base, &access), 401, "round {round}: old access");
        assert_eq!(
            refresh(&c, &base, &refresh_token).0,
            401,
            "round {round}: old refresh"
        );
        if refresh_status == 200 {
            assert_eq!(
                me(&c, &base, &s(&new_pair, "access_token")),
                401,
                "round {round}: new access"
            );
            assert_eq!(
                refresh(&c, &base, &s(&new_pair, "refresh_token")).0,
                401,
                "round {round}: new refresh"
            );
        }
    }
}

fn password_change_ends_other_sessions_despite_racing_requests(on: On) {
    let (_b, app) = start(on);
    let base = app.address.clone();
    let user = name();
    let c = client();
    let changer = register_login(&c, &base, &user);
    let other = crate::login(&c, &base, &user).unwrap();
    let other_access = s(&other, "access_token");
    let results = {
        let (base, changer_access, other_access) = (
            base.clone(),
            s(&changer, "access_token"),
            other_access.clone(),
        );
        at_once(9, move |i| {
            let c = client();
            if i == 0 {
                let r = c
                    .put(format!("{base}/api/users/me/password"))
                    .bearer_auth(&changer_access)
                    .json(&json!({"current_password": PASSWORD, "new_password": "a brand new secret"}))
                    .send()
                    .unwrap();
                r.status().as_u16()
            } else {
                me(&c, &base, &other_access)
            }
        })
    };
    assert_eq!(results[0], 204, "password change");
    for status in &results[1..] {
        assert!(
            matches!(status, 200 | 401),
            "a racing request answered {status}"
        );
    }
    // Once the change returned, the other session is over for good.
    assert_eq!(me(&c, &base, &other_access), 401);
    assert_eq!(refresh(&c, &base, &s(&other, "refresh_token")).0, 401);
    assert_eq!(
        me(&c, &base, &s(&changer, "access_token")),
        200,
        "the changer's own session stays"
    );
}

pub fn cases(on: On) -> Vec<Trial> {
    testkit::trials![
        on =>
        fifty_concurrent_refreshes_of_one_token_yield_one_pair,
        after_logout_returns_no_token_of_the_session_works,
        password_change_ends_other_sessions_despite_racing_requests,
    ]
}
