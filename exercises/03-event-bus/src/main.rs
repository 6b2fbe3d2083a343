//! Runs the event bus on its own (port 4005 unless `PORT` says otherwise).
//! A setting that cannot be used (`PORT=abc`) is one line on stderr and
//! exit code 2; see [`blog_runtime::serve_from_env`].

fn main() -> std::process::ExitCode {
    blog_runtime::serve_from_env(event_bus::Config::from_env, event_bus::start)
}
