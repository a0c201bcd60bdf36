//! getFile and file downloads: a file id the stand-in gave out (in a user's update or a bot's
//! result) maps back to its file (`telegram::media`), and `GET /file/bot<token>/<file_path>`
//! serves the built-in bytes, as many as the update's `file_size` promised.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::validate::Checked;
use super::{ApiError, BotApi};
use crate::telegram::media::{self, FileRef};

/// The File getFile answers for a file id: with a `file_path` when the stand-in has the bytes.
pub(super) fn get_file(p: &Checked) -> Result<Value, ApiError> {
    let file_id = p.str("file_id").unwrap_or_default();
    let invalid = || ApiError::bad_request("invalid file_id");
    let mut file = json!({"file_id": file_id, "file_unique_id": media::unique_id(file_id)});
    match media::lookup(file_id).ok_or_else(invalid)? {
        FileRef::Sample(f) => {
            file["file_size"] = json!(f.bytes.len());
            file["file_path"] = json!(f.path);
        }
        // A file made up for a bot's result (a video it sent): Telegram gives no path for a
        // file it cannot serve, and neither does the stand-in.
        FileRef::Unstored => {}
    }
    Ok(file)
}

/// `GET /file/bot<token>/<file_path>`: the file's bytes, with the token checked as for a method.
pub(super) async fn download(
    State(api): State<Arc<BotApi>>,
    Path((bot_token, file_path)): Path<(String, String)>,
) -> Response {
    let Some(token) = bot_token.strip_prefix("bot") else {
        return ApiError::new(404, "Not Found").into_response();
    };
    if let Err(e) = api.authorize(token) {
        return e.into_response();
    }
    match media::by_path(&file_path) {
        Some(f) => ([(header::CONTENT_TYPE, f.mime_type)], f.bytes).into_response(),
        None => ApiError::new(404, "Not Found").into_response(),
    }
}
