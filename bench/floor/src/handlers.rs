//! The floor's routes: the paths and JSON shapes of strata's, with nothing but the I/O.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

use crate::db::{self, Db, TaskRow, UserRow};
use crate::store::{Pair, Rotate, Rotation, Store};
use crate::tokens::{Keys, Kind};

/// Lifetimes, in seconds (grace in milliseconds).
pub struct Lifetimes {
    pub access: i64,
    pub refresh: i64,
    pub session_max: i64,
    pub grace_ms: i64,
}

/// Everything a handler needs, shared by the workers.
pub struct State {
    pub keys: Keys,
    pub store: Store,
    pub db: Db,
    pub lifetimes: Lifetimes,
    pub bcrypt: Semaphore,
}

type Data = web::Data<State>;

fn utc(t: NaiveDateTime) -> DateTime<Utc> {
    t.and_utc()
}

fn now_micros() -> NaiveDateTime {
    let now = Utc::now().naive_utc();
    let micros = now.and_utc().timestamp_micros();
    DateTime::from_timestamp_micros(micros)
        .map(|t| t.naive_utc())
        .unwrap_or(now)
}

fn problem(status: u16, code: &str) -> HttpResponse {
    let status = actix_web::http::StatusCode::from_u16(status)
        .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR);
    HttpResponse::build(status)
        .content_type("application/problem+json")
        .body(format!(
            r#"{{"status":{},"code":"{code}"}}"#,
            status.as_u16()
        ))
}

fn internal(e: String) -> HttpResponse {
    eprintln!("floor: {e}");
    problem(500, "internal_error")
}

#[derive(Serialize)]
struct UserView {
    id: String,
    username: String,
    email: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<UserRow> for UserView {
    fn from(u: UserRow) -> Self {
        Self {
            id: u.id,
            username: u.username,
            email: u.email,
            created_at: utc(u.created_at),
            updated_at: utc(u.updated_at),
        }
    }
}

#[derive(Serialize)]
struct TaskView {
    id: String,
    title: String,
    description: Option<String>,
    done: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<TaskRow> for TaskView {
    fn from(t: TaskRow) -> Self {
        Self {
            id: t.id,
            title: t.title,
            description: t.description,
            done: t.done,
            created_at: utc(t.created_at),
            updated_at: utc(t.updated_at),
        }
    }
}

#[derive(Serialize)]
struct TaskPage {
    items: Vec<TaskView>,
    next_cursor: Option<String>,
}

#[derive(Serialize)]
struct Tokens {
    access_token: String,
    refresh_token: String,
    token_type: &'static str,
    expires_in: i64,
    refresh_expires_in: i64,
    session_id: String,
}

/// JWT verify, then one token-store round trip; the user id, or the 401 to send.
async fn principal(st: &State, req: &HttpRequest) -> Result<String, HttpResponse> {
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| problem(401, "token_missing"))?;
    let claims = st
        .keys
        .verify(Kind::Access, token)
        .ok_or_else(|| problem(401, "token_invalid"))?;
    match st
        .store
        .authenticate(&claims.sid, &claims.jti, &claims.sub)
        .await
    {
        Ok(Some(uid)) if uid == claims.sub => Ok(uid),
        Ok(_) => Err(problem(401, "token_revoked")),
        Err(e) => Err(internal(e)),
    }
}

/// `GET /health`.
pub async fn health() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(r#"{"status":"ok"}"#)
}

/// `GET /api/users/me`: verify, HMGET, one primary-key select.
pub async fn me(st: Data, req: HttpRequest) -> HttpResponse {
    let uid = match principal(&st, &req).await {
        Ok(uid) => uid,
        Err(r) => return r,
    };
    match st.db.run(move |c| db::user_by_id(c, &uid)).await {
        Ok(Some(u)) => HttpResponse::Ok().json(UserView::from(u)),
        Ok(None) => problem(401, "token_revoked"),
        Err(e) => internal(e),
    }
}

/// The list query (only `limit` matters here).
#[derive(Deserialize)]
pub struct ListQuery {
    limit: Option<u32>,
}

/// `GET /api/tasks`: verify, HMGET, one keyset select of `limit + 1` rows.
pub async fn list_tasks(st: Data, req: HttpRequest, q: web::Query<ListQuery>) -> HttpResponse {
    let uid = match principal(&st, &req).await {
        Ok(uid) => uid,
        Err(r) => return r,
    };
    let limit = i64::from(q.limit.unwrap_or(20).clamp(1, 100));
    match st.db.run(move |c| db::tasks_page(c, &uid, limit + 1)).await {
        Ok(mut rows) => {
            let next_cursor = if rows.len() as i64 > limit {
                rows.truncate(limit as usize);
                rows.last().map(|t| t.id.clone())
            } else {
                None
            };
            let items = rows.into_iter().map(TaskView::from).collect();
            HttpResponse::Ok().json(TaskPage { items, next_cursor })
        }
        Err(e) => internal(e),
    }
}

/// A new task.
#[derive(Deserialize)]
pub struct NewTask {
    title: String,
    description: Option<String>,
    done: Option<bool>,
}

/// `POST /api/tasks`: verify, HMGET, one insert.
pub async fn create_task(st: Data, req: HttpRequest, body: web::Json<NewTask>) -> HttpResponse {
    let uid = match principal(&st, &req).await {
        Ok(uid) => uid,
        Err(r) => return r,
    };
    let body = body.into_inner();
    let title = body.title.trim().to_owned();
    if title.is_empty() || title.chars().count() > 200 {
        return problem(422, "validation_failed");
    }
    let now = now_micros();
    let row = TaskRow {
        id: uuid::Uuid::now_v7().to_string(),
        user_id: uid,
        title,
        description: body.description,
        done: body.done.unwrap_or(false),
        created_at: now,
        updated_at: now,
    };
    match st
        .db
        .write(move |c| db::insert_task(c, &row).map(|_| row))
        .await
    {
        Ok(row) => HttpResponse::Created()
            .insert_header((header::LOCATION, format!("/api/tasks/{}", row.id)))
            .json(TaskView::from(row)),
        Err(e) => internal(e),
    }
}

fn tokens(st: &State, uid: &str, sid: &str, pair: &Pair) -> HttpResponse {
    let now = Utc::now().timestamp();
    let k = &st.keys;
    let signed = k
        .sign(
            Kind::Access,
            uid,
            sid,
            &pair.access_jti,
            pair.iat,
            pair.aexp,
        )
        .and_then(|a| {
            k.sign(
                Kind::Refresh,
                uid,
                sid,
                &pair.refresh_jti,
                pair.iat,
                pair.rexp,
            )
            .map(|r| (a, r))
        });
    match signed {
        Ok((access_token, refresh_token)) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(Tokens {
                access_token,
                refresh_token,
                token_type: "Bearer",
                expires_in: (pair.aexp - now).max(0),
                refresh_expires_in: (pair.rexp - now).max(0),
                session_id: sid.to_owned(),
            }),
        Err(e) => internal(e),
    }
}

/// A refresh token to exchange.
#[derive(Deserialize)]
pub struct RefreshBody {
    refresh_token: String,
}

/// `POST /api/auth/refresh`: verify, one script call (strata's rotation), sign two tokens.
pub async fn refresh(st: Data, body: web::Json<RefreshBody>) -> HttpResponse {
    let Some(claims) = st.keys.verify(Kind::Refresh, &body.refresh_token) else {
        return problem(401, "token_invalid");
    };
    let (new_access, new_refresh) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    let rotation = st
        .store
        .rotate(&Rotate {
            uid: &claims.sub,
            sid: &claims.sid,
            presented: &claims.jti,
            new_access: &new_access.to_string(),
            new_refresh: &new_refresh.to_string(),
            now_ms: Utc::now().timestamp_millis(),
            grace_ms: st.lifetimes.grace_ms,
            access_ttl: st.lifetimes.access,
            refresh_ttl: st.lifetimes.refresh,
        })
        .await;
    match rotation {
        Ok(Rotation::Pair(uid, pair)) if uid == claims.sub => tokens(&st, &uid, &claims.sid, &pair),
        Ok(_) => problem(401, "token_revoked"),
        Err(e) => internal(e),
    }
}

/// A login by username.
#[derive(Deserialize)]
pub struct LoginBody {
    username: String,
    password: String,
}

/// The password check a login needs, by the algorithm the stored hash names.
fn verify(password: &str, hash: &str) -> bool {
    use argon2::password_hash::PasswordVerifier;
    if hash.starts_with("$argon2") {
        argon2::PasswordHash::new(hash).is_ok_and(|h| {
            argon2::Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
    } else {
        bcrypt::verify(password, hash).unwrap_or(false)
    }
}

/// `POST /api/auth/login`: one select by username, bcrypt on the blocking threads (as many
/// at once as cores), one pipeline creating the session, two signatures.
pub async fn login(st: Data, body: web::Json<LoginBody>) -> HttpResponse {
    let LoginBody { username, password } = body.into_inner();
    let name = username.trim().to_lowercase();
    let creds = match st.db.run(move |c| db::credentials(c, &name)).await {
        Ok(Some(c)) => c,
        Ok(None) => return problem(401, "invalid_credentials"),
        Err(e) => return internal(e),
    };
    let (uid, hash) = creds;
    let ok = {
        let Ok(_permit) = st.bcrypt.acquire().await else {
            return internal("bcrypt semaphore closed".into());
        };
        tokio::task::spawn_blocking(move || verify(&password, &hash))
            .await
            .unwrap_or(false)
    };
    if !ok {
        return problem(401, "invalid_credentials");
    }
    let now = Utc::now().timestamp();
    let cap = now + st.lifetimes.session_max;
    let sid = uuid::Uuid::new_v4().to_string();
    let pair = Pair {
        access_jti: uuid::Uuid::new_v4().to_string(),
        refresh_jti: uuid::Uuid::new_v4().to_string(),
        iat: now,
        aexp: (now + st.lifetimes.access).min(cap),
        rexp: (now + st.lifetimes.refresh).min(cap),
    };
    match st.store.create_session(&sid, &uid, &pair, cap).await {
        Ok(()) => tokens(&st, &uid, &sid, &pair),
        Err(e) => internal(e),
    }
}
