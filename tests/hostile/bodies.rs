//! The bad bodies: wrong JSON types and shapes, deep nesting, huge strings, bodies past
//! the limit, broken encodings, wrong content types, duplicate keys.

use serde_json::{json, Value};

use crate::spec::Ty;
use crate::table::{routes, wrong_values};
use crate::world::{invalid, run_table, Expect, World};
use crate::{pct, Body, Ctx, Req};

pub fn a_wrong_json_type_in_any_field_of_any_body_is_422_naming_it(ctx: &Ctx) {
    let w = World::new(ctx);
    let mut table = Vec::new();
    for r in routes(&w) {
        for f in &r.fields {
            for v in wrong_values(f) {
                table.push((r.set(&f.name, v), invalid(&f.name)));
            }
        }
    }
    run_table(ctx, "types", &w, table);
}

pub fn bodies_that_are_not_the_right_object_are_422(ctx: &Ctx) {
    let w = World::new(ctx);
    let mut table = Vec::new();
    let failed = Expect::Problem(422, "validation_failed");
    for r in routes(&w) {
        // Not an object: scalars and arrays.
        for body in [
            "null".to_owned(),
            "true".to_owned(),
            "5".to_owned(),
            "\"text\"".to_owned(),
            "[]".to_owned(),
            "[{}]".to_owned(),
            Value::Array(vec![Value::Object(r.base.clone())]).to_string(),
        ] {
            table.push((r.raw(body.clone(), &format!("body {body}")), failed.clone()));
        }
        // A required member missing.
        for f in r.fields.iter().filter(|f| f.required) {
            let mut m = r.base.clone();
            m.remove(&f.name);
            let what = format!("without {}", f.name);
            table.push((r.raw(Value::Object(m).to_string(), &what), invalid(&f.name)));
        }
        // Unknown members, also ones that differ from a real one only in case.
        for extra in [
            "extra",
            "Password",
            "TITLE",
            "user_id",
            "id",
            "password_hash",
        ] {
            if r.base.contains_key(extra) {
                continue;
            }
            table.push((r.set(extra, json!("x")), invalid(extra)));
        }
    }
    run_table(ctx, "shapes", &w, table);
}

/// serde's derived structs also read a JSON array as the members in declaration order:
/// `["alice", "alice@example.com", "pw"]` must not register anyone. (The account's
/// deletion and the password change come last, so a wrongly accepted one does not
/// hide the others.)
pub fn an_array_of_the_right_values_in_order_is_not_a_body(ctx: &Ctx) {
    let w = World::new(ctx);
    let mut table = Vec::new();
    for r in routes(&w) {
        let in_order: Vec<Value> = r
            .fields
            .iter()
            .map(|f| r.base.get(&f.name).cloned().unwrap_or(Value::Null))
            .collect();
        let body = Value::Array(in_order).to_string();
        table.push((
            r.raw(body.clone(), &format!("body {body}")),
            Expect::Problem(422, "validation_failed"),
        ));
    }
    run_table(ctx, "shapes (arrays)", &w, table);
}

fn nested(depth: usize, objects: bool, closed: bool) -> Vec<u8> {
    let (open, close) = if objects {
        (r#"{"a":"#, "}")
    } else {
        ("[", "]")
    };
    let mut s = open.repeat(depth);
    s.push('1');
    if closed {
        s.push_str(&close.repeat(depth));
    }
    s.into_bytes()
}

pub fn ten_thousand_nested_arrays_or_objects_are_refused(ctx: &Ctx) {
    let w = World::new(ctx);
    let mut table = Vec::new();
    let refused = Expect::OneOf(vec![(400, "malformed_json"), (422, "validation_failed")]);
    for r in routes(&w) {
        for (what, body) in [
            ("10,000 nested arrays", nested(10_000, false, true)),
            ("10,000 nested objects", nested(10_000, true, true)),
            ("10,000 unclosed arrays", nested(10_000, false, false)),
            ("10,000 unclosed objects", nested(10_000, true, false)),
        ] {
            let expect = if what.contains("unclosed") {
                Expect::Problem(400, "malformed_json")
            } else {
                refused.clone()
            };
            table.push((r.raw(body, what), expect));
        }
        for field in r.fields.iter().map(|f| f.name.as_str()) {
            for (what, inner) in [
                ("10,000 nested arrays", nested(10_000, false, true)),
                ("9,000 nested objects", nested(9_000, true, true)),
            ] {
                let body = r.splice(field, &inner);
                let expect =
                    Expect::OneOf(vec![(400, "malformed_json"), (422, "validation_failed")]);
                table.push((r.raw(body, &format!("{field} = {what}")), expect));
            }
        }
    }
    run_table(ctx, "nesting", &w, table);
}

/// The largest body accepted.
/// The largest body the app reads (`api::extract::BODY_LIMIT`).
pub const LIMIT: usize = 64 * 1024;

pub fn huge_strings_up_to_the_limit_are_refused_by_their_field(ctx: &Ctx) {
    let w = World::new(ctx);
    let mut table = Vec::new();
    for r in routes(&w) {
        // A string the field's own limits allow is no attack here: a member whose
        // `maxLength` reaches the body limit is left to the round trips.
        for f in r.fields.iter().filter(|f| f.ty == Ty::Str) {
            let field = f.name.as_str();
            for total in [LIMIT - 1, LIMIT] {
                // A string that makes the body exactly `total` bytes.
                let probe = r.splice(field, b"\"\"");
                let n = total - probe.len();
                let body = r.splice(field, format!("\"{}\"", "x".repeat(n)).as_bytes());
                assert_eq!(body.len(), total);
                let value = "x".repeat(n);
                if f.accepts(&value) {
                    continue;
                }
                let expect = r.string_expect(field, &value).unwrap_or(Expect::Any4xx);
                table.push((
                    r.raw(body, &format!("{field} of {n} bytes ({total}-byte body)")),
                    expect,
                ));
            }
            // Multi-byte characters: 15,000 of them (60,000 bytes), over most length limits.
            let wide = "😀".repeat(15_000);
            if f.accepts(&wide) {
                continue;
            }
            let expect = r.string_expect(field, &wide).unwrap_or(Expect::Any4xx);
            table.push((r.set(field, json!(wide)), expect));
        }
    }
    run_table(ctx, "size (huge strings)", &w, table);
}

pub fn bodies_past_64_kib_are_413_however_they_are_sent(ctx: &Ctx) {
    let w = World::new(ctx);
    let mut table = Vec::new();
    let too_large = Expect::Problem(413, "payload_too_large");
    for r in routes(&w) {
        let field = r.fields[0].name.as_str();
        let probe = r.splice(field, b"\"\"");
        let just_over = r.splice(
            field,
            format!("\"{}\"", "x".repeat(LIMIT + 1 - probe.len())).as_bytes(),
        );
        assert_eq!(just_over.len(), LIMIT + 1);
        let mega = r.splice(field, format!("\"{}\"", "x".repeat(1 << 20)).as_bytes());
        table.push((
            r.raw(just_over.clone(), "a body of 64 KiB + 1 byte"),
            too_large.clone(),
        ));
        table.push((r.raw(mega.clone(), "a body of 1 MiB"), too_large.clone()));
        table.push((
            r.raw(Vec::new(), "64 KiB + 1 byte, chunked")
                .body(Body::Chunked(just_over)),
            too_large.clone(),
        ));
        table.push((
            r.raw(Vec::new(), "1 MiB, chunked")
                .body(Body::Chunked(mega)),
            too_large.clone(),
        ));
        table.push((
            r.raw(Vec::new(), "Content-Length: 100000000 and no body")
                .body(Body::DeclaredOnly(100_000_000)),
            too_large.clone(),
        ));
    }
    run_table(ctx, "size (past the limit)", &w, table);
}

pub fn invalid_utf8_nul_and_control_bytes_are_400(ctx: &Ctx) {
    let w = World::new(ctx);
    let mut table = Vec::new();
    let malformed = Expect::Problem(400, "malformed_json");
    for r in routes(&w) {
        let field = r.fields[0].name.as_str();
        let valid = Value::Object(r.base.clone()).to_string();
        let mut bodies: Vec<(String, Vec<u8>)> = vec![
            ("0xff in a string".into(), r.splice(field, b"\"\xff\"")),
            ("raw NUL in a string".into(), r.splice(field, b"\"a\x00b\"")),
            (
                "raw 0x01 in a string".into(),
                r.splice(field, b"\"a\x01b\""),
            ),
            (
                "raw newline in a string".into(),
                r.splice(field, b"\"a\nb\""),
            ),
            ("overlong UTF-8".into(), r.splice(field, b"\"\xc0\xaf\"")),
            (
                "UTF-8-encoded surrogate".into(),
                r.splice(field, b"\"\xed\xa0\x80\""),
            ),
            ("truncated UTF-8".into(), r.splice(field, b"\"\xe2\x82\"")),
            (
                "NUL after the document".into(),
                [valid.as_bytes(), b"\x00"].concat(),
            ),
            (
                "NUL before the document".into(),
                [b"\x00", valid.as_bytes()].concat(),
            ),
            ("NUL as a value".into(), r.splice(field, b"\x00")),
            (
                "UTF-8 byte order mark".into(),
                [b"\xef\xbb\xbf", valid.as_bytes()].concat(),
            ),
            (
                "UTF-16LE with a byte order mark".into(),
                [0xff, 0xfe]
                    .into_iter()
                    .chain(valid.encode_utf16().flat_map(u16::to_le_bytes))
                    .collect(),
            ),
            ("single quotes".into(), valid.replace('"', "'").into_bytes()),
            ("0xff in an unknown member".into(), {
                let mut m = valid.clone().into_bytes();
                m.pop();
                [m.as_slice(), b",\"x\":\"\xff\"}"].concat()
            }),
        ];
        bodies.push(("invalid escape".into(), r.splice(field, br#""\x41""#)));
        // An empty valid body has no quotes to turn into single ones: it stays valid.
        bodies
            .retain(|(what, body)| what != "single quotes" || body.as_slice() != valid.as_bytes());
        for (what, body) in bodies {
            table.push((r.raw(body, &what), malformed.clone()));
        }
    }
    run_table(ctx, "encoding", &w, table);
}

pub fn a_body_that_is_not_application_json_is_415(ctx: &Ctx) {
    let w = World::new(ctx);
    let mut table = Vec::new();
    let unsupported = Expect::Problem(415, "unsupported_media_type");
    for r in routes(&w) {
        let valid = Value::Object(r.base.clone()).to_string();
        let form: String = r
            .base
            .iter()
            .map(|(k, v)| format!("{k}={}", pct(v.as_str().unwrap_or(&v.to_string()))))
            .collect::<Vec<_>>()
            .join("&");
        let types: Vec<(Option<Vec<u8>>, Vec<u8>)> = vec![
            (None, valid.clone().into_bytes()),
            (Some(b"".to_vec()), valid.clone().into_bytes()),
            (Some(b"text/plain".to_vec()), valid.clone().into_bytes()),
            (Some(b"text/json".to_vec()), valid.clone().into_bytes()),
            (
                Some(b"application/xml".to_vec()),
                valid.clone().into_bytes(),
            ),
            (
                Some(b"application/jsonx".to_vec()),
                valid.clone().into_bytes(),
            ),
            (
                Some(b"application/json-patch".to_vec()),
                valid.clone().into_bytes(),
            ),
            (
                Some(b"application/ json".to_vec()),
                valid.clone().into_bytes(),
            ),
            (Some(b"json".to_vec()), valid.clone().into_bytes()),
            (Some(b"*/*".to_vec()), valid.clone().into_bytes()),
            (
                Some(b"application/json\xff".to_vec()),
                valid.clone().into_bytes(),
            ),
            (
                Some(b"application/x-www-form-urlencoded".to_vec()),
                form.clone().into_bytes(),
            ),
            (
                Some(b"multipart/form-data; boundary=x".to_vec()),
                format!(
                    "--x\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n{valid}\r\n--x--\r\n"
                )
                .into_bytes(),
            ),
        ];
        for (ct, body) in types {
            let shown = ct
                .as_deref()
                .map(|c| format!("Content-Type {:?}", String::from_utf8_lossy(c)))
                .unwrap_or_else(|| "no Content-Type".into());
            let mut req = Req::new(r.method, r.path.clone())
                .bearer(r.token.as_deref())
                .body(Body::Bytes(body))
                .what(format!("{} {}: {shown}", r.method, r.path))
                .aimed_at(r.name.clone());
            if let Some(ct) = ct {
                req = req.header("Content-Type", ct);
            }
            table.push((req, unsupported.clone()));
        }
    }
    run_table(ctx, "content types", &w, table);
}

pub fn duplicate_json_keys_are_422(ctx: &Ctx) {
    let w = World::new(ctx);
    let mut table = Vec::new();
    for r in routes(&w) {
        for field in r.fields.iter().map(|f| f.name.as_str()) {
            let key = Value::String(field.to_owned()).to_string();
            let valid = Value::Object(r.base.clone()).to_string();
            // The valid body with the member twice (added twice if the body lacks it):
            // the second time with the same value, another valid one, a wrong type, null.
            // One closing brace off: the last member may be an object itself.
            let open = valid.strip_suffix('}').unwrap_or(&valid);
            // An empty valid body (every member optional) takes no comma before its first.
            let comma = if open.ends_with('{') { "" } else { "," };
            let (value, prefix) = match r.base.get(field) {
                Some(v) => (v.clone(), open.to_owned()),
                None => (json!("x"), format!("{open}{comma}{key}:\"x\"")),
            };
            for second in [
                value.clone(),
                json!("other value"),
                json!(true),
                Value::Null,
            ] {
                let body = format!("{prefix},{key}:{second}}}");
                table.push((
                    r.raw(body, &format!("{field} twice, then {second}")),
                    Expect::Problem(422, "validation_failed"),
                ));
            }
        }
    }
    run_table(ctx, "duplicates", &w, table);
}
