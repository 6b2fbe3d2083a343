//! Runs the query service alone: `cargo run -p query` (port 4002 by default).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    blog_runtime::init_tracing();
    let server = query::start(query::Config::from_env()).await?;
    server.run_until_signal().await;
    Ok(())
}
