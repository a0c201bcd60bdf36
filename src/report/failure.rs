//! Why a request failed: the stable kinds a result counts failures by.

/// Why a request failed. Stable names: they appear in reports and JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorKind {
    /// The TCP connection, TLS handshake or HTTP handshake failed.
    Connect,
    /// No complete answer within `--timeout`.
    Timeout,
    /// The connection broke while the request or answer was on it.
    Reset,
    /// The bot answered 4xx.
    Http4xx,
    /// The bot answered 5xx.
    Http5xx,
    /// Another status that is not 2xx (1xx or 3xx).
    HttpOther,
    /// An answer that is not valid HTTP, or too large.
    BadResponse,
    /// The host refused to send (a /grant or /revoke naming an id outside the test pools).
    Refused,
    /// Still in flight when the run's stop deadline passed.
    Abandoned,
    /// Telegram would not have delivered it: the bot's `allowed_updates` exclude its type, or
    /// the bot dropped its pending updates.
    NotDelivered,
}

impl ErrorKind {
    pub const ALL: [ErrorKind; 10] = [
        ErrorKind::Connect,
        ErrorKind::Timeout,
        ErrorKind::Reset,
        ErrorKind::Http4xx,
        ErrorKind::Http5xx,
        ErrorKind::HttpOther,
        ErrorKind::BadResponse,
        ErrorKind::Refused,
        ErrorKind::Abandoned,
        ErrorKind::NotDelivered,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Connect => "connect",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Reset => "reset",
            ErrorKind::Http4xx => "http_4xx",
            ErrorKind::Http5xx => "http_5xx",
            ErrorKind::HttpOther => "http_other",
            ErrorKind::BadResponse => "bad_response",
            ErrorKind::Refused => "refused",
            ErrorKind::Abandoned => "abandoned",
            ErrorKind::NotDelivered => "not_delivered",
        }
    }

    /// What the kind means, for a failure with no more to say.
    pub fn describe(self) -> &'static str {
        match self {
            ErrorKind::Connect => "the connection to the bot failed",
            ErrorKind::Timeout => "no complete answer within --timeout",
            ErrorKind::Reset => "the connection broke while the request or its answer was on it",
            ErrorKind::Http4xx => "the bot answered 4xx",
            ErrorKind::Http5xx => "the bot answered 5xx",
            ErrorKind::HttpOther => "the bot answered neither 2xx, 4xx nor 5xx",
            ErrorKind::BadResponse => "the answer was not valid HTTP/1.1, or over 1 MiB",
            ErrorKind::Refused => "the host refused to send it",
            ErrorKind::Abandoned => "still in flight at the stop deadline",
            ErrorKind::NotDelivered => "Telegram would not have delivered it to this bot",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }

    /// The failure a status stands for, if it is not a success.
    pub fn from_status(status: u16) -> Option<Self> {
        match status {
            200..=299 => None,
            400..=499 => Some(ErrorKind::Http4xx),
            500..=599 => Some(ErrorKind::Http5xx),
            _ => Some(ErrorKind::HttpOther),
        }
    }
}
