//! An in-memory transport: the request goes straight to a router (the demo bot's) without a
//! socket. Deterministic and fast; used by `stress check --dry-run` and tests.

use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use bytes::Bytes;
use http_body_util::BodyExt;
use tower::ServiceExt;

use super::{MAX_RESPONSE_BYTES, Posted, Response};
use crate::report::ErrorKind;

#[derive(Debug, Clone)]
pub struct MemoryTransport {
    router: Router,
    path: String,
    secret: Option<String>,
}

impl MemoryTransport {
    pub fn new(router: Router, path: impl Into<String>, secret: Option<String>) -> Self {
        Self {
            router,
            path: path.into(),
            secret,
        }
    }

    pub async fn post(&self, body: Bytes) -> Posted {
        let started = Instant::now();
        let mut request = axum::http::Request::post(&self.path)
            .header(axum::http::header::CONTENT_TYPE, "application/json");
        if let Some(secret) = &self.secret {
            request = request.header(crate::telegram::SECRET_HEADER, secret);
        }
        let request = request
            .body(Body::from(body))
            .expect("a POST with valid headers builds");
        let result = match self.router.clone().oneshot(request).await {
            Ok(response) => {
                let status = response.status().as_u16();
                let content_type = response
                    .headers()
                    .get(axum::http::header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                match http_body_util::Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
                    .collect()
                    .await
                {
                    Ok(body) => Ok(Response {
                        status,
                        content_type,
                        body: body.to_bytes(),
                    }),
                    // The demo bot's injected resets fail the body mid-way.
                    Err(_) => Err(ErrorKind::Reset),
                }
            }
            Err(never) => match never {},
        };
        Posted {
            result,
            detail: None,
            started,
            latency: started.elapsed(),
            queued: Duration::ZERO,
            polled: None,
        }
    }
}
