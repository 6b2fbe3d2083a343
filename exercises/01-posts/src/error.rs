//! Every way a request to the posts service can fail, and how each is
//! answered (TODO 5).
//!
//! One error type for the whole service, mapped to a status code and a JSON
//! body in exactly one place: a handler only writes `?`, and a caller always
//! gets an answer it can act on.

#[allow(unused_imports)] // you will need these for TODO 5
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
#[allow(unused_imports)] // and this, for TODO 5
use blog_runtime::error_response;

use crate::title::TitleError;

#[derive(Debug, thiserror::Error)]
pub enum PostsError {
    /// The caller sent a title we do not accept: they can fix it and retry.
    #[error(transparent)]
    InvalidTitle(#[from] TitleError),
    /// Our database failed: nothing the caller can fix. When the outbox is
    /// full ([`blog_events::outbox::is_full`]), only waiting helps.
    #[error("storage failed: {0}")]
    Storage(#[from] rusqlite::Error),
}

// ANCHOR: into_response
impl IntoResponse for PostsError {
    fn into_response(self) -> Response {
        // TODO 5: every `PostsError` becomes a status and a JSON body
        // `{"error": "..."}` (`blog_runtime` has functions that build them):
        // - a refused title is the caller's to fix: 422, with the title's own
        //   message (`bad_input_gets_a_json_error_and_stores_nothing`);
        // - a full outbox is "not now": 503 with a `Retry-After` header
        //   (`a_full_outbox_answers_503_with_retry_after_and_stores_no_post`);
        // - any other storage failure is ours: 500 "storage failed; nothing
        //   was saved", with the cause in the log, not in the answer
        //   (`a_failing_database_answers_500_and_keeps_the_cause_to_itself`).
        todo!(
            "TODO 5 in src/error.rs: PostsError::into_response must answer \"{self}\" with a status and a JSON error"
        )
    }
}
// ANCHOR_END: into_response
