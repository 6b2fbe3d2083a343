//! Runs the comments service alone: `cargo run -p comments` (port 4001 by default).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    blog_runtime::init_tracing();
    let server = comments::start(comments::Config::from_env()).await?;
    server.run_until_signal().await;
    Ok(())
}
