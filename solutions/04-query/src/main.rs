//! Runs this query service on its own (port 4002 unless `PORT` says otherwise).
//! A setting that cannot be used (`PORT=abc`) is one line on stderr and
//! exit code 2; see [`blog_runtime::serve_from_env`].

fn main() -> std::process::ExitCode {
    blog_runtime::serve_from_env(query::Config::from_env, query::start)
}
