//! A real OpenID provider for the sign-in tests: panva's `oidc-provider` (tests/oidc,
//! installed by `npm ci` there) run by Node on a free loopback port, with one static
//! client. Accounts are made per test; the login form is driven over plain HTTP.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The client strata is at the provider.
pub const CLIENT_ID: &str = "strata";
pub const CLIENT_SECRET: &str = "a test client secret";

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/oidc")
}

/// Whether Node and the provider package are here (`make test` runs `npm ci` first).
pub fn available() -> bool {
    dir().join("node_modules/oidc-provider").is_dir()
        && Command::new("node")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
}

/// A running provider.
pub struct OidcProvider {
    /// `http://127.0.0.1:<port>`, exactly as its tokens name it.
    pub issuer: String,
    child: Child,
}

impl OidcProvider {
    /// Starts one whose client may be sent back to `redirect_uris`, and waits until it
    /// serves; a start that does not come up is tried once more (what Node printed is in
    /// the error).
    pub fn start(redirect_uris: &[String]) -> Result<Self, String> {
        Self::start_once(redirect_uris).or_else(|first| {
            eprintln!("the OpenID provider did not start ({first}); trying once more");
            Self::start_once(redirect_uris)
        })
    }

    fn start_once(redirect_uris: &[String]) -> Result<Self, String> {
        let log = std::env::temp_dir().join(format!("strata-oidc-{}.log", uuid::Uuid::new_v4()));
        let stderr = std::fs::File::create(&log).map_err(|e| e.to_string())?;
        let mut child = Command::new("node")
            .arg("provider.mjs")
            .current_dir(dir())
            .env("OP_CLIENT_ID", CLIENT_ID)
            .env("OP_CLIENT_SECRET", CLIENT_SECRET)
            .env("OP_REDIRECT_URIS", redirect_uris.join(","))
            // Node 20 warns that oidc-provider prefers 22; nothing else differs.
            .env("NODE_NO_WARNINGS", "1")
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("node provider.mjs: {e}"))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(issuer) = line.strip_prefix("listening ") {
                    let _ = tx.send(issuer.to_owned());
                }
            }
        });
        let started = rx.recv_timeout(Duration::from_secs(60));
        let said = std::fs::read_to_string(&log).unwrap_or_default();
        let _ = std::fs::remove_file(&log);
        match started {
            Ok(issuer) => Ok(Self { issuer, child }),
            Err(_) => {
                let exited = child.try_wait().ok().flatten();
                let _ = child.kill();
                let _ = child.wait();
                let tail: String = said.lines().rev().take(5).collect::<Vec<_>>().join(" | ");
                Err(format!(
                    "the OpenID provider did not start within 60 s (exit: {exited:?}; it said: {tail})"
                ))
            }
        }
    }

    /// Makes (or replaces) the account `login`; `tamper` spoils its ID tokens (see
    /// tests/oidc/provider.mjs).
    pub fn account(
        &self,
        login: &str,
        email: &str,
        email_verified: bool,
        tamper: Option<&str>,
    ) -> Result<(), String> {
        let body = serde_json::json!({
            "email": email, "email_verified": email_verified, "name": login, "tamper": tamper,
        });
        let url = format!("{}/__test/accounts/{login}", self.issuer);
        let answer = reqwest::blocking::Client::new()
            .put(url)
            .json(&body)
            .send()
            .map_err(|e| e.to_string())?;
        if answer.status().is_success() {
            Ok(())
        } else {
            Err(format!("making a provider account: {}", answer.status()))
        }
    }
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
