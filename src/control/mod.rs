//! The control API and the dashboard's server. `stress run --control 127.0.0.1:PORT` serves one
//! run; `stress web` serves the page with no run yet and starts runs from it (`POST
//! /api/start`), keeping the last one's results on screen between runs. Either way: read the
//! run's status and statistics, set users and spawn rate, reload the scripts now, reset the
//! statistics, stop; download the results (JSON, CSV, an HTML report); Prometheus's
//! `/metrics`. Bound to any other address than loopback it needs a token, and then every
//! request must carry it (`Authorization: Bearer TOKEN`). Requests must name the bound address
//! in `Host` (DNS rebinding is refused with 421). Every bad request gets a 4xx with a JSON
//! `error` message in plain words that names the field at fault. Answers are gzipped for
//! clients that accept it.

mod board;
mod downloads;
mod gzip;
pub mod input;
pub mod keys;
pub mod metrics;

use std::future::Future;
use std::net::SocketAddr;
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

pub use board::{Board, Finished, Starter};
use board::{Shown, state_word, view};
use input::Refusal;
pub use input::StartRequest;

use crate::report::{BotApiReport, ReloadEvent, Snapshot, Summary};
use crate::scheduler::{SchedulerCmd, SchedulerStatus};
use crate::script::ClassTable;
use crate::stats::aggregate::StatsMsg;
use crate::telegram::TierPools;

/// What the control API reaches of one run.
pub struct ControlState {
    pub scheduler: mpsc::UnboundedSender<SchedulerCmd>,
    pub reload: mpsc::UnboundedSender<oneshot::Sender<ReloadEvent>>,
    /// The aggregator, for resets; weak, so the statistics still end with the run.
    pub stats: mpsc::WeakUnboundedSender<StatsMsg>,
    pub status: watch::Receiver<SchedulerStatus>,
    pub snapshot: watch::Receiver<Snapshot>,
    pub table: Arc<ClassTable>,
    pub pools: TierPools,
    /// The Bot API stand-in's counts, for `/metrics`.
    pub botapi: Option<BotApiProbe>,
}

impl std::fmt::Debug for ControlState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlState")
            .field("status", &*self.status.borrow())
            .finish_non_exhaustive()
    }
}

/// Reads what the Bot API stand-in saw of the bot, while the run goes on.
#[derive(Debug, Clone)]
pub struct BotApiProbe {
    pub api: Arc<crate::botapi::BotApi>,
    pub mode: &'static str,
    pub ready_after: Option<std::time::Duration>,
}

impl BotApiProbe {
    pub fn report(&self) -> BotApiReport {
        crate::botapi::delivery::report(&self.api, self.mode, self.ready_after)
    }
}

type Shared = Arc<Board>;

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
fn host_allowed(host: &str, bound: SocketAddr) -> bool {
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
/// headers; the icon needs none); and for every POST, a JSON content type, which a page on
/// another origin cannot send without the browser asking first.
async fn guard(State(board): State<Shared>, request: Request, next: Next) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !host_allowed(host, board.bound) {
        return error(
            StatusCode::MISDIRECTED_REQUEST,
            format!(
                "Host `{host}` is not this control API's address ({}); a page may not reach \
                 it through another name",
                board.bound
            ),
        );
    }
    if let Some(token) = &board.token
        && request.uri().path() != "/favicon.ico"
    {
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

/// The run a command acts on, or the refusal when there is none going on.
fn running(board: &Board) -> Result<Arc<ControlState>, Refusal> {
    match board.shown() {
        Shown::Live(state) => Ok(state),
        Shown::Ending(_) => Err((StatusCode::SERVICE_UNAVAILABLE, ENDING.into())),
        Shown::Starting => Err((
            StatusCode::CONFLICT,
            "the run is starting: try again in a moment".into(),
        )),
        Shown::Idle(_) | Shown::Done(_) => Err((
            StatusCode::CONFLICT,
            "no run is going on: start one first (POST /api/start)".into(),
        )),
    }
}

const ENDING: &str = "the run is ending: its users are being stopped";

/// The answer to a command that came after the scheduler finished.
fn ending() -> Response {
    error(StatusCode::SERVICE_UNAVAILABLE, ENDING)
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

async fn status(State(board): State<Shared>) -> Response {
    let shown = board.shown();
    let defaults = board.starter.as_ref().map(|s| s.defaults());
    let (Shown::Live(state) | Shown::Ending(state)) = &shown else {
        let summary = match &shown {
            Shown::Done(f) => Some(&f.summary),
            _ => None,
        };
        return Json(json!({
            "state": state_word(&shown, None),
            "can_start": board.starter.is_some(),
            "start": defaults,
            "error": match &shown { Shown::Idle(why) => why.clone(), _ => None },
            "stats": summary.map(|s| json!({
                "elapsed_s": s.duration_s,
                "requests": s.totals.requests,
                "failures": s.totals.failures,
                "p50_ms": s.totals.latency_ms.p50,
                "p95_ms": s.totals.latency_ms.p95,
                "script_errors": s.totals.script_errors,
            })),
        }))
        .into_response();
    };
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
        "state": state_word(&shown, Some(&scheduler)),
        "can_start": board.starter.is_some(),
        "start": defaults,
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

async fn set_users(State(board): State<Shared>, body: axum::body::Bytes) -> Response {
    let set = match input::set_users(&body) {
        Ok(b) => b,
        Err((status, message)) => return error(status, message),
    };
    let state = match running(&board) {
        Ok(s) => s,
        Err((status, why)) => return error(status, why),
    };
    // What was not given keeps its value.
    let users = set.users.unwrap_or(state.status.borrow().goal_users);
    let slots = state.table.slots();
    let classes: Vec<_> = slots
        .iter()
        .map(|s| (s.load().decl.tier, s.weight()))
        .collect();
    if let Err(e) = crate::profile::pool_capacity(&classes, users, &state.pools) {
        return error(StatusCode::UNPROCESSABLE_ENTITY, format!("users: {e}"));
    }
    let command = SchedulerCmd::SetUsers {
        users,
        spawn_rate: set.spawn_rate,
    };
    if state.scheduler.send(command).is_err() {
        return ending();
    }
    (
        StatusCode::ACCEPTED,
        Json(json!({ "users": users, "spawn_rate": set.spawn_rate })),
    )
        .into_response()
}

async fn reload(State(board): State<Shared>) -> Response {
    let state = match running(&board) {
        Ok(s) => s,
        Err((status, why)) => return error(status, why),
    };
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

async fn stop(State(board): State<Shared>) -> Response {
    let state = match running(&board) {
        Ok(s) => s,
        Err((status, why)) => return error(status, why),
    };
    if state.scheduler.send(SchedulerCmd::Stop).is_err() {
        return ending();
    }
    board.ending();
    (StatusCode::ACCEPTED, Json(json!({ "stopping": true }))).into_response()
}

/// Starts the statistics over while the run goes on (`StatsMsg::Reset`).
async fn reset(State(board): State<Shared>) -> Response {
    let state = match running(&board) {
        Ok(s) => s,
        Err((status, why)) => return error(status, why),
    };
    match state.stats.upgrade() {
        Some(stats) if stats.send(StatsMsg::Reset).is_ok() => {
            (StatusCode::ACCEPTED, Json(json!({ "reset": true }))).into_response()
        }
        _ => ending(),
    }
}

async fn start(State(board): State<Shared>, body: axum::body::Bytes) -> Response {
    let Some(starter) = board.starter.clone() else {
        return error(
            StatusCode::CONFLICT,
            "this server shows one run (stress run --control); `stress web` starts runs",
        );
    };
    let request = match input::start(&body) {
        Ok(r) => r,
        Err((status, message)) => return error(status, message),
    };
    let previous = {
        let mut shown = board.shown.write().unwrap_or_else(|e| e.into_inner());
        match &*shown {
            Shown::Live(_) | Shown::Ending(_) | Shown::Starting => {
                return error(
                    StatusCode::CONFLICT,
                    "a run is going on: stop it first, or wait for its end",
                );
            }
            Shown::Idle(_) | Shown::Done(_) => {}
        }
        std::mem::replace(&mut *shown, Shown::Starting)
    };
    match starter.start(board.clone(), request.clone()) {
        Ok(()) => (StatusCode::ACCEPTED, Json(json!({ "starting": request }))).into_response(),
        Err(why) => {
            // A refused start leaves the last results on screen.
            board.set(previous);
            error(StatusCode::UNPROCESSABLE_ENTITY, why)
        }
    }
}

async fn prometheus(State(board): State<Shared>) -> Response {
    let (summary, status, botapi) = match board.shown() {
        Shown::Live(state) | Shown::Ending(state) => (
            state.snapshot.borrow().summary.clone(),
            state.status.borrow().clone(),
            state.botapi.as_ref().map(BotApiProbe::report),
        ),
        Shown::Done(f) => (
            Arc::new(f.summary.clone()),
            SchedulerStatus::default(),
            f.summary.botapi.clone(),
        ),
        Shown::Idle(_) | Shown::Starting => (
            Arc::new(Summary::default()),
            SchedulerStatus::default(),
            None,
        ),
    };
    let text = metrics::render(&summary, &status, botapi.as_ref());
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

async fn stats(
    State(board): State<Shared>,
    query: Result<axum::extract::Query<Since>, axum::extract::rejection::QueryRejection>,
) -> Response {
    match query {
        Ok(q) => {
            let view = view(&board, q.since);
            board.polled(matches!(view.state, "finished" | "stopped"));
            Json(view).into_response()
        }
        Err(e) => error(
            StatusCode::BAD_REQUEST,
            format!("{}; expected ?since=SECONDS", e.body_text()),
        ),
    }
}

/// What the page's script needs to know of the server it came from.
#[derive(Debug, Serialize)]
struct PageServer {
    /// `stress web`: the page shows the start form between runs.
    can_start: bool,
    start: Option<serde_json::Value>,
}

async fn page(State(board): State<Shared>) -> Response {
    let server = PageServer {
        can_start: board.starter.is_some(),
        start: board.starter.as_ref().map(|s| s.defaults()),
    };
    match crate::output::html::render_live(&view(&board, None), "stress: live", &server) {
        Ok(page) => axum::response::Html(page).into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")),
    }
}

const ENDPOINTS: &str = "GET / (dashboard), GET /api/status, GET /api/stats, POST /api/users, \
    POST /api/reload, POST /api/reset, POST /api/stop, POST /api/start (stress web), \
    GET /api/download/json, GET /api/download/csv, GET /api/report.html, GET /metrics";

async fn not_allowed() -> Response {
    error(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("wrong method: {ENDPOINTS}"),
    )
}

async fn not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        format!("no such endpoint: {ENDPOINTS}"),
    )
}

pub fn router(board: Shared) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/favicon.ico", get(downloads::favicon))
        .route("/api/stats", get(stats))
        .route("/api/status", get(status))
        .route("/api/users", post(set_users))
        .route("/api/reload", post(reload))
        .route("/api/reset", post(reset))
        .route("/api/stop", post(stop))
        .route("/api/start", post(start))
        .route("/api/download/json", get(downloads::json))
        .route("/api/download/csv", get(downloads::csv))
        .route("/api/report.html", get(downloads::report))
        .route("/metrics", get(prometheus))
        .fallback(not_found)
        .method_not_allowed_fallback(not_allowed)
        .layer(middleware::from_fn_with_state(board.clone(), guard))
        .layer(middleware::from_fn(gzip::layer))
        .with_state(board)
}

/// How long the server of one run waits, after the run's statistics are final, for a page
/// that was watching to fetch them.
const LINGER: Duration = Duration::from_secs(3);

/// Serves one run's control API (`stress run --control`) until `shutdown` resolves (the
/// users have stopped), then until the run's final statistics are published and, when a page
/// is watching, until it has fetched them ([`LINGER`] at most): it then shows the last
/// seconds and says the run ended.
pub async fn serve(
    listener: TcpListener,
    state: Arc<ControlState>,
    token: Option<String>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let board = Board::single(token, listener.local_addr()?, state.clone());
    let ended = {
        let board = board.clone();
        let mut snapshots = state.snapshot.clone();
        async move {
            shutdown.await;
            board.ending();
            // The aggregator drops its sender once the last seconds are settled.
            let settled = async { while snapshots.changed().await.is_ok() {} };
            let _ = tokio::time::timeout(Duration::from_secs(30), settled).await;
            let summary = Summary::clone(&snapshots.borrow().summary);
            let stopped = state.status.borrow().remaining_s > 0.5;
            board.finished(Finished { summary, stopped });
            board.until_seen(LINGER).await;
        }
    };
    serve_board(listener, board, ended).await
}

/// Serves a board (`stress web`'s, or one run's) until `shutdown` resolves.
pub async fn serve_board(
    listener: TcpListener,
    board: Arc<Board>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    crate::server::serve(
        listener,
        router(board),
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
