//! Text that is valid but hostile to some layer must be stored and returned exactly, in
//! every free-text member of every collection of the caller's own the document lists: SQL
//! and script metacharacters, right-to-left overrides, zero-width and byte-order marks,
//! combining marks, and astral characters up to each member's `maxLength` (characters, not
//! bytes). The bodies come from the request schemas, so a new resource is covered as soon
//! as it is documented.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::client::shorten;
use crate::spec::{Field, Op, Resource};
use crate::table::HOSTILE;
use crate::valid::{expect, send};
use crate::world::account;
use crate::{pct, Ctx, Req, Resp};

/// A hostile text, before it is cut to fit a member.
#[derive(Debug, Clone)]
enum Text {
    /// As it is: cut to the member's `maxLength`, repeated up to its `minLength`.
    As(String),
    /// This unit repeated to exactly the member's `maxLength` (or [`UNBOUNDED`]).
    Fill(&'static str),
}

/// How many characters a [`Text::Fill`] runs to in a member without a `maxLength`.
const UNBOUNDED: usize = 1000;

/// The metacharacters, right-to-left overrides, zero-width and byte-order marks, combining
/// marks, white space inside, and astral characters at the length limit.
fn hostile_texts() -> Vec<Text> {
    let mut v: Vec<Text> = HOSTILE.iter().map(|h| Text::As((*h).to_owned())).collect();
    for s in [
        "\u{202e}gnp.exe",
        "\u{202e}\u{200b}\u{feff}",
        "e\u{301}\u{301}\u{301}",
        "Z\u{351}\u{34b}\u{363}",
        "line\nbreak\ttab",
        "\r\n\r\n",
    ] {
        v.push(Text::As(s.to_owned()));
    }
    for unit in ["😀", "𝕏", "\u{10ffff}", "x", "\\\"'`"] {
        v.push(Text::Fill(unit));
    }
    v
}

impl Text {
    /// The text cut to `f`'s length limits, counted in characters, and to `budget` bytes
    /// of JSON: a fill stops there when the member's `maxLength` would not fit in a body.
    fn fit(&self, f: &Field, budget: usize) -> String {
        let (min, max) = (f.min_len.unwrap_or(0), f.max_len.unwrap_or(usize::MAX));
        let (unit, n) = match self {
            Text::Fill(unit) => {
                let json_bytes = serde_json::to_string(unit).map_or(8, |j| j.len() - 2);
                let fits = budget * unit.chars().count() / json_bytes.max(1);
                (*unit, f.max_len.unwrap_or(UNBOUNDED).min(fits))
            }
            Text::As(s) => (s.as_str(), s.chars().count().clamp(min, max)),
        };
        unit.chars().cycle().take(n).collect()
    }
}

/// Whether `value` may go in `f` expecting it back exactly: the document accepts it, and
/// it has surrounding white space only if `f` may be empty (a member that must not be is
/// checked, and may be stored, trimmed).
fn admissible(f: &Field, value: &str) -> bool {
    f.accepts(value) && (value.trim() == value || (!f.trimmed && f.min_len.unwrap_or(0) == 0))
}

/// The members sent as hostile text, by name.
type Sent = BTreeMap<String, String>;

/// A body for `op`: in every free-text member the first of `candidates(member)` that is
/// admissible once cut to fit, in every other required member a valid value. Returns the
/// body and the texts it holds.
fn hostile_body(op: &Op, candidates: impl Fn(&Field) -> Vec<Text>) -> (Value, Sent) {
    let mut body = Map::new();
    let mut sent = Sent::new();
    // The body limit shared by the free-text members, with room for the rest of the body.
    let texts = op.body.iter().flatten().filter(|f| f.is_text()).count();
    let budget = (crate::bodies::LIMIT - 4096) / texts.max(1);
    for f in op.body.iter().flatten() {
        let text = f
            .is_text()
            .then(|| {
                candidates(f)
                    .iter()
                    .map(|t| t.fit(f, budget))
                    .find(|t| admissible(f, t))
            })
            .flatten();
        if let Some(text) = text {
            body.insert(f.name.clone(), json!(text));
            sent.insert(f.name.clone(), text);
        } else if f.required {
            body.insert(f.name.clone(), f.valid_value());
        }
    }
    (Value::Object(body), sent)
}

/// Every hostile text, starting at the `n`th.
fn rotation(texts: &[Text], n: usize) -> impl Iterator<Item = Text> + '_ {
    (0..texts.len()).map(move |k| texts[(n + k) % texts.len()].clone())
}

/// Where `item` does not hold the texts sent, each as one message.
fn differences(what: &str, sent: &Sent, item: &Value) -> Vec<String> {
    sent.iter()
        .filter(|(name, text)| item[name.as_str()] != text.as_str())
        .map(|(name, text)| {
            format!(
                "{what}: {name} sent {:?}, returned {}",
                shorten(text.as_bytes()),
                shorten(item[name.as_str()].to_string().as_bytes())
            )
        })
        .collect()
}

/// Whether the answer is a 422 naming only members sent with a NUL: allowed, as not every
/// database can store NUL in text and a member may refuse it.
fn refused_for_nul(r: &Resp, sent: &Sent) -> bool {
    let with_nul: Vec<&str> = sent
        .iter()
        .filter(|(_, text)| text.contains('\0'))
        .map(|(name, _)| name.as_str())
        .collect();
    let body = r.json();
    !with_nul.is_empty()
        && r.status == 422
        && r.media_type() == "application/problem+json"
        && body["errors"].as_array().is_some_and(|errors| {
            !errors.is_empty()
                && errors
                    .iter()
                    .all(|e| with_nul.iter().any(|name| e["field"] == *name))
        })
}

/// Every item `list` shows the caller, page by page at its largest page size.
fn listed(ctx: &Ctx, token: Option<&str>, list: &Op) -> Vec<Value> {
    let limit = list.param("limit").and_then(|p| p.maximum);
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..1000 {
        let query: Vec<String> = [
            limit.map(|l| format!("limit={l}")),
            cursor.as_deref().map(|c| format!("cursor={}", pct(c))),
        ]
        .into_iter()
        .flatten()
        .collect();
        let path = if query.is_empty() {
            list.path.clone()
        } else {
            format!("{}?{}", list.path, query.join("&"))
        };
        let page = expect(ctx, Req::new("GET", path).bearer(token), 200);
        items.extend(page["items"].as_array().into_iter().flatten().cloned());
        match page["next_cursor"].as_str() {
            Some(c) if list.paged() => cursor = Some(c.to_owned()),
            _ => break,
        }
    }
    items
}

pub fn hostile_text_is_stored_and_returned_exactly_in_every_collection(ctx: &Ctx) {
    let resources = ctx.api.resources();
    assert!(
        !resources.is_empty(),
        "the document lists no collection of the caller's own (POST P, GET and PATCH P/{{id}})"
    );
    let a = account(ctx, 0);
    let token = Some(a.access.as_str());
    let mut failures = Vec::new();
    for r in &resources {
        round_trip(ctx, token, r, &mut failures);
        surrounding_white_space(ctx, token, r, &mut failures);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Every hostile text through `POST`, `GET` of the item, the list and `PATCH` (each text
/// moved to the next item, with more appended), then `GET` again.
fn round_trip(ctx: &Ctx, token: Option<&str>, r: &Resource, failures: &mut Vec<String>) {
    let texts = hostile_texts();
    let item = |id: &str| r.get.path.replace("{id}", id);
    let mut made: Vec<(String, Sent)> = Vec::new();
    for n in 0..texts.len() {
        let (body, sent) = hostile_body(r.create, |_| rotation(&texts, n).collect());
        let (req, resp) = send(
            ctx,
            Req::new("POST", r.path.clone())
                .bearer(token)
                .json(&body)
                .what(format!(
                    "POST {} {}",
                    r.path,
                    shorten(body.to_string().as_bytes())
                )),
        );
        if refused_for_nul(&resp, &sent) {
            continue;
        }
        if resp.status != 201 {
            failures.push(format!("{}: {} {}", req.what, resp.status, resp.text()));
            continue;
        }
        let created = resp.json();
        let id = created["id"].as_str().unwrap_or_default().to_owned();
        let fetched = expect(ctx, Req::new("GET", item(&id)).bearer(token), 200);
        failures.extend(differences(
            &format!("created {}", item(&id)),
            &sent,
            &created,
        ));
        failures.extend(differences(
            &format!("fetched {}", item(&id)),
            &sent,
            &fetched,
        ));
        made.push((id, sent));
    }
    // The list shows each exactly as well.
    if let Some(list) = r.list {
        let items = listed(ctx, token, list);
        for (id, sent) in &made {
            match items.iter().find(|i| i["id"] == id.as_str()) {
                Some(i) => failures.extend(differences(&format!("listed {id}"), sent, i)),
                None => failures.push(format!("GET {}: {id} is not listed", list.path)),
            }
        }
    }
    // PATCH with hostile values: each item gets the next one's texts, with more appended.
    for (n, (id, _)) in made.iter().enumerate() {
        let next = &made[(n + 1) % made.len()].1;
        let h = HOSTILE[n % HOSTILE.len()];
        let (body, sent) = hostile_body(r.update, |f| {
            let moved = next.get(&f.name).cloned().unwrap_or_else(|| h.to_owned());
            [Text::As(format!("{moved} / {h}")), Text::As(moved)]
                .into_iter()
                .chain(rotation(&texts, n))
                .collect()
        });
        let (req, resp) = send(
            ctx,
            Req::new("PATCH", item(id))
                .bearer(token)
                .json(&body)
                .what(format!(
                    "PATCH {} {}",
                    item(id),
                    shorten(body.to_string().as_bytes())
                )),
        );
        if refused_for_nul(&resp, &sent) {
            continue;
        }
        if resp.status != 200 {
            failures.push(format!("{}: {} {}", req.what, resp.status, resp.text()));
            continue;
        }
        let fetched = expect(ctx, Req::new("GET", item(id)).bearer(token), 200);
        failures.extend(differences(
            &format!("patched {}", item(id)),
            &sent,
            &resp.json(),
        ));
        failures.extend(differences(
            &format!("fetched {} after PATCH", item(id)),
            &sent,
            &fetched,
        ));
    }
}

/// Surrounding white space is trimmed where the schema says so, and kept in a member that
/// may be empty (the rest of the text is kept either way).
fn surrounding_white_space(
    ctx: &Ctx,
    token: Option<&str>,
    r: &Resource,
    failures: &mut Vec<String>,
) {
    let mut body = Map::new();
    let mut want = Sent::new();
    for f in r.create.body.iter().flatten() {
        let padded = if !f.is_text() {
            None
        } else if f.trimmed {
            Some(("  <b>bold</b> ' OR 1=1 --\t", "<b>bold</b> ' OR 1=1 --"))
        } else if f.min_len.unwrap_or(0) == 0 {
            Some(("  kept  ", "  kept  "))
        } else {
            None
        };
        match padded.filter(|(value, _)| f.accepts(value)) {
            Some((value, back)) => {
                body.insert(f.name.clone(), json!(value));
                want.insert(f.name.clone(), back.to_owned());
            }
            None if f.required => {
                body.insert(f.name.clone(), f.valid_value());
            }
            None => {}
        }
    }
    if want.is_empty() {
        return;
    }
    let got = expect(
        ctx,
        Req::new("POST", r.path.clone())
            .bearer(token)
            .json(&Value::Object(body)),
        201,
    );
    failures.extend(differences(
        &format!("POST {} with surrounding white space", r.path),
        &want,
        &got,
    ));
}
