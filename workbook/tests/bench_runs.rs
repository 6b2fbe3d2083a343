//! The benchmark works: a short run on the debug build prints all six
//! figures (throughput, keeping up, lag, CPU, memory, reads). No thresholds:
//! a debug build on a shared CI machine says nothing about speed, but a
//! bench that no longer runs would only be noticed when someone needs it.

#[path = "support/blog_binary.rs"]
mod blog_binary;

use std::time::Duration;

use blog::launcher::{Logs, Plan};
use workbook::bench::{Settings, measure};

#[tokio::test(flavor = "multi_thread")]
async fn a_one_second_bench_prints_all_six_figures() {
    let blog = blog_binary::debug_build();
    let scratch = tempfile::tempdir().unwrap();
    let plan = Plan::reference(
        &blog,
        scratch.path().join("data"),
        Logs::Dir(scratch.path().join("logs")),
    );
    let settings = Settings {
        seconds: 1,
        clients: 4,
        rate: 20,
        posts: 2,
        // More than a one-second run writes, so that the bench tops it up.
        read_comments: 3_000,
    };
    let report = tokio::time::timeout(Duration::from_secs(240), measure(plan, settings))
        .await
        .expect("the bench finishes")
        .unwrap_or_else(|error| panic!("the bench failed: {error:#}"))
        .to_string();
    println!("{report}");
    for (label, figure) in [
        ("throughput :", "comments/s fully propagated"),
        ("keeping up :", "p99"),
        ("lag        :", "p99"),
        ("cpu        :", "ms per 1000 comments in total"),
        ("memory     :", "PSS sum"),
        ("reads      :", "GET /posts p50"),
    ] {
        let line = report
            .lines()
            .find(|line| line.starts_with(label))
            .unwrap_or_else(|| panic!("no {label:?} line in the report:\n{report}"));
        assert!(
            line.contains(figure) && line.chars().any(|c| c.is_ascii_digit()),
            "{label:?} line without its figure: {line}"
        );
    }
    let reads = report
        .lines()
        .find(|l| l.starts_with("reads      :"))
        .unwrap();
    let held: usize = reads
        .split(" with ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no comment count in {reads:?}"));
    assert!(
        held >= 3_000,
        "the reads were timed with {held} comments in the model, fewer than asked for"
    );
    for service in blog_catalogue::Service::ALL {
        let per_service = report
            .lines()
            .filter(|line| line.trim_start().starts_with(service.name()))
            .count();
        assert_eq!(
            per_service, 2,
            "{service}: one CPU line and one memory line\n{report}"
        );
    }
}
