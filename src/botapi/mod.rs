//! The Bot API stand-in: the server a bot under test calls instead of api.telegram.org.
//!
//! It answers `/bot<token>/<method>` with the shapes real frameworks parse, records the webhook
//! the bot registers, and hands every message the bot sends to whoever waits on that chat
//! ([`hub`]), which is how a run measures reply latency. A bot's webhook response body, when it
//! carries a method call, goes through the same path ([`webhook_reply`]). Methods without a
//! hand-written handler are answered from the Bot API's description ([`spec`]), and the files
//! users send can be fetched (getFile, `/file/bot<token>/<file_path>`).

pub mod delivery;
mod files;
pub mod gate;
mod generate;
pub mod hub;
pub mod methods;
pub mod params;
pub mod polling;
pub mod spec;
mod surface;
mod validate;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use serde_json::Value;
use tokio::net::TcpListener;

use gate::Admission;
pub use hub::{ChatInbox, Collected, ReplyHub, Settle};
pub use methods::{ApiConfig, ApiStats, BotApi, WebhookRegistration};
pub use surface::NOT_GENERATED;

use crate::telegram::Via;
pub use params::{Params, ParamsError};

use crate::telegram::ApiResponse;

/// A failed method call, answered as `{"ok":false,"error_code":N,"description":..}` with N as
/// the HTTP status, as Telegram does.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code} {description}")]
pub struct ApiError {
    pub code: u16,
    pub description: String,
    /// A 429's `parameters.retry_after`, in seconds.
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(code: u16, description: impl Into<String>) -> Self {
        Self {
            code,
            description: description.into(),
            retry_after: None,
        }
    }

    pub fn bad_request(what: impl AsRef<str>) -> Self {
        Self::new(400, format!("Bad Request: {}", what.as_ref()))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.code).unwrap_or(StatusCode::BAD_REQUEST);
        let body = ApiResponse {
            ok: false,
            result: None,
            error_code: Some(self.code),
            description: Some(self.description),
            parameters: self
                .retry_after
                .map(|s| crate::telegram::types::ResponseParameters {
                    retry_after: Some(s),
                }),
        };
        (status, axum::Json(body)).into_response()
    }
}

fn ok(result: Value) -> Response {
    let body = ApiResponse {
        ok: true,
        result: Some(result),
        error_code: None,
        description: None,
        parameters: None,
    };
    axum::Json(body).into_response()
}

/// The stand-in's routes: `/bot<token>/<method>` (any HTTP method),
/// `/file/bot<token>/<file_path>` and `/_stress/stats`.
pub fn router(api: Arc<BotApi>) -> Router {
    Router::new()
        .route("/{bot_token}/{method}", any(handle))
        .route("/file/{bot_token}/{*file_path}", get(files::download))
        .route("/_stress/stats", get(stats))
        .layer(DefaultBodyLimit::max(params::MAX_BODY_BYTES))
        .with_state(api)
}

/// Serves the stand-in on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    api: Arc<BotApi>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    crate::server::serve(
        listener,
        router(api),
        crate::server::Timeouts::default(),
        shutdown,
    )
    .await
}

async fn stats(State(api): State<Arc<BotApi>>) -> Response {
    axum::Json(api.stats()).into_response()
}

async fn handle(
    State(api): State<Arc<BotApi>>,
    Path((bot_token, method)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let Some(token) = bot_token.strip_prefix("bot") else {
        return ApiError::new(404, "Not Found").into_response();
    };
    if let Err(e) = api.authorize(token) {
        return e.into_response();
    }
    let body = match body {
        Ok(b) => b,
        Err(e) => {
            return ApiError::new(e.status().as_u16(), format!("Bad Request: {e}")).into_response();
        }
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let params = match Params::parse(content_type, query.as_deref(), body).await {
        Ok(p) => p,
        Err(e) => return ApiError::bad_request(e.to_string()).into_response(),
    };
    if method.eq_ignore_ascii_case("getUpdates") {
        api.delivery().note_call();
        return match api.delivery().get_updates(&params).await {
            Ok(updates) => updates_response(updates),
            Err(e) => e.into_response(),
        };
    }
    match api.admit(&method, &params) {
        Admission::Pass => {}
        Admission::Slow(d) => tokio::time::sleep(d).await,
        Admission::Refuse(e) => return e.into_response(),
        Admission::Reset => return crate::server::reset_response(),
        Admission::Hold(d) => {
            tokio::time::sleep(d).await;
            return ApiError::new(504, "Gateway Timeout").into_response();
        }
    }
    match api.call(&method, params, Via::Api) {
        Ok(result) => ok(result),
        Err(e) => e.into_response(),
    }
}

/// `{"ok":true,"result":[...]}` around updates already serialized.
fn updates_response(updates: Bytes) -> Response {
    let mut body = Vec::with_capacity(updates.len() + 24);
    body.extend_from_slice(br#"{"ok":true,"result":"#);
    body.extend_from_slice(&updates);
    body.push(b'}');
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Runs the method call a bot put in its answer to a webhook POST, if it put one there.
///
/// `None` when the body is empty or names no `method` (an ordinary acknowledgement).
pub async fn webhook_reply(
    api: &BotApi,
    content_type: Option<&str>,
    body: Bytes,
) -> Option<Result<Value, ApiError>> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return None;
    }
    // Telegram ignores an answer it cannot read as a method call ("OK", "[]", HTML, ...).
    let mut params = Params::parse(content_type, None, body).await.ok()?;
    let method = params.take_str("method")?;
    // A call in the body meets the same rules; one dropped or held is lost (nobody reads the
    // answer to it).
    match api.admit(&method, &params) {
        Admission::Pass | Admission::Slow(_) => Some(api.call(&method, params, Via::WebhookBody)),
        Admission::Refuse(e) => Some(Err(e)),
        Admission::Reset | Admission::Hold(_) => Some(Err(ApiError::new(504, "Gateway Timeout"))),
    }
}
