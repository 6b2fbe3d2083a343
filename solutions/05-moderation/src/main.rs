//! Runs the moderation service alone: `cargo run -p moderation` (port 4003 by default).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    blog_runtime::init_tracing();
    let server = moderation::start(moderation::Config::from_env()).await?;
    server.run_until_signal().await;
    Ok(())
}
