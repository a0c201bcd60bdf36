//! The dashboard's downloads, written by the same code as the result files: the result JSON
//! (`--json`'s, marked partial while the run goes on), Locust's CSV files (`--csv`'s) and the
//! HTML report (`--html`'s); and the page's icon.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::input::Refusal;
use super::{Shared, Shown, error};
use crate::output::{csv as locust, files, html};
use crate::report::{Summary, View};

/// The shown run's result so far (partial while it goes on), or the refusal when there is none.
fn result(board: &Shared) -> Result<Arc<Summary>, Refusal> {
    match board.shown() {
        Shown::Live(state) | Shown::Ending(state) => {
            let mut summary = Summary::clone(&state.snapshot.borrow().summary);
            summary.partial = true;
            Ok(Arc::new(summary))
        }
        Shown::Done(f) => Ok(Arc::new(f.summary.clone())),
        Shown::Idle(_) | Shown::Starting => Err((
            StatusCode::CONFLICT,
            "no results yet: start a run first".into(),
        )),
    }
}

/// A file to save: its type, and the name a browser saves it under.
fn attachment(content_type: &'static str, name: String, body: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        body,
    )
        .into_response()
}

/// `stress-2026-12-03T09-30-00Z`: the run's start, safe in a file name.
fn stem(summary: &Summary) -> String {
    let at = summary.started_at.replace(':', "-");
    if at.is_empty() {
        "stress".into()
    } else {
        format!("stress-{at}")
    }
}

fn failed(e: anyhow::Error) -> Response {
    error(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}"))
}

/// `GET /api/download/json`: the result as `--json` writes it.
pub(super) async fn json(State(board): State<Shared>) -> Response {
    let summary = match result(&board) {
        Ok(s) => s,
        Err((status, why)) => return error(status, why),
    };
    match files::json(&summary) {
        Ok(body) => attachment("application/json", format!("{}.json", stem(&summary)), body),
        Err(e) => failed(e),
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct CsvFile {
    file: Option<String>,
}

/// `GET /api/download/csv?file=stats|history|failures`: one of Locust's three files
/// (`stats` when not named).
pub(super) async fn csv(
    State(board): State<Shared>,
    query: Result<Query<CsvFile>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let file = match query {
        Ok(Query(q)) => q.file.unwrap_or_else(|| "stats".into()),
        Err(e) => return error(StatusCode::BAD_REQUEST, e.body_text()),
    };
    let render = match file.as_str() {
        "stats" => locust::stats,
        "history" => locust::history,
        "failures" => locust::failures,
        other => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("file `{other}`: choose stats, history or failures"),
            );
        }
    };
    let summary = match result(&board) {
        Ok(s) => s,
        Err((status, why)) => return error(status, why),
    };
    match render(&summary) {
        Ok(body) => attachment(
            "text/csv; charset=utf-8",
            format!("{}_{file}.csv", stem(&summary)),
            body,
        ),
        Err(e) => failed(e),
    }
}

/// `GET /api/report.html`: the HTML report of the run so far (or of the finished run),
/// self-contained as `--html`'s.
pub(super) async fn report(State(board): State<Shared>) -> Response {
    let summary = match result(&board) {
        Ok(s) => s,
        Err((status, why)) => return error(status, why),
    };
    match html::render(&View::of(&summary, None), "stress report") {
        Ok(page) => attachment(
            "text/html; charset=utf-8",
            format!("{}.html", stem(&summary)),
            page.into_bytes(),
        ),
        Err(e) => failed(e),
    }
}

/// The page's icon (a bar chart), for a browser that asks for `/favicon.ico` anyway.
pub(super) async fn favicon() -> Response {
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "max-age=86400"),
        ],
        ICON,
    )
        .into_response()
}

/// The icon (the page inlines the same one).
const ICON: &str = "<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'>\
    <rect width='16' height='16' rx='3' fill='#2f6fde'/>\
    <rect x='3' y='8' width='2.5' height='5' fill='#fff'/>\
    <rect x='6.75' y='5' width='2.5' height='8' fill='#fff'/>\
    <rect x='10.5' y='3' width='2.5' height='10' fill='#fff'/></svg>";
