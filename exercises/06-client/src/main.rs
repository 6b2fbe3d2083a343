//! Runs this client service on its own (port 3000 unless `PORT` says
//! otherwise), then open http://localhost:3000 (posts, comments and query
//! must be running too).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    blog_runtime::init_tracing();
    let server = client::start(client::Config::from_env()).await?;
    server.run_until_signal().await;
    Ok(())
}
