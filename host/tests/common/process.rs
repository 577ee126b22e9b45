//! Processes a test starts: the `trainhost` binary (serve, worker, CLI) with a
//! config of its own and an environment free of the developer's `TRAINHOST_*`
//! and `REDIS_URL`, or a script in a process group of its own. Their output is
//! kept (and echoed to the test's captured stderr); each is killed when dropped.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::http::{client, ADMIN_TOKEN};
use super::paths::trainhost_binary;
use super::setup::Setup;

/// How long a started `serve` or `worker` may take to say it is up (it loads,
/// and on a cold cache compiles, every configured plugin first).
const STARTUP: Duration = Duration::from_secs(300);

/// The line `serve` prints once it listens (tests read the URL from it).
pub const LISTENING: &str = "trainhost listening on ";
/// The first line `worker` prints.
pub const WORKER_STARTED: &str = "trainhost worker";

/// Removes the variables that would override a test's own config.
pub fn scrub_env(command: &mut Command) -> &mut Command {
    for (name, _) in std::env::vars() {
        if name.starts_with("TRAINHOST_") || name == "REDIS_URL" {
            command.env_remove(name);
        }
    }
    command
}

/// Variables cargo sets for a test process (about the package under test), which
/// a developer's shell does not have.
const SET_BY_CARGO_FOR_TESTS: [&str; 7] =
    ["CARGO_PKG_", "CARGO_MANIFEST_", "CARGO_CRATE_", "CARGO_BIN_", "CARGO_PRIMARY_PACKAGE", "CARGO_TARGET_TMPDIR", "OUT_DIR"];

/// The environment of a developer's shell, for a script that runs cargo itself:
/// without the variables cargo sets for this test process (build scripts such as
/// ring's rerun when `CARGO_MANIFEST_DIR` or `CARGO_PKG_NAME` change, so a
/// nested build would rebuild half the dependencies) and without our overrides.
pub fn shell_env(command: &mut Command) -> &mut Command {
    for (name, _) in std::env::vars() {
        if name == "CARGO" || SET_BY_CARGO_FOR_TESTS.iter().any(|prefix| name.starts_with(prefix)) {
            command.env_remove(name);
        }
    }
    scrub_env(command)
}

/// `trainhost --config CONFIG`, ready for its arguments. Its first admin
/// gets the kit's `ADMIN_TOKEN` (and a `users` command uses it), so every
/// helper of the kit talks to it as that admin.
/// The compile cache the tests' processes share (beside the in-process tests' one).
pub fn shared_compile_cache() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("compile-cache")
}

pub fn trainhost_command(config: &Path) -> Command {
    let mut command = Command::new(trainhost_binary());
    scrub_env(&mut command).env("TRAINHOST_AUTH_BOOTSTRAP_TOKEN", ADMIN_TOKEN).env("TRAINHOST_TOKEN", ADMIN_TOKEN).arg("--config").arg(config);
    // One compile cache for every process the tests start: each compiles a plugin once.
    command.env("TRAINHOST_STORAGE_COMPILE_CACHE_DIR", shared_compile_cache());
    command
}

/// Every line a process wrote, stdout and stderr together, in arrival order.
#[derive(Clone, Default)]
pub struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    fn push(&self, line: String) {
        self.0.lock().expect("a log reader panicked").push(line);
    }

    /// Keeps every line of `stream`, echoed to the test's stderr.
    fn follow(&self, stream: impl Read + Send + 'static) {
        let log = self.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                eprintln!("{line}");
                log.push(line);
            }
        });
    }

    pub fn lines_with(&self, needle: &str) -> Vec<String> {
        self.0.lock().expect("a log reader panicked").iter().filter(|l| l.contains(needle)).cloned().collect()
    }

    fn first_starting_with(&self, prefix: &str) -> Option<String> {
        self.0.lock().expect("a log reader panicked").iter().find(|l| l.starts_with(prefix)).cloned()
    }

    /// The last `count` lines, for a failure message.
    pub fn tail(&self, count: usize) -> String {
        let lines = self.0.lock().expect("a log reader panicked");
        lines[lines.len().saturating_sub(count)..].join("\n")
    }

    /// Waits until `needle` appears in more than `seen` lines; returns the new count.
    pub async fn wait_for(&self, needle: &str, seen: usize, within: Duration) -> usize {
        let deadline = Instant::now() + within;
        loop {
            let count = self.lines_with(needle).len();
            if count > seen {
                return count;
            }
            assert!(Instant::now() < deadline, "no new log line with {needle:?} within {within:?}");
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
    }
}

/// A running process, killed (SIGKILL; its whole group if it has one) when dropped.
pub struct Process {
    pub child: Child,
    /// `serve`'s URL; empty for other processes.
    pub url: String,
    pub pid: u32,
    pub log: Log,
    /// Leads a process group of its own: signals go to the whole group.
    group: bool,
}

impl Process {
    /// Starts `command` with its output kept in the log; `group`: in a process
    /// group of its own, so that killing it kills what it started too.
    pub fn spawn(mut command: Command, group: bool) -> Process {
        use std::os::unix::process::CommandExt;
        if group {
            command.process_group(0);
        }
        let mut child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap_or_else(|e| panic!("starting {command:?}: {e}"));
        let log = Log::default();
        log.follow(child.stdout.take().expect("stdout is piped"));
        log.follow(child.stderr.take().expect("stderr is piped"));
        let pid = child.id();
        Process { child, url: String::new(), pid, log, group }
    }

    /// `trainhost --config CONFIG ARGS...` with `env`, once it printed a line starting with `ready`.
    pub fn start(config: &Path, args: &[&str], env: &[(String, String)], ready: &str) -> Process {
        let mut command = trainhost_command(config);
        command.args(args).env("TRAINHOST_LOG", "info").env("NO_COLOR", "1").envs(env.iter().cloned());
        let mut process = Process::spawn(command, false);
        let line = process.wait_for_line(ready, STARTUP);
        process.url = line.strip_prefix(LISTENING).and_then(|rest| rest.split_whitespace().next()).unwrap_or_default().to_string();
        process
    }

    pub fn serve(setup: &Setup, extra: &[&str]) -> Process {
        let args: Vec<&str> = ["serve"].into_iter().chain(extra.iter().copied()).collect();
        Process::start(&setup.config_path(), &args, &setup.env, LISTENING)
    }

    pub fn worker(setup: &Setup) -> Process {
        Process::start(&setup.config_path(), &["worker"], &setup.env, WORKER_STARTED)
    }

    /// The first output line starting with `prefix`; panics (with the output)
    /// if the process exits or `within` passes first.
    pub fn wait_for_line(&mut self, prefix: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            if let Some(line) = self.log.first_starting_with(prefix) {
                return line;
            }
            self.assert_running(&format!("before printing {prefix:?}"));
            assert!(Instant::now() < deadline, "no line {prefix:?} within {within:?}:\n{}", self.log.tail(40));
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Polls `url/healthz` until it answers 200; panics (with the output) if the
    /// process exits or `within` passes first.
    pub async fn wait_healthy(&mut self, url: &str, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            if client().get(format!("{url}/healthz")).send().await.is_ok_and(|r| r.status() == 200) {
                return;
            }
            self.assert_running(&format!("before {url}/healthz answered"));
            assert!(Instant::now() < deadline, "{url}/healthz did not answer within {within:?}:\n{}", self.log.tail(40));
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    fn assert_running(&mut self, when: &str) {
        if let Some(status) = self.child.try_wait().expect("asking whether the process exited") {
            // Give the readers a moment to take the last lines.
            std::thread::sleep(Duration::from_millis(100));
            panic!("the process exited ({status}) {when}:\n{}", self.log.tail(40));
        }
    }

    /// Sends `signal` (libc::SIGHUP, ...) to the process, or to its group.
    pub fn signal(&self, signal: libc::c_int) {
        let pid = self.pid as libc::pid_t;
        let target = if self.group { -pid } else { pid };
        // SAFETY: kill(2) takes plain integers; a wrong pid is an error code, not undefined behaviour.
        let sent = unsafe { libc::kill(target, signal) };
        assert_eq!(sent, 0, "kill({target}, {signal}): {}", std::io::Error::last_os_error());
    }

    pub fn kill9(&mut self) {
        if self.group {
            // SAFETY: as in `signal`; the group may already be gone, which is fine here.
            unsafe { libc::kill(-(self.pid as libc::pid_t), libc::SIGKILL) };
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits for the exit.
    pub fn terminate(&mut self) -> ExitStatus {
        self.signal(libc::SIGTERM);
        self.child.wait().expect("waiting for the process to exit")
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill9();
    }
}
