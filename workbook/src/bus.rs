//! `cargo workbook bus`: where every subscriber of the event bus stands, and
//! its dead letters.
//!
//! It shows what `GET /subscribers` and `GET /subscribers/{name}/parked`
//! answer, as a table a person can read: each subscriber's cursor, lag,
//! parked events and last error, then every parked event with the answer
//! that got it parked. `--redeliver NAME` asks the bus to send NAME's parked
//! events again (`POST /subscribers/{name}/parked/redeliver`), once the
//! subscriber is fixed.

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// At most this many parked events are shown per subscriber.
const SHOWN_PARKED: usize = 20;

/// Where the bus listens when everything runs on this machine.
pub const DEFAULT_URL: &str = "http://localhost:4005";

/// Shows the bus at `url`; first redelivers `redeliver`'s parked events if asked.
pub fn show(url: &str, redeliver: Option<&str>) -> Result<()> {
    let url = url.trim_end_matches('/');
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()?;
        if let Some(name) = redeliver {
            let answer =
                request(client.post(format!("{url}/subscribers/{name}/parked/redeliver"))).await?;
            println!(
                "  The bus will send {} parked event(s) to {name} again, oldest first.\n",
                answer["parked"]
            );
        }
        let subscribers = request(client.get(format!("{url}/subscribers"))).await?;
        let mut parked = Vec::new();
        for line in subscribers.as_array().into_iter().flatten() {
            let name = line["name"].as_str().unwrap_or_default();
            if line["parked"].as_u64().unwrap_or(0) > 0 {
                let events = request(client.get(format!(
                    "{url}/subscribers/{name}/parked?limit={SHOWN_PARKED}"
                )))
                .await?;
                parked.push((name.to_string(), events));
            }
        }
        print!("{}", render(url, &subscribers, &parked));
        Ok(())
    })
}

/// Sends `request` and reads its JSON answer; an error status is an error.
async fn request(request: reqwest::RequestBuilder) -> Result<Value> {
    let (client, built) = request.build_split();
    let built = built?;
    let target = built.url().to_string();
    let response = client.execute(built).await.with_context(|| {
        format!(
            "cannot reach the event bus at {target}: is the blog running (`cargo workbook up`)?"
        )
    })?;
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        let message = body["error"].as_str().unwrap_or("no details");
        bail!("{target} answered {status}: {message}");
    }
    Ok(body)
}

/// The report, from the bus's answers.
pub fn render(url: &str, subscribers: &Value, parked: &[(String, Value)]) -> String {
    let lines: Vec<&Value> = subscribers.as_array().into_iter().flatten().collect();
    let mut out = String::new();
    if lines.is_empty() {
        let _ = writeln!(out, "  The bus at {url} has no subscribers.");
        return out;
    }
    let width = lines
        .iter()
        .filter_map(|line| line["name"].as_str())
        .map(str::len)
        .chain(["subscriber".len()])
        .max()
        .unwrap_or(10);
    let _ = writeln!(
        out,
        "  {:width$}  {:>7}  {:>6}  {:>6}  last error",
        "subscriber", "cursor", "lag", "parked"
    );
    for line in &lines {
        let error = match &line["lastError"] {
            Value::Null => "-".to_string(),
            error => format!(
                "seq {}: {} ({})",
                error["seq"],
                error["message"].as_str().unwrap_or_default(),
                error["verdict"].as_str().unwrap_or_default()
            ),
        };
        let _ = writeln!(
            out,
            "  {:width$}  {:>7}  {:>6}  {:>6}  {}",
            line["name"].as_str().unwrap_or_default(),
            // `Value`'s Display ignores widths: line them up as strings.
            line["cursor"].to_string(),
            line["lag"].to_string(),
            line["parked"].to_string(),
            error
        );
    }
    for (name, events) in parked {
        let _ = writeln!(out, "\n  Parked for {name} (oldest first):");
        for event in events.as_array().into_iter().flatten() {
            let _ = writeln!(
                out,
                "    seq {}  {}  after {} tries: {}\n      data: {}",
                event["seq"],
                event["type"].as_str().unwrap_or_default(),
                event["attempts"],
                event["error"].as_str().unwrap_or_default(),
                event["data"]
            );
        }
        let elsewhere = if url == DEFAULT_URL {
            String::new()
        } else {
            format!(" --url {url}")
        };
        let _ = writeln!(
            out,
            "  Once {name} is fixed, send them again:\n    cargo workbook bus{elsewhere} --redeliver {name}\n    \
             curl -X POST {url}/subscribers/{name}/parked/redeliver"
        );
    }
    if parked.is_empty() {
        let _ = writeln!(out, "\n  No parked events.");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_report_shows_each_subscriber_and_how_to_redeliver_what_is_parked() {
        let subscribers = json!([
            {"name": "posts", "url": "http://localhost:4000", "cursor": 3, "lag": 0, "parked": 0, "lastError": null},
            {"name": "query", "url": "http://localhost:4002", "cursor": 3, "lag": 0, "parked": 1,
             "lastError": {"seq": 2, "message": "the subscriber answered 422: bad", "verdict": "never"}}
        ]);
        let parked = vec![(
            "query".to_string(),
            json!([{"seq": 2, "type": "Odd", "data": {"id": 1}, "attempts": 5, "error": "the subscriber answered 422: bad", "parkedAt": 0}]),
        )];
        let report = render("http://localhost:4005", &subscribers, &parked);
        assert!(report.contains("posts"), "{report}");
        assert!(
            report.contains("seq 2: the subscriber answered 422: bad (never)"),
            "{report}"
        );
        assert!(report.contains("Parked for query"), "{report}");
        assert!(report.contains("seq 2  Odd  after 5 tries"), "{report}");
        assert!(
            report.contains("cargo workbook bus --redeliver query"),
            "{report}"
        );
        assert!(
            report
                .contains("curl -X POST http://localhost:4005/subscribers/query/parked/redeliver"),
            "{report}"
        );
    }
}
