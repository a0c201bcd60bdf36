//! The control API, on a loopback port by default (`--control 127.0.0.1:PORT`): read the run's
//! status and statistics, set users and spawn rate, reload the scripts now, stop; and
//! Prometheus's `/metrics`. Bound to any other address it needs `--control-token`, and then
//! every request must carry it (`Authorization: Bearer TOKEN`). Requests must name the bound
//! address in `Host` (DNS rebinding is refused with 421). Every bad request gets a 4xx with a
//! JSON `error` message that names the field at fault.

pub mod keys;
pub mod metrics;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};

use crate::report::ReloadEvent;
use crate::report::Snapshot;
use crate::report::view::{Live, View};
use crate::scheduler::{SchedulerCmd, SchedulerStatus};
use crate::script::ClassTable;
use crate::telegram::TierPools;

/// What the control API reaches.
pub struct ControlState {
    pub scheduler: mpsc::UnboundedSender<SchedulerCmd>,
    pub reload: mpsc::UnboundedSender<oneshot::Sender<ReloadEvent>>,
    pub status: watch::Receiver<SchedulerStatus>,
    pub snapshot: watch::Receiver<Snapshot>,
    pub table: Arc<ClassTable>,
    pub pools: TierPools,
    pub token: Option<String>,
    /// The address the API is bound to: requests must name it in `Host`.
    pub bound: std::net::SocketAddr,
}

type Shared = Arc<ControlState>;

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

/// The `token` parameter of a query string.
fn url_token(query: &str) -> Option<String> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(query)
        .ok()?
        .into_iter()
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v)
}

/// Compares in time independent of where the first difference is.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether `host` (a `Host` header) names the address the API is bound to, or `localhost` on
/// its port when bound to loopback. A page on another site whose name was rebound to
/// 127.0.0.1 (DNS rebinding) sends its own name, and is refused. Bound to an unspecified
/// address (0.0.0.0), which needs a token, any name is accepted: the token is the guard.
fn host_allowed(host: &str, bound: std::net::SocketAddr) -> bool {
    if bound.ip().is_unspecified() {
        return true;
    }
    let Ok(authority) = host.parse::<axum::http::uri::Authority>() else {
        return false;
    };
    if authority.port_u16() != Some(bound.port()) {
        return false;
    }
    let name = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    match name.parse::<std::net::IpAddr>() {
        Ok(ip) => ip == bound.ip(),
        Err(_) => bound.ip().is_loopback() && name.eq_ignore_ascii_case("localhost"),
    }
}

/// Every request: a `Host` naming this API; the token when one is set (in `Authorization:
/// Bearer`, or as `?token=` on the dashboard page alone, which a browser opens without
/// headers); and for every POST, a JSON content type, which a page on another origin cannot
/// send without the browser asking first.
async fn guard(State(state): State<Shared>, request: Request, next: Next) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !host_allowed(host, state.bound) {
        return error(
            StatusCode::MISDIRECTED_REQUEST,
            format!(
                "Host `{host}` is not this control API's address ({}); a page may not reach \
                 it through another name",
                state.bound
            ),
        );
    }
    if let Some(token) = &state.token {
        let page = request.method() == axum::http::Method::GET && request.uri().path() == "/";
        let from_query = page
            .then(|| request.uri().query().and_then(url_token))
            .flatten();
        let given = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::to_string)
            .or(from_query);
        let given = given.as_deref();
        if !given.is_some_and(|g| same(g.as_bytes(), token.as_bytes())) {
            return error(
                StatusCode::UNAUTHORIZED,
                "this control API needs `Authorization: Bearer <--control-token>` (the \
                 dashboard page alone also takes ?token=)",
            );
        }
    }
    if request.method() == axum::http::Method::POST {
        let json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if !json {
            return error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "send `Content-Type: application/json` (a body of {} will do where none is needed)",
            );
        }
    }
    next.run(request).await
}

#[derive(Debug, Serialize)]
struct ClassStatus {
    index: usize,
    name: String,
    file: String,
    tier: String,
    weight: u32,
    version: u64,
    removed: bool,
    users: u64,
}

async fn status(State(state): State<Shared>) -> Response {
    let scheduler = state.status.borrow().clone();
    let snapshot = state.snapshot.borrow().clone();
    let classes: Vec<ClassStatus> = state
        .table
        .slots()
        .iter()
        .enumerate()
        .map(|(index, slot)| {
            let script = slot.load();
            ClassStatus {
                index,
                name: script.decl.name.clone(),
                file: slot.file.display().to_string(),
                tier: script.decl.tier.as_str().into(),
                weight: slot.weight(),
                version: script.version,
                removed: slot.is_removed(),
                users: scheduler.per_class.get(index).copied().unwrap_or(0),
            }
        })
        .collect();
    // The latest reload's error, if the latest reload failed (a fix clears it).
    let s = &snapshot.summary;
    let last_error = s
        .reloads
        .last()
        .filter(|r| !r.ok)
        .map(|r| r.errors.join("\n"));
    Json(json!({
        "scheduler": scheduler,
        "version": state.table.version(),
        "classes": classes,
        "stats": {
            "elapsed_s": s.duration_s,
            "users": snapshot.users,
            "requests": s.totals.requests,
            "failures": s.totals.failures,
            "rps": snapshot.rps(),
            "p50_ms": s.totals.latency_ms.p50,
            "p95_ms": s.totals.latency_ms.p95,
            "script_errors": s.totals.script_errors,
        },
        "reloads": s.reloads,
        "last_reload_error": last_error,
    }))
    .into_response()
}

/// The body of `POST /api/users`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SetUsers {
    users: u32,
    spawn_rate: Option<f64>,
}

/// The spawn rates `POST /api/users` accepts, users per second.
const SPAWN_RATES: std::ops::RangeInclusive<f64> = 0.01..=100_000.0;

type Refusal = (StatusCode, String);

fn unprocessable(message: impl Into<String>) -> Refusal {
    (StatusCode::UNPROCESSABLE_ENTITY, message.into())
}

/// Reads `POST /api/users`: a JSON object with exactly the documented fields, in range.
fn set_users_body(body: &[u8], state: &ControlState) -> Result<SetUsers, Refusal> {
    const EXPECTED: &str = "expected JSON: an object like {\"users\": 100, \"spawn_rate\": 10}";
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        (
            StatusCode::BAD_REQUEST,
            format!("the body is not JSON ({e}); {EXPECTED}"),
        )
    })?;
    if !value.is_object() {
        return Err(unprocessable(format!(
            "the body is not an object; {EXPECTED}"
        )));
    }
    let body: SetUsers =
        serde_json::from_value(value).map_err(|e| unprocessable(format!("{e}; {EXPECTED}")))?;
    if let Some(rate) = body.spawn_rate
        && !SPAWN_RATES.contains(&rate)
    {
        return Err(unprocessable(format!(
            "spawn_rate: {rate} is not between {} and {} users per second",
            SPAWN_RATES.start(),
            SPAWN_RATES.end()
        )));
    }
    let slots = state.table.slots();
    let classes: Vec<_> = slots
        .iter()
        .map(|s| (s.load().decl.tier, s.weight()))
        .collect();
    crate::profile::pool_capacity(&classes, body.users, &state.pools)
        .map_err(|e| unprocessable(format!("users: {e}")))?;
    Ok(body)
}

async fn set_users(State(state): State<Shared>, body: axum::body::Bytes) -> Response {
    let body = match set_users_body(&body, &state) {
        Ok(b) => b,
        Err((status, message)) => return error(status, message),
    };
    if state
        .scheduler
        .send(SchedulerCmd::SetUsers {
            users: body.users,
            spawn_rate: body.spawn_rate,
        })
        .is_err()
    {
        return ending();
    }
    (
        StatusCode::ACCEPTED,
        Json(json!({ "users": body.users, "spawn_rate": body.spawn_rate })),
    )
        .into_response()
}

async fn reload(State(state): State<Shared>) -> Response {
    let (tx, rx) = oneshot::channel();
    if state.reload.send(tx).is_err() {
        if state.scheduler.is_closed() {
            return ending();
        }
        return error(
            StatusCode::CONFLICT,
            "hot reload is off for this run (--no-reload)",
        );
    }
    match tokio::time::timeout(Duration::from_secs(30), rx).await {
        Ok(Ok(event)) if event.ok => Json(event).into_response(),
        Ok(Ok(event)) => (StatusCode::UNPROCESSABLE_ENTITY, Json(event)).into_response(),
        _ => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the reloader did not answer",
        ),
    }
}

async fn stop(State(state): State<Shared>) -> Response {
    if state.scheduler.send(SchedulerCmd::Stop).is_err() {
        return ending();
    }
    (StatusCode::ACCEPTED, Json(json!({ "stopping": true }))).into_response()
}

/// The answer to a command that came after the scheduler finished.
fn ending() -> Response {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "the run is ending: its users are being stopped",
    )
}

async fn prometheus(State(state): State<Shared>) -> Response {
    let summary = state.snapshot.borrow().summary.clone();
    let text = metrics::render(&summary, &state.status.borrow());
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

#[derive(Debug, Deserialize)]
struct Since {
    since: Option<u64>,
}

fn live_view(state: &ControlState, since: Option<u64>) -> View {
    let snapshot = state.snapshot.borrow().clone();
    let status = state.status.borrow().clone();
    let live = Live {
        remaining_s: status.remaining_s,
        users: status.users,
        goal_users: status.goal_users,
        spawn_rate: status.spawn_rate,
        version: state.table.version(),
        classes: state
            .table
            .slots()
            .iter()
            .enumerate()
            .map(|(i, slot)| {
                let running = status.per_class.get(i).copied().unwrap_or(0);
                (running, slot.load().version)
            })
            .collect(),
        since,
    };
    View::of(&snapshot.summary, Some(&live))
}

async fn live_stats(
    State(state): State<Shared>,
    query: Result<axum::extract::Query<Since>, axum::extract::rejection::QueryRejection>,
) -> Response {
    match query {
        Ok(q) => Json(live_view(&state, q.since)).into_response(),
        Err(e) => error(
            StatusCode::BAD_REQUEST,
            format!("{}; expected ?since=SECONDS", e.body_text()),
        ),
    }
}

async fn dashboard(State(state): State<Shared>) -> Response {
    match crate::output::html::render(&live_view(&state, None), "stress: live") {
        Ok(page) => axum::response::Html(page).into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")),
    }
}

async fn not_allowed() -> Response {
    error(
        StatusCode::METHOD_NOT_ALLOWED,
        "wrong method: GET /api/status, POST /api/users, POST /api/reload, POST /api/stop",
    )
}

async fn not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "no such endpoint: GET / (dashboard), GET /api/status, GET /api/stats, POST /api/users, \
         POST /api/reload, POST /api/stop, GET /metrics",
    )
}

pub fn router(state: Shared) -> Router {
    Router::new()
        .route("/", get(dashboard))
        .route("/api/stats", get(live_stats))
        .route("/api/status", get(status))
        .route("/api/users", post(set_users))
        .route("/api/reload", post(reload))
        .route("/api/stop", post(stop))
        .route("/metrics", get(prometheus))
        .fallback(not_found)
        .method_not_allowed_fallback(not_allowed)
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        .with_state(state)
}

/// Serves the control API until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    state: Shared,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    crate::server::serve(
        listener,
        router(state),
        crate::server::Timeouts::default(),
        shutdown,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::host_allowed;

    #[test]
    fn only_the_bound_address_or_localhost_is_a_host() {
        let loopback = "127.0.0.1:8089".parse().unwrap();
        assert!(host_allowed("127.0.0.1:8089", loopback));
        assert!(host_allowed("localhost:8089", loopback));
        assert!(host_allowed("LOCALHOST:8089", loopback));
        assert!(
            !host_allowed("attacker.example:8089", loopback),
            "DNS rebinding"
        );
        assert!(!host_allowed("127.0.0.1:9999", loopback), "another port");
        assert!(!host_allowed("127.0.0.1", loopback), "no port");
        assert!(!host_allowed("", loopback));
        let v6 = "[::1]:8089".parse().unwrap();
        assert!(host_allowed("[::1]:8089", v6));
        assert!(host_allowed("localhost:8089", v6));
        let lan = "192.0.2.7:8089".parse().unwrap();
        assert!(host_allowed("192.0.2.7:8089", lan));
        assert!(
            !host_allowed("localhost:8089", lan),
            "localhost is not a LAN address"
        );
        let any = "0.0.0.0:8089".parse().unwrap();
        assert!(
            host_allowed("anything.example:1", any),
            "the token guards a wildcard bind"
        );
    }
}
