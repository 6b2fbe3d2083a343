//! Runs this comments service on its own (port 4001 unless `PORT` says otherwise).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    blog_runtime::init_tracing();
    let server = comments::start(comments::Config::from_env()).await?;
    server.run_until_signal().await;
    Ok(())
}
