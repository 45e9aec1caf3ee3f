use super::*;
use std::collections::HashMap;

const SECRET: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

fn config(vars: &[(&str, &str)]) -> Result<Config, Vec<String>> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Config::from_lookup(&move |k| map.get(k).cloned())
}

#[test]
fn durations_take_units_or_bare_seconds() {
    assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
    assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(604_800)));
    assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
    assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
    assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
    for bad in [
        "",
        "m",
        "15 minutes",
        "-5s",
        "1.5h",
        "99999999999999999999d",
    ] {
        assert!(parse_duration(bad).is_err(), "{bad}");
    }
}

#[test]
fn defaults_need_only_a_secret() {
    let c = config(&[("JWT_API_SECRET", SECRET)]).map_err(|e| e.join("; "));
    let c = c.as_ref().ok();
    assert_eq!(
        c.map(|c| c.bind_addr.to_string()).as_deref(),
        Some("127.0.0.1:8080")
    );
    assert_eq!(c.map(|c| c.auth.access_ttl), Some(Duration::from_secs(900)));
    assert!(c.is_some_and(|c| c.infra.redis.is_none()));
}

#[test]
fn every_bad_value_is_reported_on_its_own_line() {
    let errors = config(&[
        ("JWT_API_SECRET", "abc"),
        ("ACCESS_TOKEN_TTL", "soon"),
        ("BCRYPT_COST", "99"),
        ("DATABASE_URL", "postgre://x"),
        ("BIND_ADDR", "localhost"),
    ])
    .err()
    .unwrap_or_default();
    assert_eq!(errors.len(), 5, "{errors:?}");
    for key in [
        "JWT_API_SECRET",
        "ACCESS_TOKEN_TTL",
        "BCRYPT_COST",
        "DATABASE_URL",
        "BIND_ADDR",
    ] {
        assert!(
            errors.iter().any(|e| e.contains(key)),
            "{key} in {errors:?}"
        );
    }
}

#[test]
fn production_refuses_the_in_memory_store() {
    let errors = config(&[("JWT_API_SECRET", SECRET), ("APP_ENV", "production")])
        .err()
        .unwrap_or_default();
    assert!(
        errors.iter().any(|e| e.starts_with("REDIS_URL")),
        "{errors:?}"
    );
    for key in ["SMTP_URL", "PUBLIC_URL", "MFA_ENCRYPTION_KEY"] {
        assert!(
            errors.iter().any(|e| e.starts_with(key)),
            "{key}: {errors:?}"
        );
    }
}

#[test]
fn mail_settings_are_checked_and_links_default_to_the_bind_address() {
    let errors = config(&[
        ("JWT_API_SECRET", SECRET),
        ("SMTP_URL", "ftp://mail.example.com"),
        ("MAIL_FROM", "not a mailbox <"),
        ("PUBLIC_URL", "app.example.com"),
        ("PASSWORD_RESET_TTL", "soon"),
    ])
    .err()
    .unwrap_or_default();
    for key in ["SMTP_URL", "MAIL_FROM", "PUBLIC_URL", "PASSWORD_RESET_TTL"] {
        assert!(
            errors.iter().any(|e| e.starts_with(key)),
            "{key}: {errors:?}"
        );
    }
    let c = config(&[("JWT_API_SECRET", SECRET), ("BIND_ADDR", "127.0.0.1:9090")]);
    let mail = c.map(|c| c.auth.mail).unwrap_or_default();
    assert_eq!(mail.public_url, "http://127.0.0.1:9090");
    assert_eq!(mail.reset_ttl, Duration::from_secs(30 * 60));
}

#[test]
fn a_cluster_is_its_seed_nodes_and_excludes_redis_url() {
    let c = config(&[
        ("JWT_API_SECRET", SECRET),
        (
            "REDIS_CLUSTER_URLS",
            "redis://10.0.0.1:7000, redis://:pw@10.0.0.2:7000",
        ),
    ]);
    let redis = c.ok().and_then(|c| c.infra.redis);
    assert_eq!(
        redis.map(|r| r.cluster_urls),
        Some(vec![
            "redis://10.0.0.1:7000".to_owned(),
            "redis://:pw@10.0.0.2:7000".to_owned()
        ])
    );
    for (vars, line) in [
        (
            vec![
                ("REDIS_URL", "redis://127.0.0.1:6379"),
                ("REDIS_CLUSTER_URLS", "redis://127.0.0.1:7000"),
            ],
            "REDIS_CLUSTER_URLS:",
        ),
        (
            vec![("REDIS_CLUSTER_URLS", "10.0.0.1:7000")],
            "REDIS_CLUSTER_URLS:",
        ),
        (
            vec![
                ("REDIS_URL", "redis://127.0.0.1:6379"),
                ("REDIS_KEY_PREFIX", "app{1}:"),
            ],
            "REDIS_KEY_PREFIX:",
        ),
    ] {
        let mut all = vec![("JWT_API_SECRET", SECRET)];
        all.extend(vars);
        let errors = config(&all).err().unwrap_or_default();
        assert!(
            errors.len() == 1 && errors[0].starts_with(line),
            "{errors:?}"
        );
    }
    let shown = format!(
        "{:?}",
        config(&[
            ("JWT_API_SECRET", SECRET),
            ("REDIS_CLUSTER_URLS", "redis://:clusterpw@10.0.0.2:7000")
        ])
    );
    assert!(!shown.contains("clusterpw"), "{shown}");
}

#[test]
fn the_mfa_key_is_64_hex_digits_with_an_optional_previous_one() {
    let mfa = |vars: &[(&str, &str)]| {
        let mut all = vec![("JWT_API_SECRET", SECRET)];
        all.extend_from_slice(vars);
        config(&all).map(|c| c.auth.mfa)
    };
    let key = "ab".repeat(32);
    let old = "cd".repeat(32);
    let both = mfa(&[
        ("MFA_ENCRYPTION_KEY", &key),
        ("MFA_ENCRYPTION_KEY_PREVIOUS", &old),
    ]);
    let keys = both.ok().and_then(|m| m.keys);
    assert_eq!(
        keys,
        Some(services::seal::SealingKeys {
            current: [0xab; 32],
            previous: Some([0xcd; 32]),
        })
    );
    assert_eq!(mfa(&[]).ok().map(|m| m.keys.is_none()), Some(true));
    for (vars, line) in [
        (vec![("MFA_ENCRYPTION_KEY", "abcd")], "MFA_ENCRYPTION_KEY:"),
        (
            vec![("MFA_ENCRYPTION_KEY", &"zz".repeat(32))],
            "MFA_ENCRYPTION_KEY:",
        ),
        (
            vec![
                ("MFA_ENCRYPTION_KEY", &key),
                ("MFA_ENCRYPTION_KEY_PREVIOUS", "nope"),
            ],
            "MFA_ENCRYPTION_KEY_PREVIOUS:",
        ),
        (
            vec![("MFA_ENCRYPTION_KEY_PREVIOUS", &old)],
            "MFA_ENCRYPTION_KEY_PREVIOUS:",
        ),
        (vec![("MFA_ISSUER", "a:b")], "MFA_ISSUER:"),
    ] {
        let errors = mfa(&vars).err().unwrap_or_default();
        assert!(
            errors.len() == 1 && errors[0].starts_with(line),
            "{vars:?}: {errors:?}"
        );
    }
    let shown = format!(
        "{:?}",
        config(&[("JWT_API_SECRET", SECRET), ("MFA_ENCRYPTION_KEY", &key)])
    );
    assert!(
        !shown.contains(&key) && !shown.contains("171, 171"),
        "{shown}"
    );
}

#[test]
fn debug_hides_secrets_and_passwords() {
    let c = config(&[
        ("JWT_API_SECRET", SECRET),
        ("DATABASE_URL", "postgres://app:hunter2pw@db/app"),
        ("REDIS_URL", "redis://:redispw@cache:6379"),
        (
            "SMTP_URL",
            "smtp://mailer:smtppw@mail.example.com:587?tls=required",
        ),
    ]);
    let shown = format!("{c:?}");
    assert!(shown.contains("mail.example.com"), "{shown}");
    for secret in [SECRET, "hunter2pw", "redispw", "smtppw"] {
        assert!(!shown.contains(secret), "{secret} leaked: {shown}");
    }
}

#[test]
fn the_password_hash_is_bcrypt_unless_argon2id_is_chosen() {
    let scheme = |vars: &[(&str, &str)]| {
        let mut all = vec![("JWT_API_SECRET", SECRET)];
        all.extend_from_slice(vars);
        config(&all).map(|c| c.auth.password_hash)
    };
    assert_eq!(
        scheme(&[]).ok(),
        Some(services::PasswordScheme::Bcrypt { cost: 12 })
    );
    assert_eq!(
        scheme(&[("PASSWORD_HASH", "argon2id")]).ok(),
        Some(services::PasswordScheme::ARGON2ID_OWASP)
    );
    assert_eq!(
        scheme(&[
            ("PASSWORD_HASH", "argon2id"),
            ("ARGON2_MEMORY_KIB", "65536"),
            ("ARGON2_ITERATIONS", "3"),
            ("ARGON2_PARALLELISM", "2"),
        ])
        .ok(),
        Some(services::PasswordScheme::Argon2id {
            memory_kib: 65536,
            iterations: 3,
            parallelism: 2
        })
    );
}

#[test]
fn a_password_hash_below_owasp_or_past_the_memory_budget_is_one_line() {
    for (vars, line) in [
        (vec![("PASSWORD_HASH", "scrypt")], "PASSWORD_HASH:"),
        (
            vec![
                ("PASSWORD_HASH", "argon2id"),
                ("ARGON2_MEMORY_KIB", "1048576"),
            ],
            "ARGON2_MEMORY_KIB:",
        ),
        (
            vec![("APP_ENV", "production"), ("BCRYPT_COST", "9")],
            "BCRYPT_COST=9",
        ),
        (
            vec![
                ("APP_ENV", "production"),
                ("PASSWORD_HASH", "argon2id"),
                ("ARGON2_MEMORY_KIB", "4096"),
            ],
            "ARGON2_MEMORY_KIB=4096",
        ),
    ] {
        let mut all = vec![
            ("JWT_API_SECRET", SECRET),
            ("REDIS_URL", "redis://127.0.0.1:6379"),
            ("SMTP_URL", "smtp://127.0.0.1:2525"),
            ("PUBLIC_URL", "https://strata.example"),
            (
                "MFA_ENCRYPTION_KEY",
                "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
            ),
        ];
        all.extend(vars.iter().copied());
        let errors = config(&all).err().unwrap_or_default();
        assert!(
            errors.len() == 1 && errors[0].starts_with(line),
            "{vars:?}: {errors:?}"
        );
    }
    // Below OWASP's minimum outside production: a warning at start-up, not an error.
    let c = config(&[("JWT_API_SECRET", SECRET), ("BCRYPT_COST", "4")]);
    assert!(c.is_ok(), "{:?}", c.err());
}

#[test]
fn signing_keys_and_introspection_clients_are_checked() {
    use services::signing::SigningAlgorithm;
    let kek = SECRET;
    let c = config(&[
        ("JWT_API_SECRET", SECRET),
        ("JWT_ALGORITHM", "EdDSA"),
        ("SIGNING_KEY_ENCRYPTION_KEY", kek),
        ("JWKS_MAX_AGE", "2s"),
        ("JWT_KEYS_REFRESH", "1s"),
        (
            "INTROSPECTION_CLIENTS",
            "orders:0123456789abcdef, billing:fedcba9876543210",
        ),
    ])
    .map_err(|e| e.join("; "));
    let signing = c
        .as_ref()
        .map(|c| (c.auth.signing.algorithm, c.auth.signing.jwks_max_age));
    assert_eq!(
        signing,
        Ok((SigningAlgorithm::EdDsa, Duration::from_secs(2)))
    );
    let clients = c.map(|c| c.auth.introspection.clients.len());
    assert_eq!(clients, Ok(2));
    assert_eq!(
        config(&[("JWT_API_SECRET", SECRET)]).map(|c| c.auth.signing.algorithm),
        Ok(SigningAlgorithm::Hs256),
        "unset: HS256, as before"
    );
    let errors = config(&[
        ("JWT_API_SECRET", SECRET),
        ("JWT_ALGORITHM", "RS256"),
        ("INTROSPECTION_CLIENTS", "orders:short"),
    ])
    .err()
    .unwrap_or_default();
    assert_eq!(errors.len(), 2, "{errors:?}");
    let no_kek = config(&[("JWT_API_SECRET", SECRET), ("JWT_ALGORITHM", "ES256")])
        .err()
        .unwrap_or_default();
    assert!(
        no_kek
            .iter()
            .any(|e| e.starts_with("SIGNING_KEY_ENCRYPTION_KEY")),
        "{no_kek:?}"
    );
}

#[test]
fn passkeys_follow_public_url_and_refuse_a_foreign_rp_id_or_timeout() {
    let on = |vars: &[(&str, &str)]| {
        let mut all = vec![("JWT_API_SECRET", SECRET)];
        all.extend_from_slice(vars);
        config(&all)
    };
    let local = on(&[("PUBLIC_URL", "http://localhost:8080")]).map_err(|e| e.join("; "));
    let passkeys = local.as_ref().ok().and_then(|c| c.auth.passkeys.clone());
    assert_eq!(
        passkeys.as_ref().map(|p| p.rp_id.as_str()),
        Some("localhost")
    );
    assert_eq!(
        passkeys.as_ref().map(|p| (p.timeout, p.max_waiting)),
        Some((Duration::from_secs(300), 50_000))
    );
    // An IP address names no relying party: passkeys are off, start-up goes on.
    let ip = on(&[("PUBLIC_URL", "http://127.0.0.1:8080")]).map_err(|e| e.join("; "));
    assert!(ip.is_ok_and(|c| c.auth.passkeys.is_none()));
    for (vars, key) in [
        (
            &[
                ("PUBLIC_URL", "https://app.example.com"),
                ("WEBAUTHN_RP_ID", "example.org"),
            ][..],
            "WEBAUTHN_RP_ID",
        ),
        (
            &[
                ("PUBLIC_URL", "http://localhost:8080"),
                ("WEBAUTHN_TIMEOUT", "2h"),
            ][..],
            "WEBAUTHN_TIMEOUT",
        ),
        (
            &[
                ("PUBLIC_URL", "http://localhost:8080"),
                ("PASSKEY_CHALLENGES_MAX", "0"),
            ][..],
            "PASSKEY_CHALLENGES_MAX",
        ),
    ] {
        let errors = on(vars).err().unwrap_or_default();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].contains(key), "{errors:?}");
    }
}

#[test]
fn oidc_providers_need_an_issuer_and_a_client_each() {
    let on = |vars: &[(&str, &str)]| {
        let mut all = vec![("JWT_API_SECRET", SECRET)];
        all.extend_from_slice(vars);
        config(&all)
    };
    let none = on(&[]).map_err(|e| e.join("; "));
    assert!(none.is_ok_and(|c| c.auth.oidc.is_empty()));
    let good = on(&[
        ("OIDC_PROVIDERS", "Corp"),
        ("OIDC_CORP_ISSUER", "https://sso.example.com"),
        ("OIDC_CORP_CLIENT_ID", "strata"),
        ("OIDC_CORP_CLIENT_SECRET", "s3cret"),
        ("OIDC_CORP_SCOPES", "openid email"),
    ])
    .map_err(|e| e.join("; "));
    let provider = good
        .as_ref()
        .ok()
        .and_then(|c| c.auth.oidc.first().cloned());
    assert_eq!(provider.as_ref().map(|p| p.name.as_str()), Some("corp"));
    assert_eq!(
        provider.as_ref().map(|p| p.scopes.clone()),
        Some(vec!["email".to_owned()]),
        "openid is always asked for, not listed"
    );
    assert!(
        !format!("{provider:?}").contains("s3cret"),
        "Debug hides the client secret"
    );
    let slow = on(&[("OIDC_FLOW_TIMEOUT", "2h")]).err().unwrap_or_default();
    assert!(
        slow.len() == 1 && slow[0].contains("OIDC_FLOW_TIMEOUT"),
        "{slow:?}"
    );
    let errors = on(&[
        ("OIDC_PROVIDERS", "corp,bad name,corp"),
        ("OIDC_CORP_ISSUER", "http://sso.example.com"),
    ])
    .err()
    .unwrap_or_default();
    for expected in [
        "OIDC_CORP_CLIENT_ID",
        "OIDC_CORP_CLIENT_SECRET",
        "OIDC_CORP_ISSUER",
        "\"bad name\"",
        "named twice",
    ] {
        assert!(
            errors.iter().any(|e| e.contains(expected)),
            "{expected} in {errors:?}"
        );
    }
}
