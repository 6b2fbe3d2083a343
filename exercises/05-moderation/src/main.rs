//! Runs this moderation service on its own (port 4003 unless `PORT` says otherwise).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    blog_runtime::init_tracing();
    let server = moderation::start(moderation::Config::from_env()).await?;
    server.run_until_signal().await;
    Ok(())
}
