//! The one error type of the API and its JSON envelope.
//!
//! Every failure a client can see is an `ApiError`: a stable UPPER_SNAKE code, an HTTP status
//! that follows from the code, a message written for the client, and optional structured
//! details (the field at fault, the existing room id, ...). Vendor failures are translated
//! into these codes before they get here; raw vendor bodies and secrets never do.

use serde_json::{json, Map, Value};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidJson,
    InvalidRequest,
    UnknownField,
    PayloadTooLarge,
    UnsupportedMediaType,
    Unauthenticated,
    Forbidden,
    RouteNotFound,
    MethodNotAllowed,
    ProjectNotFound,
    KeyNotFound,
    RoomNotFound,
    RoomNameTaken,
    RoomNotReady,
    ParticipantNotFound,
    ParticipantBanned,
    BanNotFound,
    RecordingNotFound,
    SessionNotFound,
    WebhookNotFound,
    CapabilityNotFound,
    UnknownVendor,
    VendorUnavailable,
    VendorMismatch,
    VendorAuthFailed,
    VendorTimeout,
    VendorRateLimited,
    VendorRejected,
    GrantNotSupported,
    UnsupportedByVendor,
    DestinationNotConfigured,
    IdempotencyKeyReused,
    ConflictingFields,
    IdempotencyInProgress,
    IdentityNotSupported,
    RecordingUnconfirmed,
    DestinationUnsupported,
    // Live streams.
    StreamNotFound,
    StreamUnconfirmed,
    StreamEnded,
    StreamOutputsRefused,
    // Recording destinations.
    DestinationNotAllowed,
    DestinationNotFound,
    DestinationExists,
    EncryptionNotConfigured,
    // Room messages.
    MessageTooLarge,
    RoomNotLive,
    // Timed sessions.
    DeadlineOutOfRange,
    // Limits (`crate::api::limits`).
    RateLimited,
    QuotaExceeded,
    Internal,
    // Storage.
    StorageUnavailable,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        use ErrorCode::*;
        match self {
            InvalidJson => "INVALID_JSON",
            InvalidRequest => "INVALID_REQUEST",
            UnknownField => "UNKNOWN_FIELD",
            PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            Unauthenticated => "UNAUTHENTICATED",
            Forbidden => "FORBIDDEN",
            RouteNotFound => "ROUTE_NOT_FOUND",
            MethodNotAllowed => "METHOD_NOT_ALLOWED",
            ProjectNotFound => "PROJECT_NOT_FOUND",
            KeyNotFound => "KEY_NOT_FOUND",
            RoomNotFound => "ROOM_NOT_FOUND",
            RoomNameTaken => "ROOM_NAME_TAKEN",
            RoomNotReady => "ROOM_NOT_READY",
            ParticipantNotFound => "PARTICIPANT_NOT_FOUND",
            ParticipantBanned => "PARTICIPANT_BANNED",
            BanNotFound => "BAN_NOT_FOUND",
            RecordingNotFound => "RECORDING_NOT_FOUND",
            SessionNotFound => "SESSION_NOT_FOUND",
            WebhookNotFound => "WEBHOOK_NOT_FOUND",
            CapabilityNotFound => "CAPABILITY_NOT_FOUND",
            UnknownVendor => "UNKNOWN_VENDOR",
            VendorUnavailable => "VENDOR_UNAVAILABLE",
            VendorMismatch => "VENDOR_MISMATCH",
            VendorAuthFailed => "VENDOR_AUTH_FAILED",
            VendorTimeout => "VENDOR_TIMEOUT",
            VendorRateLimited => "VENDOR_RATE_LIMITED",
            VendorRejected => "VENDOR_REJECTED",
            GrantNotSupported => "GRANT_NOT_SUPPORTED",
            UnsupportedByVendor => "UNSUPPORTED_BY_VENDOR",
            DestinationNotConfigured => "DESTINATION_NOT_CONFIGURED",
            IdempotencyKeyReused => "IDEMPOTENCY_KEY_REUSED",
            ConflictingFields => "CONFLICTING_FIELDS",
            IdentityNotSupported => "IDENTITY_NOT_SUPPORTED",
            IdempotencyInProgress => "IDEMPOTENCY_IN_PROGRESS",
            RecordingUnconfirmed => "RECORDING_UNCONFIRMED",
            StreamNotFound => "STREAM_NOT_FOUND",
            StreamUnconfirmed => "STREAM_UNCONFIRMED",
            StreamEnded => "STREAM_ENDED",
            StreamOutputsRefused => "STREAM_OUTPUTS_REFUSED",
            DestinationUnsupported => "DESTINATION_UNSUPPORTED",
            DestinationNotAllowed => "DESTINATION_NOT_ALLOWED",
            DestinationNotFound => "DESTINATION_NOT_FOUND",
            DestinationExists => "DESTINATION_EXISTS",
            EncryptionNotConfigured => "ENCRYPTION_NOT_CONFIGURED",
            MessageTooLarge => "MESSAGE_TOO_LARGE",
            RoomNotLive => "ROOM_NOT_LIVE",
            DeadlineOutOfRange => "DEADLINE_OUT_OF_RANGE",
            RateLimited => "RATE_LIMITED",
            QuotaExceeded => "QUOTA_EXCEEDED",
            Internal => "INTERNAL",
            StorageUnavailable => "STORAGE_UNAVAILABLE",
        }
    }

    pub fn status(self) -> u16 {
        use ErrorCode::*;
        match self {
            InvalidJson | InvalidRequest | UnknownField | UnknownVendor => 400,
            Unauthenticated => 401,
            Forbidden | ParticipantBanned => 403,
            RouteNotFound | ProjectNotFound | KeyNotFound | RoomNotFound | ParticipantNotFound | RecordingNotFound
            | SessionNotFound | WebhookNotFound | CapabilityNotFound | BanNotFound => 404,
            MethodNotAllowed => 405,
            RoomNameTaken | RoomNotReady | VendorMismatch | IdempotencyInProgress | RecordingUnconfirmed => 409,
            PayloadTooLarge => 413,
            UnsupportedMediaType => 415,
            VendorUnavailable
            | GrantNotSupported
            | IdentityNotSupported
            | DestinationNotConfigured
            | IdempotencyKeyReused
            | ConflictingFields
            | UnsupportedByVendor
            | DestinationUnsupported => 422,
            // Live streams.
            StreamNotFound => 404,
            StreamUnconfirmed | StreamEnded => 409,
            StreamOutputsRefused => 422,
            // Recording destinations.
            DestinationNotFound => 404,
            DestinationExists => 409,
            DestinationNotAllowed | EncryptionNotConfigured => 422,
            // Room messages.
            MessageTooLarge => 413,
            RoomNotLive => 409,
            // Timed sessions: a well-formed deadline that cannot be kept (past, or beyond the
            // longest session).
            DeadlineOutOfRange => 422,
            // Limits.
            QuotaExceeded => 422,
            RateLimited => 429,
            Internal => 500,
            VendorAuthFailed | VendorRejected => 502,
            VendorRateLimited | StorageUnavailable => 503,
            VendorTimeout => 504,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ApiError {
    pub code: ErrorCode,
    /// Overrides `code.status()` where one code spans statuses (a vendor that is down is a
    /// 502, an unconfigured one a 422; both are VENDOR_UNAVAILABLE).
    pub status: Option<u16>,
    pub message: String,
    pub details: Map<String, Value>,
    pub headers: Vec<(String, String)>,
    /// Why it happened, for the log line written when the error is answered (an internal
    /// failure, a vendor's own text); never part of the response.
    cause: Option<String>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError { code, status: None, message: message.into(), details: Map::new(), headers: Vec::new(), cause: None }
    }

    pub fn with_status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    pub fn with_detail(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.details.insert(key.to_owned(), value.into());
        self
    }

    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    /// Keeps `cause` for the log line written when this error is answered.
    pub fn with_cause(mut self, cause: impl Into<String>) -> Self {
        self.cause = Some(cause.into());
        self
    }

    /// What to log about this error: its cause, or else what the client is told.
    pub fn log_text(&self) -> &str {
        self.cause.as_deref().unwrap_or(&self.message)
    }

    pub fn status(&self) -> u16 {
        self.status.unwrap_or_else(|| self.code.status())
    }

    /// A missing, ill-typed or out-of-range field.
    pub fn invalid_field(field: &str, message: impl Into<String>) -> Self {
        ApiError::new(ErrorCode::InvalidRequest, message).with_detail("field", field)
    }

    pub fn unauthenticated(message: impl Into<String>) -> Self {
        ApiError::new(ErrorCode::Unauthenticated, message).with_header("WWW-Authenticate", "Bearer")
    }

    /// An internal failure. `cause` goes to the log line only; the client sees a fixed text.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        ApiError::new(ErrorCode::Internal, "internal error; retry later or report the request_id")
            .with_cause(cause.to_string())
    }

    pub fn room_not_found(room: &str) -> Self {
        ApiError::new(ErrorCode::RoomNotFound, format!("no room '{room}' in this project")).with_detail("room", room)
    }

    /// The room is still being created (its vendor is not settled yet).
    pub fn room_not_ready(room_id: &str) -> Self {
        ApiError::new(ErrorCode::RoomNotReady, "the room is still being created on its vendor; retry shortly")
            .with_detail("room", room_id)
            .with_header("Retry-After", "1")
    }

    /// The line logged when this error is answered, if it has one: its cause with the request
    /// id the client was given (an error without a cause is the client's own mistake, and the
    /// response says all there is to say). Our own failures (internal, storage) are errors, the
    /// rest warnings.
    pub fn log_line(&self, request_id: &str) -> Option<(crate::log::Level, String)> {
        let cause = self.cause.as_deref()?;
        let ours = matches!(self.code, ErrorCode::Internal | ErrorCode::StorageUnavailable);
        let level = if ours { crate::log::Level::Error } else { crate::log::Level::Warn };
        Some((level, format!("request {request_id}: {} {}: {cause}", self.status(), self.code.as_str())))
    }

    /// The envelope body: `{"error":{"code","message","request_id",...details}}`.
    pub fn envelope(&self, request_id: &str) -> Value {
        let mut error = Map::new();
        error.insert("code".into(), json!(self.code.as_str()));
        error.insert("message".into(), json!(self.message));
        error.insert("request_id".into(), json!(request_id));
        for (k, v) in &self.details {
            error.insert(k.clone(), v.clone());
        }
        json!({ "error": error })
    }
}

impl From<crate::runtime::DbError> for ApiError {
    /// A transient failure (`DbError::Unavailable`) is `503 STORAGE_UNAVAILABLE`, to be retried
    /// after a second; any other is `500 INTERNAL`. Either way the cause is the database's
    /// report, which names no bound parameter.
    fn from(e: crate::runtime::DbError) -> Self {
        match e {
            crate::runtime::DbError::Unavailable(_) => ApiError::new(
                ErrorCode::StorageUnavailable,
                "storage is briefly unavailable; retry in a second (quote the request_id if it persists)",
            )
            .with_header("Retry-After", "1")
            .with_cause(format!("database: {e:?}")),
            _ => ApiError::internal(format!("database: {e:?}")),
        }
    }
}
