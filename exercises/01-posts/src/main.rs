//! Runs your posts service alone: `cargo run -p ex01-posts` (port 4000 by default).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    blog_runtime::init_tracing();
    let server = posts::start(posts::Config::from_env()).await?;
    server.run_until_signal().await;
    Ok(())
}
