//! Replays the book's curl sessions against the real blog.
//!
//! A page's "Try it by hand" section starts services, then talks to them
//! with curl. Each test here does what the learner does: it starts the
//! reference services (the `blog` binary, one process per service, each on a
//! free port, all in one temporary data folder), and runs, in order, every
//! block of the page whose marker names it (`<!-- replayed:
//! xtask/tests/replay_curl.rs::<test> -->`). A command block (`sh`) is one
//! bash script; the `text` block right after it, marked the same way, is
//! what it must print (stdout and stderr together), compared as
//! `transcript` says: `[..]`, `...`, ids and the fractions of times vary.
//!
//! The pages use the services' fixed ports (`localhost:4000`); the harness
//! puts the real ports into the commands and the page's ports back into
//! what they print. Between blocks the test does what the page's prose asks
//! for: stop a service (Ctrl+C), start it again, suspend it (Ctrl+Z).
//!
//! A block that reads (no `-d`, no `-X`) is tried again for a few seconds
//! while it does not match yet: the services talk through events, and the
//! page says the answer comes "a moment later".

mod transcript;

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use blog::launcher::{Logs, Plan};
use blog_catalogue::Service;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use transcript::{lines_match, with_real_ids};

/// How long a service may take to answer `/readyz`, and a reading block to
/// show what the page shows.
const PATIENCE: Duration = Duration::from_secs(30);

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask is in the repository")
        .to_path_buf()
}

/// A binary of the workspace, built now (a no-op when `cargo test` built it
/// already) into the target folder this test runs from.
fn built(package: &str, bin: &str) -> PathBuf {
    // target/debug/deps/replay_curl-<hash> -> target/debug
    let exe = std::env::current_exe().expect("the test knows its path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("a test runs from target/<profile>/deps");
    let target_dir = profile_dir.parent().expect("target/<profile>");
    let status = Command::new(env!("CARGO"))
        .args(["build", "--quiet", "-p", package, "--bin", bin])
        .env("CARGO_TARGET_DIR", target_dir)
        .current_dir(repo_root())
        .status()
        .expect("cargo runs");
    assert!(status.success(), "cargo build -p {package} failed");
    profile_dir.join(bin)
}

/// The system binary: `blog <service>` runs one service.
fn blog_binary() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| built("blog", "blog")).clone()
}

/// The learner's command, `cargo workbook`, is `cargo run -p workbook --`.
fn workbook_binary() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| built("workbook", "workbook")).clone()
}

/// The script a learner types, as the harness runs it: `cargo run -p
/// <package>` is that package's binary (built first; the pages replayed
/// here run an exercise for what its given code does, such as a start-up
/// error), and `cargo workbook bus` asks the bus at its real address.
fn as_run(script: &str) -> String {
    let mut script = script.replace(
        "cargo workbook bus",
        &format!("{} bus{BUS_URL_ARGUMENT}", workbook_binary().display()),
    );
    for service in Service::ALL {
        let exercise = exercise_of(service);
        for (package, is_exercise) in [(service.name().to_string(), false), (exercise, true)] {
            let command = format!("cargo run -p {package}");
            let ends_a_line = |at: usize| {
                let after = &script[at + command.len()..];
                after.is_empty() || after.starts_with('\n')
            };
            if let Some(at) = script.find(&command).filter(|&at| ends_a_line(at)) {
                let program = if is_exercise {
                    built(&package, &package).display().to_string()
                } else {
                    format!("{} {service}", blog_binary().display())
                };
                script.replace_range(at..at + command.len(), &program);
            }
        }
    }
    script
}

/// How the harness tells `cargo workbook bus` where the bus is (its real
/// port comes in with [`Blog::real_ports`]).
const BUS_URL_ARGUMENT: &str = " --url http://localhost:4005";

/// `ex01-posts` for posts, and so on.
fn exercise_of(service: Service) -> String {
    let number = match service {
        Service::Posts => 1,
        Service::Comments => 2,
        Service::EventBus => 3,
        Service::Query => 4,
        Service::Moderation => 5,
        Service::Client => 6,
    };
    format!("ex{number:02}-{service}")
}

/// The learner's blog: the services the page has started, on free ports.
struct Blog {
    plan: Plan,
    data: tempfile::TempDir,
    running: BTreeMap<Service, Child>,
    /// Extra variables a page sets on a service (`POST_LOOKUP=http ...`).
    env: BTreeMap<Service, Vec<(String, String)>>,
}

impl Blog {
    /// A blog with nothing running yet; every service has its port.
    fn new() -> Blog {
        let data = tempfile::tempdir().expect("a temp dir");
        let mut plan = Plan::reference(&blog_binary(), data.path().join("data"), Logs::Prefixed);
        for port in plan.ports.values_mut() {
            *port = free_port();
        }
        // The page's by-hand runs use the default log level.
        plan.extra_env.push(("RUST_LOG".into(), "info".into()));
        std::fs::create_dir_all(&plan.data_dir).expect("the data folder");
        Blog {
            plan,
            data,
            running: BTreeMap::new(),
            env: BTreeMap::new(),
        }
    }

    /// Starts `service` (as `cargo run -p <service>` would) with the page's
    /// variables, and waits until it is ready.
    fn start_with(&mut self, service: Service, env: &[(&str, &str)]) -> &mut Blog {
        self.env.insert(
            service,
            env.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        self.start(service)
    }

    fn start(&mut self, service: Service) -> &mut Blog {
        let log = self.data.path().join(format!("{service}.log"));
        let log = File::options()
            .create(true)
            .append(true)
            .open(&log)
            .expect("a log file");
        let child = Command::new(blog_binary())
            .arg(service.name())
            .envs(self.plan.env_for(service))
            .envs(self.env.get(&service).cloned().unwrap_or_default())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("the log file"))
            .stderr(log)
            .spawn()
            .expect("the blog binary starts");
        self.running.insert(service, child);
        let deadline = Instant::now() + PATIENCE;
        while !self.ready(service) {
            assert!(
                Instant::now() < deadline,
                "{service} is not ready after {PATIENCE:?}:\n{}",
                self.logs()
            );
            if let Some(status) = self
                .running
                .get_mut(&service)
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("{service} exited with {status}:\n{}", self.logs());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self
    }

    /// Whether `service` answers 200 on `/readyz`.
    fn ready(&self, service: Service) -> bool {
        let Ok(mut stream) = TcpStream::connect((Ipv4Addr::LOCALHOST, self.plan.port(service)))
        else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
        let request = "GET /readyz HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n";
        let mut answer = String::new();
        stream.write_all(request.as_bytes()).is_ok()
            && stream.read_to_string(&mut answer).is_ok()
            && answer.starts_with("HTTP/1.1 200")
    }

    /// Ctrl+C in the service's terminal, and the wait until it has exited.
    fn stop(&mut self, service: Service) -> &mut Blog {
        let mut child = self.running.remove(&service).expect("the service runs");
        signal(&child, Signal::SIGINT);
        let deadline = Instant::now() + PATIENCE;
        while child.try_wait().expect("waiting works").is_none() {
            assert!(Instant::now() < deadline, "{service} does not stop");
            std::thread::sleep(Duration::from_millis(20));
        }
        self
    }

    /// Ctrl+Z: the shell suspends the service; its port stays open.
    fn suspend(&mut self, service: Service) -> &mut Blog {
        signal(&self.running[&service], Signal::SIGSTOP);
        self
    }

    /// `fg`: the suspended service runs again.
    fn resume(&mut self, service: Service) -> &mut Blog {
        signal(&self.running[&service], Signal::SIGCONT);
        self
    }

    /// Runs `script` as a learner who types (or pastes) it into a terminal
    /// sees it: one command after the other, what each prints (stdout and
    /// stderr together) starting on a line of its own, as it does after the
    /// shell's prompt; and curl without its progress meter, which it shows
    /// only when its output is not a terminal. Whether every command succeeded.
    fn run_typed(&self, script: &str) -> (bool, String) {
        let curlrc = self.data.path().join(".curlrc");
        if !curlrc.exists() {
            std::fs::write(&curlrc, "--silent\n--show-error\n").expect("a .curlrc");
        }
        let mut printed = String::new();
        let mut success = true;
        for command in commands(script) {
            let output = Command::new("bash")
                .arg("-c")
                .arg(format!("exec 2>&1\n{command}"))
                .env("CURL_HOME", self.data.path())
                .current_dir(self.data.path())
                .output()
                .expect("bash runs");
            success &= output.status.success();
            printed.push_str(&String::from_utf8_lossy(&output.stdout));
            if !printed.is_empty() && !printed.ends_with('\n') {
                printed.push('\n');
            }
        }
        (success, printed)
    }

    /// Waits until `script` (run like a page's block) prints `wanted`: what
    /// the page's prose says the learner waits a moment for.
    fn wait_for(&self, script: &str, wanted: &str) -> &Blog {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let output = Command::new("bash")
                .arg("-c")
                .arg(self.real_ports(script))
                .output()
                .expect("bash runs");
            let printed = String::from_utf8_lossy(&output.stdout);
            if printed.contains(&self.real_ports(wanted)) {
                return self;
            }
            assert!(
                Instant::now() < deadline,
                "`{script}` never printed {wanted:?}; last:\n{printed}\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The command with the page's ports replaced by the real ones.
    fn real_ports(&self, command: &str) -> String {
        let mut command = command.to_string();
        for service in Service::ALL {
            for host in ["localhost", "127.0.0.1"] {
                command = command.replace(
                    &format!("{host}:{}", service.default_port()),
                    &format!("{host}:{}", self.plan.port(service)),
                );
            }
        }
        command
    }

    /// What a command printed, with the page's ports in place of the real ones.
    fn page_ports(&self, printed: &str) -> String {
        let mut printed = printed.to_string();
        for service in Service::ALL {
            printed = printed.replace(
                &format!(":{}", self.plan.port(service)),
                &format!(":{}", service.default_port()),
            );
        }
        printed
    }

    /// What `service` has logged so far.
    fn log(&self, service: Service) -> String {
        std::fs::read_to_string(self.data.path().join(format!("{service}.log"))).unwrap_or_default()
    }

    /// Every service's log so far, for a failure message.
    fn logs(&self) -> String {
        Service::ALL
            .iter()
            .filter_map(|service| {
                let log = std::fs::read_to_string(self.data.path().join(format!("{service}.log")))
                    .ok()?;
                Some(format!("--- {service}'s log:\n{log}"))
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for Blog {
    fn drop(&mut self) {
        for child in self.running.values_mut() {
            signal(child, Signal::SIGCONT);
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn signal(child: &Child, signal: Signal) {
    let pid = Pid::from_raw(i32::try_from(child.id()).expect("a pid fits"));
    let _ = kill(pid, signal);
}

/// A port nobody listens on right now (the service binds it a moment later).
fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// The commands of a script, one per line but for lines that end in `\`.
fn commands(script: &str) -> Vec<String> {
    let mut commands = Vec::new();
    let mut current = String::new();
    for line in script.lines() {
        current.push_str(line);
        current.push('\n');
        if !line.trim_end().ends_with('\\') {
            if !current.trim().is_empty() {
                commands.push(std::mem::take(&mut current));
            }
            current.clear();
        }
    }
    if !current.trim().is_empty() {
        commands.push(current);
    }
    commands
}

#[test]
fn a_script_is_split_into_commands_where_lines_do_not_go_on() {
    let script = "curl a \\\n  -d x\ncurl b\n\ncurl c; \\\ncurl d";
    assert_eq!(
        commands(script),
        vec!["curl a \\\n  -d x\n", "curl b\n", "curl c; \\\ncurl d\n"]
    );
}

/// One command block of a page and, if the page shows it, what it prints.
#[derive(Debug)]
struct Block {
    line: usize,
    script: String,
    expected: Option<Vec<String>>,
}

/// The blocks of one page marked for one test, replayed a few at a time.
struct Page {
    path: &'static str,
    blocks: std::collections::VecDeque<Block>,
    ids: HashMap<String, String>,
}

impl Page {
    fn open(path: &'static str, test: &str) -> Page {
        let text = std::fs::read_to_string(repo_root().join(path)).expect("the page exists");
        let marker = format!("<!-- replayed: xtask/tests/replay_curl.rs::{test} -->");
        let lines: Vec<&str> = text.lines().collect();
        let mut blocks: Vec<Block> = Vec::new();
        for (index, line) in lines.iter().enumerate() {
            if line.trim() != marker {
                continue;
            }
            let fence = lines.get(index + 1).copied().unwrap_or_default();
            let body: Vec<String> = lines[index + 2..]
                .iter()
                .take_while(|l| !l.starts_with("```"))
                .map(|l| l.to_string())
                .collect();
            if fence.starts_with("```text") {
                match blocks.last_mut().filter(|b| b.expected.is_none()) {
                    Some(block) => block.expected = Some(body),
                    // Lines of a service's log, which the test checks with `check_log`.
                    None => blocks.push(Block {
                        line: index + 2,
                        script: String::new(),
                        expected: Some(body),
                    }),
                }
            } else {
                blocks.push(Block {
                    line: index + 2,
                    script: body.join("\n"),
                    expected: None,
                });
            }
        }
        assert!(!blocks.is_empty(), "{path} has no block marked {marker}");
        Page {
            path,
            blocks: blocks.into(),
            ids: HashMap::new(),
        }
    }

    /// Runs the next `count` blocks against `blog`.
    fn replay(&mut self, blog: &Blog, count: usize) -> &mut Page {
        for _ in 0..count {
            let block = self
                .blocks
                .pop_front()
                .unwrap_or_else(|| panic!("{}: fewer blocks than the test expects", self.path));
            self.run(blog, &block);
        }
        self
    }

    /// Runs the next block, which the page says prints nothing.
    fn replay_printing_nothing(&mut self, blog: &Blog) -> &mut Page {
        let mut block = self
            .blocks
            .pop_front()
            .unwrap_or_else(|| panic!("{}: fewer blocks than the test expects", self.path));
        assert!(
            block.expected.is_none(),
            "{}:{}: shows output",
            self.path,
            block.line
        );
        block.expected = Some(Vec::new());
        self.run(blog, &block);
        self
    }

    /// The next block shows lines of `service`'s log (without their time):
    /// each must end a line the service has logged, colours left out.
    fn check_log(&mut self, blog: &Blog, service: Service) -> &mut Page {
        let block = self
            .blocks
            .pop_front()
            .unwrap_or_else(|| panic!("{}: fewer blocks than the test expects", self.path));
        assert!(
            block.script.is_empty(),
            "{}:{}: not a log block",
            self.path,
            block.line
        );
        let log = blog.page_ports(&blog_testkit::without_colours(&blog.log(service)));
        for wanted in block.expected.iter().flatten() {
            let pattern = [format!("[..]{wanted}")];
            assert!(
                log.lines()
                    .any(|line| lines_match(&pattern, &[line], &mut self.ids.clone())),
                "{}:{}: {service}'s log has no line like\n{wanted}\nIt says:\n{log}",
                self.path,
                block.line
            );
        }
        self
    }

    /// Runs the blocks left, and checks that none was left out.
    fn replay_rest(&mut self, blog: &Blog) {
        let left = self.blocks.len();
        self.replay(blog, left);
    }

    fn run(&mut self, blog: &Blog, block: &Block) {
        let script = blog.real_ports(&as_run(&with_real_ids(&block.script, &self.ids)));
        let reads_only = !block.script.contains(" -d ") && !block.script.contains(" -X ");
        let deadline = Instant::now() + PATIENCE;
        loop {
            let (success, printed) = blog.run_typed(&script);
            // The harness's `--url` (see `as_run`) is no part of the page's command.
            let printed = blog.page_ports(&printed).replace(BUS_URL_ARGUMENT, "");
            let Some(expected) = &block.expected else {
                assert!(
                    success,
                    "{}:{}: the block failed:\n{printed}",
                    self.path, block.line
                );
                return;
            };
            let actual: Vec<&str> = printed.lines().collect();
            let mut ids = self.ids.clone();
            if lines_match(expected, &actual, &mut ids) {
                self.ids = ids;
                return;
            }
            if !reads_only || Instant::now() > deadline {
                panic!(
                    "{}:{}: the commands\n{}\nprinted\n{printed}\nbut the page shows\n{}\n\n{}",
                    self.path,
                    block.line,
                    block.script,
                    expected.join("\n"),
                    blog.logs()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Page {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            assert!(
                self.blocks.is_empty(),
                "{}: the test left blocks out: {:?}",
                self.path,
                self.blocks
            );
        }
    }
}

const CH00: &str = "book/src/ch00-how-to-use/index.md";
const CH01: &str = "book/src/ch01-microservices/exercise.md";
const CH02: &str = "book/src/ch02-sync/exercise.md";

/// Chapter 0's first look at a service: posts, alone.
#[test]
fn ch00_first_service() {
    let mut blog = Blog::new();
    blog.start(Service::Posts);
    Page::open(CH00, "ch00_first_service").replay_rest(&blog);
}

/// Chapter 1: the posts service alone (no bus yet: its events wait in its outbox).
#[test]
fn ch01_posts_by_hand() {
    let mut blog = Blog::new();
    blog.start(Service::Posts);
    Page::open(CH01, "ch01_posts_by_hand").replay_rest(&blog);
}

/// Chapter 2: the cascade. Posts and comments with the synchronous lookup;
/// posts stopped, started again, then suspended.
#[test]
fn ch02_the_cascade() {
    let mut blog = Blog::new();
    // `cargo run` finds posts at its default address, `http://localhost:4000`.
    let posts_url = blog.real_ports("http://localhost:4000");
    blog.start(Service::Posts).start_with(
        Service::Comments,
        &[("POST_LOOKUP", "http"), ("POSTS_URL", &posts_url)],
    );
    let mut page = Page::open(CH02, "ch02_the_cascade");
    page.replay(&blog, 3);
    blog.stop(Service::Posts);
    page.replay(&blog, 1)
        .check_log(&blog, Service::Comments)
        .replay(&blog, 1);
    blog.start(Service::Posts).suspend(Service::Posts);
    page.replay(&blog, 1);
    blog.resume(Service::Posts);
    page.replay_rest(&blog);
}

/// Chapter 1: a port that is no number stops the service with one line.
#[test]
fn ch01_a_bad_port() {
    let blog = Blog::new();
    Page::open(CH01, "ch01_a_bad_port").replay_rest(&blog);
}

const CH03: &str = "book/src/ch03-event-bus/exercise.md";
const CH03_IDEA: &str = "book/src/ch03-event-bus/index.md";
const CH04: &str = "book/src/ch04-query/exercise.md";
const CH04_IDEA: &str = "book/src/ch04-query/index.md";
const CH06: &str = "book/src/ch06-client/exercise.md";
const CH06_IDEA: &str = "book/src/ch06-client/index.md";

/// Chapter 3, by hand: the bus alone, then with the page as a subscriber
/// that says "never", then with comments, which learns posts from events.
#[test]
fn ch03_the_bus_by_hand() {
    let mut blog = Blog::new();
    blog.start(Service::EventBus);
    let mut page = Page::open(CH03, "ch03_the_bus_by_hand");
    // Publish, read, refused at the door, the log's name.
    page.replay(&blog, 6);
    blog.stop(Service::EventBus).start(Service::Client);
    let page_url = format!("http://localhost:{}", Service::Client.default_port());
    blog.start_with(
        Service::EventBus,
        &[
            ("SUBSCRIBERS", &blog.real_ports(&page_url)),
            ("DEAD_LETTER_AFTER", "3"),
        ],
    );
    // `cargo workbook bus`, the same from the bus, one more event.
    page.replay(&blog, 3);
    blog.stop(Service::Client).stop(Service::EventBus);
    blog.start_with(Service::EventBus, &[])
        .start(Service::Comments);
    // "Within a moment the bus delivers the four events to it".
    blog.wait_for(
        "curl -s http://localhost:4005/subscribers",
        r#""url":"http://127.0.0.1:4001","cursor":4,"#,
    );
    page.replay(&blog, 1);
    blog.stop(Service::Comments);
    page.replay_rest(&blog);
}

/// Chapter 3's poison event: the bus stores it (that bus then cannot deliver it).
#[test]
fn ch03_a_poison_event() {
    let mut blog = Blog::new();
    blog.start(Service::EventBus);
    Page::open(CH03_IDEA, "ch03_a_poison_event").replay_rest(&blog);
}

/// Chapter 4, by hand: query alone, fed by hand with `REBUILD=off`.
#[test]
fn ch04_feed_it_by_hand() {
    let mut blog = Blog::new();
    blog.start_with(Service::Query, &[("REBUILD", "off")]);
    Page::open(CH04, "ch04_feed_it_by_hand").replay_rest(&blog);
}

/// Chapter 4, in the whole blog: a post and a comment, then a forged number.
#[test]
fn ch04_in_the_whole_blog() {
    let mut blog = Blog::new();
    for service in Service::ALL {
        blog.start(service);
    }
    let mut page = Page::open(CH04, "ch04_in_the_whole_blog");
    page.replay(&blog, 2);
    // "A moment later, `curl http://localhost:4002/posts` shows it `approved`."
    blog.wait_for(
        "curl -s http://localhost:4002/posts",
        r#""status":"approved""#,
    );
    page.replay_rest(&blog);
}

/// Chapter 4's claim: the same forged number, against query in the blog.
#[test]
fn ch04_a_number_is_a_claim() {
    let mut blog = Blog::new();
    blog.start(Service::EventBus).start(Service::Query);
    Page::open(CH04_IDEA, "ch04_a_number_is_a_claim").replay_rest(&blog);
}

/// Chapter 6: the page's headers and configuration, in the whole blog; then
/// the client alone with a URL the page cannot use.
#[test]
fn ch06_the_page_by_hand() {
    let mut blog = Blog::new();
    for service in Service::ALL {
        blog.start(service);
    }
    Page::open(CH06, "ch06_the_page_by_hand").replay_rest(&blog);
}

/// Chapter 6's CORS: a stranger's origin gets no `access-control-allow-origin`.
#[test]
fn ch06_a_strangers_origin() {
    let mut blog = Blog::new();
    blog.start(Service::Posts);
    Page::open(CH06_IDEA, "ch06_a_strangers_origin").replay_printing_nothing(&blog);
}

const CH05: &str = "book/src/ch05-moderation/exercise.md";

/// Chapter 5: moderation alone, with no bus to publish its decision to.
#[test]
fn ch05_moderation_on_its_own() {
    let mut blog = Blog::new();
    // `cargo run` looks for the bus at its default address.
    let bus_url = blog.real_ports("http://localhost:4005");
    blog.start_with(Service::Moderation, &[("EVENT_BUS_URL", &bus_url)]);
    Page::open(CH05, "ch05_moderation_on_its_own").replay_rest(&blog);
}

/// Chapter 5, in the whole blog: a comment about oranges, rejected.
#[test]
fn ch05_the_whole_blog() {
    let mut blog = Blog::new();
    for service in Service::ALL {
        blog.start(service);
    }
    let mut page = Page::open(CH05, "ch05_the_whole_blog");
    page.replay(&blog, 1);
    // "Give comments a moment to hear about the post".
    blog.wait_for(
        "curl -s http://localhost:4005/subscribers",
        r#""url":"http://127.0.0.1:4001","cursor":1,"#,
    );
    // Comment, ask query, read the bus's log; then moderation is stopped.
    page.replay(&blog, 3);
    blog.stop(Service::Moderation);
    page.replay_rest(&blog);
}
