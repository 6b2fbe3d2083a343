//! Runs this moderation service on its own (port 4003 unless `PORT` says otherwise).
//! A setting that cannot be used (`PORT=abc`) is one line on stderr and
//! exit code 2; see [`blog_runtime::serve_from_env`].

fn main() -> std::process::ExitCode {
    blog_runtime::serve_from_env(moderation::Config::from_env, moderation::start)
}
