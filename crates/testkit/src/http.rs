//! One HTTP request as the spec files see it: a status and a JSON body.

use serde_json::Value;

/// Sends a request and returns the status and the JSON body (or the text
/// wrapped in a JSON string when it is not JSON).
///
/// Fails when no answer comes at all (nothing listens, the connection
/// broke, the client's timeout passed), naming the cause.
pub async fn send(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request
        .send()
        .await
        .unwrap_or_else(|error| panic!("the service should answer, but {}", with_causes(&error)));
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_else(|error| {
        panic!(
            "the answer's body could not be read: {}",
            with_causes(&error)
        )
    });
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

/// Fails unless `status` is `expected`, saying what was asked (`what`) and
/// what came back.
#[track_caller]
pub fn expect_status(what: &str, status: u16, body: &Value, expected: u16) {
    assert_eq!(
        status, expected,
        "{what} should answer {expected}, but it answered {status} with {body}"
    );
}

/// Fails unless `body` is a JSON error that says something,
/// `{"error": "..."}`, the answer to every bad request; `what` names the request.
#[track_caller]
pub fn expect_json_error(what: &str, body: &Value) {
    let message = body["error"].as_str().unwrap_or_default();
    assert!(
        !message.is_empty(),
        "{what}: the answer must be JSON like {{\"error\": \"...\"}}, got {body}"
    );
}

/// An error and the chain of its causes, on one line: reqwest's own message
/// ("error sending request") hides why ("connection refused").
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut line = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        line.push_str(": ");
        line.push_str(&cause.to_string());
        source = cause.source();
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    #[should_panic(expected = "GET /posts should answer 200, but it answered 404 with \"gone\"")]
    fn expect_status_shows_what_was_asked_and_what_came_back() {
        expect_status("GET /posts", 404, &Value::String("gone".into()), 200);
    }

    #[test]
    #[should_panic(
        expected = r#"an empty title: the answer must be JSON like {"error": "..."}, got {"error":""}"#
    )]
    fn expect_json_error_wants_a_message() {
        expect_json_error("an empty title", &json!({"error": "title is empty"}));
        expect_json_error("an empty title", &json!({"error": ""}));
    }

    #[tokio::test]
    #[should_panic(expected = "the service should answer, but error sending request")]
    async fn send_names_why_no_answer_came() {
        // Port 9 (discard) has no listener on a test machine.
        send(reqwest::Client::new().get("http://127.0.0.1:9")).await;
    }
}
