//! The smallest service, for the kit's own test of `spawn_service`: it
//! listens where `HOST` and `PORT` say, like every blog service, and answers
//! `GET /hello`. With `TINY_SERVICE_FAILS` set it gives up before it binds,
//! saying why on stderr, the way a misconfigured service does.

use axum::Router;
use axum::routing::get;
use blog_runtime::{Server, env_or};

#[tokio::main]
async fn main() {
    if let Ok(reason) = std::env::var("TINY_SERVICE_FAILS") {
        eprintln!("starting the tiny service");
        eprintln!("error: {reason}");
        std::process::exit(3);
    }
    let addr = format!("{}:{}", env_or("HOST", "127.0.0.1"), env_or("PORT", "0"));
    let addr = addr.parse().expect("HOST and PORT make an address");
    let router = Router::new().route("/hello", get(|| async { "hello" }));
    let server = Server::start(addr, router)
        .await
        .expect("the tiny service binds");
    server.run_until_signal().await;
}
