//! Runs the event bus on its own (port 4005 unless `PORT` says otherwise).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    blog_runtime::init_tracing();
    let server = event_bus::start(event_bus::Config::from_env()).await?;
    server.run_until_signal().await;
    Ok(())
}
