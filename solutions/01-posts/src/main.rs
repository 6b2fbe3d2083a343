//! Runs this posts service on its own (port 4000 unless `PORT` says otherwise).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    blog_runtime::init_tracing();
    let server = posts::start(posts::Config::from_env()).await?;
    server.run_until_signal().await;
    Ok(())
}
