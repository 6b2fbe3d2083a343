//! Runs this client service on its own (port 3000 unless `PORT` says
//! otherwise), then open http://localhost:3000 (posts, comments and query
//! must be running too).
//! A setting that cannot be used (`PORT=abc`) is one line on stderr and
//! exit code 2; see [`blog_runtime::serve_from_env`].

fn main() -> std::process::ExitCode {
    blog_runtime::serve_from_env(client::Config::from_env, client::start)
}
