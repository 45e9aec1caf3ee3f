//! Redis only: the key layout, and a real server that fails, refuses or restarts.

use super::*;

pub(crate) async fn a_generation_whose_key_expired_never_comes_back(
    store: AnyTokenStore,
    url: String,
) {
    let user = id();
    store.revoke_all(&user, None).await.expect("revoke_all");
    let held = store.generation(&user).await.expect("generation");
    // A login holds `held`; the key expires (here: is deleted); a logout-all follows.
    let mut c = raw_connection(&url).await.expect("raw connection");
    let keys = scan(&mut c, &format!("*{user}}}:generation"))
        .await
        .expect("SCAN");
    assert_eq!(keys.len(), 1, "{keys:?}");
    redis::cmd("DEL")
        .arg(&keys[0])
        .query_async::<()>(&mut c)
        .await
        .expect("DEL");
    store.revoke_all(&user, None).await.expect("revoke_all");
    let mut late = login(&user);
    late.generation = held;
    assert!(
        !store.create_session(&late).await.expect("create_session"),
        "a login holding the generation from before the key expired"
    );
}

pub(crate) async fn keys_carry_the_prefix_and_the_users_hash_tag(
    store: AnyTokenStore,
    url: String,
    prefix: String,
) {
    let mut c = raw_connection(&url).await.expect("raw connection");
    let s = logged_in(&store).await;
    let rate = id();
    store
        .rate_hit(std::slice::from_ref(&rate), WINDOW)
        .await
        .expect("rate_hit");

    // One hash tag per user: their sessions and their index share a slot.
    let session_key = format!("{prefix}user:{{{}}}:session:{}", s.user_id, s.session_id);
    let user_key = format!("{prefix}user:{{{}}}:sessions", s.user_id);
    let rate_key = format!(
        "{prefix}rate:{{{}}}",
        repos::token_store::counter_digest(&rate)
    );
    for (name, key) in [
        ("session", &session_key),
        ("user index", &user_key),
        ("rate", &rate_key),
    ] {
        let exists: i64 = redis::cmd("EXISTS")
            .arg(key)
            .query_async(&mut c)
            .await
            .expect("EXISTS");
        assert_eq!(exists, 1, "{name} key {key}");
    }
    // Nothing about this session, user or counter lives outside the prefix.
    let digest = repos::token_store::counter_digest(&rate);
    for (needle, keys) in [
        (&s.session_id, vec![session_key.clone()]),
        (&s.user_id, vec![session_key.clone(), user_key.clone()]),
        (&digest, vec![rate_key.clone()]),
    ] {
        let mut found = scan(&mut c, &format!("*{needle}*")).await.expect("SCAN");
        found.sort();
        let mut want = keys;
        want.sort();
        assert_eq!(found, want, "keys naming {needle}");
    }

    // Keys expire with the session: the record with its refresh token, the index with its end.
    assert_eq!(
        pexpiretime(&mut c, &session_key).await,
        s.pair.refresh_expires_at * 1000
    );
    assert_eq!(pexpiretime(&mut c, &user_key).await, s.expires_at * 1000);
    let rate_pttl: i64 = redis::cmd("PTTL")
        .arg(&rate_key)
        .query_async(&mut c)
        .await
        .expect("PTTL");
    assert!(rate_pttl > 0, "a counter expires with its window");

    let r = refresh(&s, &s.pair.refresh_jti, now_ms(), GRACE);
    let pair = rotated(&store, &r).await;
    assert_eq!(
        pexpiretime(&mut c, &session_key).await,
        pair.refresh_expires_at * 1000,
        "a rotation moves the record's expiry"
    );
    let session_keys = scan(&mut c, &format!("*{}*", s.session_id))
        .await
        .expect("SCAN");
    assert_eq!(session_keys, vec![session_key], "a rotation adds no key");
}

/// The absolute expiry of `key`, unix milliseconds.
pub(crate) async fn pexpiretime(c: &mut MultiplexedConnection, key: &str) -> i64 {
    redis::cmd("PEXPIRETIME")
        .arg(key)
        .query_async(c)
        .await
        .expect("PEXPIRETIME")
}

/// A `redis-server` of this test's own on a fixed port; killed when dropped.
pub(crate) struct PrivateRedis {
    port: u16,
    child: Option<Child>,
}

impl PrivateRedis {
    fn start(port: u16) -> Self {
        let mut server = Self { port, child: None };
        server.restart();
        server
    }

    fn restart(&mut self) {
        self.kill();
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(std::env::temp_dir())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server on PATH");
        self.child = Some(child);
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            if let Err(e) = child.kill() {
                eprintln!("could not kill redis-server on port {}: {e}", self.port);
            }
            if let Err(e) = child.wait() {
                eprintln!("could not reap redis-server on port {}: {e}", self.port);
            }
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Waits (bounded) until the server answers PING.
    async fn ready(&self) {
        for _ in 0..60 {
            if let Ok(mut c) = raw_connection(&self.url()).await {
                if redis::cmd("PING").query_async::<()>(&mut c).await.is_ok() {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("redis-server on port {} never answered", self.port);
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Runs `op` with a ceiling, so that a hang fails the case instead of stalling the suite.
pub(crate) async fn bounded<T>(what: &str, op: impl Future<Output = T>) -> T {
    match tokio::time::timeout(Duration::from_secs(10), op).await {
        Ok(v) => v,
        Err(_) => panic!("{what} hung while the server was down"),
    }
}

pub(crate) fn assert_unavailable<T: std::fmt::Debug>(what: &str, result: Result<T, RepoError>) {
    match result {
        Err(RepoError::Unavailable { .. }) => {}
        other => panic!("{what}: expected Err(Unavailable), got {other:?}"),
    }
}

/// Clients connected to `server` other than the one asking.
pub(crate) async fn other_clients(server: &PrivateRedis) -> usize {
    let mut c = raw_connection(&server.url()).await.expect("connect");
    let list: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query_async(&mut c)
        .await
        .expect("CLIENT LIST");
    list.lines().count() - 1
}

/// A store on `server` under a fresh prefix, waiting at most `timeout` for anything.
pub(crate) fn store_on(server: &PrivateRedis, timeout: Duration) -> AnyTokenStore {
    AnyTokenStore::Redis(
        RedisTokenStore::new(&RedisOptions {
            url: server.url(),
            cluster_urls: Vec::new(),
            key_prefix: format!("{}:", random_name("strata_test")),
            connect_timeout: timeout,
            command_timeout: timeout,
        })
        .expect("store"),
    )
}

pub(crate) async fn a_dropped_stores_connection_closes_when_the_thread_next_connects() {
    let server = PrivateRedis::start(free_port());
    server.ready().await;
    let first = store_on(&server, Duration::from_secs(2));
    first.ping().await.expect("first store");
    assert_eq!(
        other_clients(&server).await,
        1,
        "the first store's connection"
    );
    drop(first);
    // The second store's first command on this thread makes its connection and closes the
    // one the dropped store left here (asynchronously: give the server a moment to see it).
    let second = store_on(&server, Duration::from_secs(2));
    second.ping().await.expect("second store");
    let mut open = 0;
    for _ in 0..100 {
        open = other_clients(&server).await;
        if open == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(open, 1, "only the live store's connection stays open");
}

/// Sends one command to `server` on a connection of the test's own.
pub(crate) async fn admin(server: &PrivateRedis, args: &[&str]) {
    let mut c = raw_connection(&server.url()).await.expect("connect");
    redis::cmd(args[0])
        .arg(&args[1..])
        .query_async::<()>(&mut c)
        .await
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
}

pub(crate) async fn a_server_refusing_writes_is_unavailable_and_recovers_when_it_takes_them() {
    let server = PrivateRedis::start(free_port());
    server.ready().await;
    let store = store_on(&server, Duration::from_millis(500));
    let live = logged_in(&store).await;
    // Out of memory (`OOM`), then a replica since a failover (`READONLY`; its primary here
    // is a port nobody listens on): writes are refused, by commands and scripts alike.
    let refusals: [(&[&str], &[&str]); 2] = [
        (
            &["CONFIG", "SET", "maxmemory", "1"],
            &["CONFIG", "SET", "maxmemory", "0"],
        ),
        (
            &["REPLICAOF", "127.0.0.1", &free_port().to_string()],
            &["REPLICAOF", "NO", "ONE"],
        ),
    ];
    for (refuse, restore) in refusals {
        let doomed = logged_in(&store).await;
        admin(&server, refuse).await;
        assert_unavailable(
            &format!("create_session during {refuse:?}"),
            store.create_session(&login(&id())).await,
        );
        assert_unavailable(
            &format!("rate_hit during {refuse:?}"),
            store.rate_hit(&[id()], WINDOW).await,
        );
        assert_unavailable(
            &format!("rotate during {refuse:?}"),
            store
                .rotate(&refresh(
                    &live,
                    &live.pair.refresh_jti,
                    now_ms(),
                    Duration::from_secs(10),
                ))
                .await,
        );
        let out_of_memory = refuse.contains(&"maxmemory");
        let revoked = store.revoke_all(&doomed.user_id, None).await;
        if out_of_memory {
            // Ending sessions frees memory: a password change must still end the others.
            assert_eq!(revoked.expect("revoke_all while out of memory"), 1);
            assert_eq!(auth(&store, &doomed, &doomed.pair.access_jti).await, None);
        } else {
            assert_unavailable(&format!("revoke_all during {refuse:?}"), revoked);
        }
        admin(&server, restore).await;
        let after = logged_in(&store).await;
        assert_eq!(
            auth(&store, &after, &after.pair.access_jti).await,
            Some(after.user_id.clone()),
            "writes work again after {restore:?}"
        );
    }
}

pub(crate) async fn fails_closed_while_the_server_is_down_and_recovers_after_a_restart() {
    let mut server = PrivateRedis::start(free_port());
    server.ready().await;
    let store = store_on(&server, Duration::from_millis(500));
    store.ping().await.expect("ping before the outage");
    let before = logged_in(&store).await;
    assert_eq!(
        auth(&store, &before, &before.pair.access_jti).await,
        Some(before.user_id.clone())
    );

    server.kill();
    // The first command finds the shared connection broken; the next ones cannot connect.
    assert_unavailable(
        "authenticate",
        bounded(
            "authenticate",
            store.authenticate(&before.user_id, &before.session_id, &before.pair.access_jti),
        )
        .await,
    );
    let r = refresh(&before, &before.pair.refresh_jti, now_ms(), GRACE);
    assert_unavailable("rotate", bounded("rotate", store.rotate(&r)).await);
    assert_unavailable(
        "create_session",
        bounded("create_session", store.create_session(&login(&id()))).await,
    );
    assert_unavailable(
        "rate_hit",
        bounded("rate_hit", store.rate_hit(&[id()], WINDOW)).await,
    );
    assert_unavailable("ping", bounded("ping", store.ping()).await);

    server.restart();
    server.ready().await;
    let mut last = None;
    for _ in 0..30 {
        match bounded("ping", store.ping()).await {
            Ok(()) => {
                last = None;
                break;
            }
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if let Some(e) = last {
        panic!("the store did not recover after the restart: {e}");
    }
    let after = logged_in(&store).await;
    assert_eq!(
        auth(&store, &after, &after.pair.access_jti).await,
        Some(after.user_id.clone())
    );
    // The killed server kept nothing (no persistence): the old session is simply gone.
    assert_eq!(auth(&store, &before, &before.pair.access_jti).await, None);
}
