//! Property tests of the services' parsers: the domain types and `JwtKeys::verify`.
//!
//! Every parser is fed arbitrary input (unicode, control characters, huge strings, near
//! misses of the valid form) and must never panic; whatever it accepts must satisfy the
//! type's invariants. A token with any single byte changed must never verify.
//!
//! Cases per property: `PROPTEST_CASES` (default 256).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use proptest::prelude::*;
use proptest::test_runner::Config;
use serde_json::{json, Value};
use services::domain::{Email, Id, Password, TaskDescription, TaskTitle, Username};
use services::jwt::TokenKind;
use services::{AuthSettings, JwtKeys, ServiceError};

const SECRET: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
const OTHER: &str = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";

/// 256 cases unless `PROPTEST_CASES` says otherwise; no regression files are written.
fn config() -> Config {
    Config {
        failure_persistence: None,
        ..Config::default()
    }
}

// ---------------------------------------------------------------------------------------
// Input strategies
// ---------------------------------------------------------------------------------------

/// Any characters at all: every plane, control characters, NUL, lone combining marks.
fn any_chars(max: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(any::<char>(), 0..max).prop_map(String::from_iter)
}

/// A character that is hostile to some layer: controls, NUL, quotes, SQL and markup
/// metacharacters, white space of every kind, case-folding oddities (Kelvin sign,
/// dotted capital I, final sigma, German sharp s).
fn nasty_char() -> impl Strategy<Value = char> {
    prop_oneof![
        Just('\0'),
        Just('\u{7f}'),
        Just('\t'),
        Just('\n'),
        Just('\r'),
        Just('\u{a0}'),
        Just('\u{2028}'),
        Just('\u{3000}'),
        Just('\u{feff}'),
        Just('\u{200b}'),
        Just('\u{212a}'),
        Just('\u{130}'),
        Just('\u{3a3}'),
        Just('\u{df}'),
        Just('\u{1e9e}'),
        Just('\u{10ffff}'),
        Just('\u{fffd}'),
        Just('\''),
        Just('"'),
        Just(';'),
        Just('-'),
        Just('<'),
        Just('>'),
        Just('%'),
        Just('\\'),
        Just('@'),
        Just('.'),
        Just('_'),
        Just(' '),
    ]
}

/// Strings close to the valid forms, with hostile characters mixed in.
fn near_miss(alphabet: &'static str, max: usize) -> impl Strategy<Value = String> {
    let ascii = alphabet.chars().collect::<Vec<_>>();
    proptest::collection::vec(
        prop_oneof![
            4 => proptest::sample::select(ascii),
            1 => nasty_char(),
        ],
        0..max,
    )
    .prop_map(String::from_iter)
}

/// Huge strings: one character (any, or a wide one) repeated up to 200,000 times, with an
/// arbitrary prefix.
fn huge() -> impl Strategy<Value = String> {
    (
        any_chars(8),
        prop_oneof![any::<char>(), Just('a'), Just('é'), Just('😀'), Just(' ')],
        1_000usize..200_000,
    )
        .prop_map(|(prefix, c, n)| format!("{prefix}{}", c.to_string().repeat(n)))
}

/// White space around a string, of the kinds `str::trim` knows.
fn padded(inner: impl Strategy<Value = String>) -> impl Strategy<Value = String> {
    let ws = proptest::collection::vec(
        prop_oneof![
            Just(' '),
            Just('\t'),
            Just('\n'),
            Just('\u{a0}'),
            Just('\u{3000}')
        ],
        0..4,
    )
    .prop_map(String::from_iter);
    (ws.clone(), inner, ws).prop_map(|(a, s, b)| format!("{a}{s}{b}"))
}

/// The mix every string parser gets.
fn hostile_string(alphabet: &'static str, near_len: usize) -> impl Strategy<Value = String> {
    prop_oneof![
        3 => any_chars(64),
        2 => any_chars(400),
        3 => near_miss(alphabet, near_len),
        2 => padded(near_miss(alphabet, near_len)),
        1 => huge(),
    ]
}

const USERNAME_ALPHABET: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-";
const EMAIL_ALPHABET: &str = "abcdefghijklmnopqrstuvwxyzABCXYZ0123456789._+-'@@@..";

/// Email-shaped strings: `local@domain` with near-miss parts.
fn email_like() -> impl Strategy<Value = String> {
    (
        near_miss(EMAIL_ALPHABET, 70),
        prop_oneof![Just("@"), Just("@@"), Just(""), Just(" @")],
        near_miss("abcdefghijklmnopqrstuvwxyz0123456789.-", 40),
        prop_oneof![Just(".io"), Just(".com"), Just(""), Just("."), Just("..x")],
    )
        .prop_map(|(l, at, d, tld)| format!("{l}{at}{d}{tld}"))
}

// ---------------------------------------------------------------------------------------
// Domain types
// ---------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config())]

    /// `Username::parse` never panics; an accepted name is 3-32 of `a-z0-9_.-`, is the
    /// trimmed, lower-cased input, and parses again to itself.
    #[test]
    fn username_accepts_only_its_alphabet(raw in hostile_string(USERNAME_ALPHABET, 40)) {
        if let Ok(u) = Username::parse(&raw) {
            let s = u.as_str();
            prop_assert!((3..=32).contains(&s.len()), "{s:?}");
            prop_assert!(
                s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_.-".contains(c)),
                "{s:?}"
            );
            prop_assert_eq!(s, raw.trim().to_lowercase());
            prop_assert_eq!(Username::parse(s), Ok(u.clone()));
        }
    }

    /// Every name of the alphabet within the length bounds is accepted, whatever its case
    /// and surrounding white space.
    #[test]
    fn username_of_the_alphabet_is_accepted(
        raw in padded(proptest::string::string_regex("[a-zA-Z0-9_.-]{3,32}").unwrap())
    ) {
        let u = Username::parse(&raw);
        prop_assert!(u.is_ok(), "{raw:?}: {u:?}");
    }

    /// `Email::parse` never panics; an accepted address is lower-case, at most 254
    /// characters, has exactly one `@` with a local part of 1-64 characters and a dotted
    /// domain, no white space or control characters, and parses again to itself.
    #[test]
    fn email_invariants(raw in prop_oneof![hostile_string(EMAIL_ALPHABET, 80), email_like(), padded(email_like())]) {
        if let Ok(e) = Email::parse(&raw) {
            let s = e.as_str();
            prop_assert!(!s.is_empty() && s.chars().count() <= 254, "{s:?}");
            prop_assert_eq!(s, raw.trim().to_lowercase());
            prop_assert!(!s.chars().any(|c| c.is_whitespace() || c.is_control()), "{s:?}");
            prop_assert_eq!(s.matches('@').count(), 1, "{:?}", s);
            let (local, domain) = s.split_once('@').unwrap();
            prop_assert!((1..=64).contains(&local.chars().count()), "{s:?}");
            prop_assert!(domain.contains('.') && !domain.contains(".."), "{s:?}");
            prop_assert!(!domain.starts_with(['.', '-']) && !domain.ends_with(['.', '-']), "{s:?}");
            prop_assert_eq!(Email::parse(s), Ok(e.clone()));
        }
    }

    /// `Password::parse` accepts at least 8 characters and at most 72 bytes, keeps them
    /// verbatim (no trimming, no truncation), and its `Debug` never shows them.
    #[test]
    fn password_is_8_characters_to_72_bytes_verbatim(raw in prop_oneof![any_chars(12), any_chars(40), any_chars(80), huge()]) {
        let fits = raw.chars().count() >= 8 && raw.len() <= 72;
        match Password::parse(&raw, "password") {
            Ok(p) => {
                prop_assert!(fits, "{} characters in {} bytes accepted", raw.chars().count(), raw.len());
                prop_assert_eq!(p.expose(), raw.as_str());
                let shown = format!("{p:?}");
                prop_assert!(
                    !shown.contains(raw.as_str()) || "Password(***)".contains(raw.as_str()),
                    "Debug shows the password: {shown}"
                );
            }
            Err(e) => {
                prop_assert!(!fits, "{} characters in {} bytes refused: {e:?}", raw.chars().count(), raw.len());
                prop_assert_eq!(e.field.as_str(), "password");
                // Short inputs ("a", " ") occur in any sentence; longer ones must not be echoed.
                prop_assert!(raw.len() < 4 || !e.message.contains(raw.as_str()), "the message echoes the password");
            }
        }
    }

    /// A password equal to the username or email, in any case, is refused.
    #[test]
    fn password_equal_to_the_identity_is_refused(name in "[a-z0-9_]{8,32}", upper in any::<bool>()) {
        let raw = if upper { name.to_uppercase() } else { name.clone() };
        let p = Password::parse(&raw, "password").unwrap();
        prop_assert!(p.check_not_identity("password", &name, "x@y.io").is_err());
        let email = format!("{name}@x.io");
        let p = Password::parse(&email, "password").unwrap();
        prop_assert!(p.check_not_identity("password", "someone", &email).is_err());
    }

    /// `TaskTitle::parse` never panics; an accepted title is the trimmed input, 1 to 200
    /// characters, with no surrounding white space and no NUL (PostgreSQL cannot store it).
    #[test]
    fn title_is_trimmed_and_1_to_200_chars(raw in hostile_string("abc XYZ<>'\";-%0", 220)) {
        let trimmed = raw.trim();
        match TaskTitle::parse(&raw) {
            Ok(t) => {
                prop_assert_eq!(t.as_str(), trimmed);
                prop_assert!((1..=200).contains(&t.as_str().chars().count()));
                prop_assert_eq!(t.as_str().trim(), t.as_str());
                prop_assert_eq!(TaskTitle::parse(t.as_str()), Ok(t.clone()));
                prop_assert!(!t.as_str().contains('\0'));
            }
            Err(e) => {
                let n = trimmed.chars().count();
                prop_assert!(n == 0 || n > 200 || trimmed.contains('\0'), "{n} chars refused: {e:?}");
                prop_assert_eq!(e.field.as_str(), "title");
            }
        }
    }

    /// `TaskDescription::parse` keeps the input verbatim and accepts it exactly when it
    /// has at most 2000 characters and no NUL.
    #[test]
    fn description_is_verbatim_and_at_most_2000_chars(raw in prop_oneof![any_chars(2100), huge(), padded(any_chars(50))]) {
        match TaskDescription::parse(&raw) {
            Ok(d) => {
                prop_assert!(raw.chars().count() <= 2000 && !raw.contains('\0'));
                prop_assert_eq!(d.as_str(), raw.as_str());
            }
            Err(e) => {
                prop_assert!(raw.chars().count() > 2000 || raw.contains('\0'));
                prop_assert_eq!(e.field.as_str(), "description");
            }
        }
    }

    /// `Id::parse` never panics on anything; an accepted id prints in canonical form and
    /// parses back to itself.
    #[test]
    fn id_accepts_only_uuids(raw in prop_oneof![
        any_chars(60),
        huge(),
        near_miss("0123456789abcdefABCDEF-{}urn:uid", 50),
        "[0-9a-fA-F-]{30,40}",
    ]) {
        if let Some(id) = Id::parse(&raw) {
            let s = id.to_string();
            prop_assert!(raw.len() <= 45);
            prop_assert_eq!(s.len(), 36);
            prop_assert!(s.chars().all(|c| c == '-' || c.is_ascii_digit() || ('a'..='f').contains(&c)), "{s}");
            prop_assert_eq!(Id::parse(&s), Some(id));
        }
    }

    /// Every textual form of one UUID parses to the same id.
    #[test]
    fn every_form_of_a_uuid_is_the_same_id(n in any::<u128>()) {
        let u = uuid::Uuid::from_u128(n);
        let canonical = u.hyphenated().to_string();
        for form in [
            canonical.clone(),
            canonical.to_uppercase(),
            u.simple().to_string(),
            u.braced().to_string(),
            u.urn().to_string(),
        ] {
            prop_assert_eq!(Id::parse(&form).map(|i| i.to_string()), Some(canonical.clone()), "{}", form);
        }
    }
}

// ---------------------------------------------------------------------------------------
// JWT verification
// ---------------------------------------------------------------------------------------

fn keys(secret: &str, previous: Option<&str>) -> JwtKeys {
    JwtKeys::new(secret, previous, &AuthSettings::default()).unwrap()
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn kinds() -> impl Strategy<Value = TokenKind> {
    prop_oneof![Just(TokenKind::Access), Just(TokenKind::Refresh)]
}

/// A fresh valid token of `kind` (valid for an hour).
fn real_token(k: &JwtKeys, kind: TokenKind) -> String {
    let t = now();
    k.sign(
        kind,
        "0190a0b1-0000-7000-8000-00000000000a",
        "session-id",
        "jti-1",
        t,
        t + 3600,
    )
    .unwrap()
}

/// The `kid` our keys put in the header.
fn our_kid(k: &JwtKeys) -> String {
    let t = real_token(k, TokenKind::Access);
    let header = t.split('.').next().unwrap();
    let v: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
    v["kid"].as_str().unwrap().to_owned()
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A JSON value of any shape, to put where claims or header members go.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        any_chars(20).prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(any_chars(6), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Asserts `verify` refuses `token` as either kind, without panicking.
fn refused(k: &JwtKeys, token: &str) -> Result<(), TestCaseError> {
    for kind in [TokenKind::Access, TokenKind::Refresh] {
        match k.verify(kind, token) {
            Ok(c) => {
                return Err(TestCaseError::fail(format!(
                    "{kind:?} verified {token:?}: {c:?}"
                )))
            }
            Err(ServiceError::TokenInvalid | ServiceError::TokenExpired) => {}
            Err(other) => {
                return Err(TestCaseError::fail(format!(
                    "{kind:?} on {token:?}: unexpected error {other:?}"
                )))
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    /// Arbitrary strings never verify and never panic: always `TokenInvalid` (an expired
    /// answer would mean the signature was checked and passed).
    #[test]
    fn arbitrary_strings_never_verify(raw in prop_oneof![any_chars(200), huge(), near_miss("abcXYZ019-_.=", 300)]) {
        let k = keys(SECRET, None);
        for kind in [TokenKind::Access, TokenKind::Refresh] {
            let r = k.verify(kind, &raw);
            prop_assert!(matches!(r, Err(ServiceError::TokenInvalid)), "{:?}", r);
        }
    }

    /// Dot-separated base64url segments of arbitrary bytes never verify.
    #[test]
    fn arbitrary_base64_segments_never_verify(
        segments in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..120), 1..6)
    ) {
        let k = keys(SECRET, None);
        let token = segments.iter().map(|s| b64(s)).collect::<Vec<_>>().join(".");
        refused(&k, &token)?;
    }

    /// Well-formed JWTs with our `kid` but any algorithm (`none` included), any header
    /// members, claims that look right, and a signature that is not ours never verify.
    #[test]
    fn forged_headers_and_signatures_never_verify(
        alg in prop_oneof![
            Just("none".to_owned()), Just("HS256".to_owned()), Just("HS384".to_owned()),
            Just("HS512".to_owned()), Just("RS256".to_owned()), Just("ES256".to_owned()),
            Just("EdDSA".to_owned()), Just("hs256".to_owned()), Just("".to_owned()), any_chars(8),
        ],
        kid_is_ours in any::<bool>(),
        extra in any_json(),
        typ in prop_oneof![Just("access"), Just("refresh"), Just("ACCESS"), Just("")],
        signature in prop_oneof![
            Just(Vec::new()),
            proptest::collection::vec(any::<u8>(), 32),
            proptest::collection::vec(any::<u8>(), 0..80),
        ],
        claims_extra in any_json(),
    ) {
        let k = keys(SECRET, None);
        let kid = if kid_is_ours { our_kid(&k) } else { "0011223344556677".to_owned() };
        let header = json!({ "alg": alg, "typ": "JWT", "kid": kid, "x": extra });
        let t = now();
        let claims = json!({
            "iss": "strata", "aud": "strata-api", "sub": "u", "sid": "s", "jti": "j",
            "iat": t, "nbf": t, "exp": t + 600, "typ": typ, "x": claims_extra,
        });
        let token = format!(
            "{}.{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes()),
            b64(&signature)
        );
        refused(&k, &token)?;
    }

    /// A real token with any one byte changed (to any other ASCII byte) never verifies, as
    /// either kind, also where `JWT_API_SECRET_PREVIOUS` is set.
    #[test]
    fn a_real_token_with_one_byte_changed_never_verifies(
        kind in kinds(),
        index in any::<proptest::sample::Index>(),
        mask in 1u8..=0x7f,
        rotated in any::<bool>(),
    ) {
        let signer = keys(SECRET, None);
        let verifier = if rotated { keys(OTHER, Some(SECRET)) } else { keys(SECRET, None) };
        let token = real_token(&signer, kind);
        prop_assert!(verifier.verify(kind, &token).is_ok(), "the unchanged token verifies");
        let mut bytes = token.into_bytes();
        let i = index.index(bytes.len());
        bytes[i] ^= mask;
        let mutated = String::from_utf8(bytes).unwrap();
        refused(&verifier, &mutated)?;
    }

    /// A real token cut short, extended, or with a character inserted never verifies.
    #[test]
    fn a_real_token_truncated_extended_or_spliced_never_verifies(
        kind in kinds(),
        index in any::<proptest::sample::Index>(),
        insert in any::<char>(),
        how in 0u8..4,
    ) {
        let k = keys(SECRET, None);
        let token = real_token(&k, kind);
        let chars: Vec<char> = token.chars().collect();
        let i = index.index(chars.len());
        let changed: String = match how {
            0 => chars[..i].iter().collect(),
            1 => format!("{token}{insert}"),
            2 => {
                let mut c = chars.clone();
                c.insert(i, insert);
                c.into_iter().collect()
            }
            _ => {
                let mut c = chars.clone();
                c.remove(i);
                c.into_iter().collect()
            }
        };
        prop_assume!(changed != token);
        refused(&k, &changed)?;
    }

    /// Segments of two real tokens (other kind, other user) recombined never verify.
    #[test]
    fn recombined_segments_never_verify(a in 0usize..3, b in 0usize..3, c in 0usize..3, other_first in any::<bool>()) {
        let k = keys(SECRET, None);
        let t = now();
        let x = k.sign(TokenKind::Access, "user-x", "s-x", "j-x", t, t + 600).unwrap();
        let y = k.sign(TokenKind::Refresh, "user-y", "s-y", "j-y", t, t + 900).unwrap();
        let xs: Vec<&str> = x.split('.').collect();
        let ys: Vec<&str> = y.split('.').collect();
        let (p, q) = if other_first { (&ys, &xs) } else { (&xs, &ys) };
        let token = format!("{}.{}.{}", p[a], q[b], p[c]);
        prop_assume!(token != x && token != y);
        refused(&k, &token)?;
    }

    /// What `sign` makes, `verify` gives back unchanged while it is valid in time; past
    /// `exp` (plus the leeway) it is `TokenExpired`, before `nbf` it is `TokenInvalid`,
    /// and a token never verifies as the other kind.
    #[test]
    fn signed_claims_round_trip_within_their_time(
        kind in kinds(),
        sub in any_chars(40),
        sid in any_chars(40),
        jti in any_chars(40),
        iat_off in -20_000i64..20_000,
        exp_off in -20_000i64..20_000,
    ) {
        let leeway = AuthSettings::default().leeway.as_secs() as i64;
        // Stay clear of the boundaries, so the clock moving during the test changes nothing.
        prop_assume!((iat_off - leeway).abs() > 5 && (exp_off + leeway).abs() > 5);
        let k = keys(SECRET, None);
        let t = now();
        let token = k.sign(kind, &sub, &sid, &jti, t + iat_off, t + exp_off).unwrap();
        let other = match kind { TokenKind::Access => TokenKind::Refresh, TokenKind::Refresh => TokenKind::Access };
        prop_assert!(matches!(k.verify(other, &token), Err(ServiceError::TokenInvalid)));
        let expired = exp_off < -leeway;
        let immature = iat_off > leeway;
        let r = k.verify(kind, &token);
        if token.len() > 4096 {
            prop_assert!(matches!(r, Err(ServiceError::TokenInvalid)), "{:?}", r);
        } else if expired {
            prop_assert!(matches!(r, Err(ServiceError::TokenExpired | ServiceError::TokenInvalid)), "{:?}", r);
            if !immature {
                prop_assert!(matches!(r, Err(ServiceError::TokenExpired)), "{:?}", r);
            }
        } else if immature {
            prop_assert!(matches!(r, Err(ServiceError::TokenInvalid)), "{:?}", r);
        } else {
            let c = r.unwrap();
            prop_assert_eq!((c.sub, c.sid, c.jti), (sub, sid, jti));
            prop_assert_eq!((c.iat, c.nbf, c.exp), (t + iat_off, t + iat_off, t + exp_off));
            prop_assert_eq!(c.typ.as_str(), match kind { TokenKind::Access => "access", TokenKind::Refresh => "refresh" });
        }
    }
}

/// Not sampled but exhaustive: every single-bit flip of every byte of a real token of each
/// kind (7 bits, so the byte stays ASCII) is refused, as either kind. (Any other byte
/// value at any position is sampled by the property above.)
#[test]
fn every_bit_flip_of_a_real_token_is_refused() {
    let k = keys(SECRET, None);
    for kind in [TokenKind::Access, TokenKind::Refresh] {
        let token = real_token(&k, kind);
        for i in 0..token.len() {
            for bit in 0..7 {
                let mut bytes = token.clone().into_bytes();
                bytes[i] ^= 1 << bit;
                let mutated = String::from_utf8(bytes).unwrap();
                for as_kind in [TokenKind::Access, TokenKind::Refresh] {
                    assert!(
                        k.verify(as_kind, &mutated).is_err(),
                        "{kind:?} token with bit {bit} of byte {i} flipped verified as {as_kind:?}"
                    );
                }
            }
        }
    }
}
