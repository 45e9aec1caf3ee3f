//! The independent verifier: PyJWT (Debian `python3-jwt`), run as another service would,
//! with nothing of strata's but the JWK set's URL (`verify_jwt.py` beside this file).

use std::path::Path;
use std::process::{Command, Stdio};

fn python() -> String {
    std::env::var("STRATA_TEST_PYTHON").unwrap_or_else(|_| "/usr/bin/python3".into())
}

/// Whether PyJWT with EdDSA support can run here.
pub fn available() -> bool {
    Command::new(python())
        .args(["-c", "import jwt, cryptography"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// PyJWT's verdict on `token`: its claims (JSON), or why it refused it.
pub fn verify(jwks_url: &str, issuer: &str, audience: &str, token: &str) -> Result<String, String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/verify_jwt.py");
    let out = Command::new(python())
        .arg(script)
        .args([jwks_url, issuer, audience, token])
        .output()
        .map_err(|e| format!("running PyJWT: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if out.status.success() {
        Ok(text)
    } else {
        Err(format!("{text}{}", String::from_utf8_lossy(&out.stderr)))
    }
}
