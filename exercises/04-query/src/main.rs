//! Runs this query service on its own (port 4002 unless `PORT` says otherwise).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    blog_runtime::init_tracing();
    let server = query::start(query::Config::from_env()).await?;
    server.run_until_signal().await;
    Ok(())
}
