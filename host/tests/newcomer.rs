//! The newcomer's path, as the repository ships it: the shipped `trainhost.toml`
//! and every TOML snippet of its Markdown files through the host's own config
//! loader; `scripts/run` itself, from upload to a trained model; and the
//! README's "Using the CLI" lines, run from the repository root.
//!
//! They write nothing the repository tracks: models and data directories go to
//! temporary directories (scripts/run refreshes `build/plugins/`, as it does for
//! anyone who runs it).
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::*;
use trainhost::config::{Config, ConfigError};

/// How long `scripts/run` may take before it serves. In the test suite the
/// plugins and the host are already built (the same dev build), so this is the
/// allowance for a machine where they are not.
const BUILD_ALLOWANCE: Duration = Duration::from_secs(30 * 60);

/// The prefix every README CLI line must have: `cargo run` in the dev profile,
/// whose binary is the one this test run built.
const CARGO_RUN: [&str; 5] = ["cargo", "run", "-p", "trainhost", "--"];

fn shipped_config() -> PathBuf {
    workspace().join("trainhost.toml")
}

/// The config file at `path` as the host loads it, plugin limits resolved.
fn load(path: &Path) -> Result<Config, ConfigError> {
    let config = Config::load(Some(path))?;
    config.plugin_entries()?;
    Ok(config)
}

#[test]
fn the_shipped_config_loads_and_names_plugins_that_are_built() {
    let config = load(&shipped_config()).unwrap_or_else(|e| panic!("the shipped trainhost.toml does not load: {e}"));
    let entries = config.plugin_entries().unwrap();
    assert!(!entries.is_empty(), "the shipped config enables no plugin");
    for entry in &entries {
        assert!(entry.path.is_file(), "plugin `{}`: {} does not exist after scripts/build-plugins", entry.name, entry.path.display());
    }
}

/// The defect this file exists for: `cache_mib` under `[broker]` stopped every
/// README command, so the loader must refuse it (as it refuses any unknown field).
#[test]
fn a_setting_in_the_wrong_section_is_refused_by_name() {
    let shipped = std::fs::read_to_string(shipped_config()).unwrap();
    assert!(shipped.contains("\n[broker]\n"), "the shipped config has no [broker] section to misplace a setting in");
    let dir = temp_dir();
    let misplaced = dir.path().join("trainhost.toml");
    std::fs::write(&misplaced, shipped.replacen("\n[broker]\n", "\n[broker]\ncache_mib = 10240\n", 1)).unwrap();
    let err = load(&misplaced).expect_err("cache_mib under [broker] was accepted");
    assert!(err.to_string().contains("unknown field `cache_mib`"), "{err}");
}

/// The Markdown files under `dir`, leaving out hidden folders, dependencies and,
/// at the repository root, build output and the service's data.
fn markdown_files(dir: &Path, found: &mut Vec<PathBuf>) {
    let at_root = dir == workspace();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let skipped = name.starts_with('.') || name == "node_modules" || (at_root && ["target", "build", "data"].contains(&name));
        if path.is_dir() && !skipped {
            markdown_files(&path, found);
        } else if path.is_file() && name.ends_with(".md") {
            found.push(path);
        }
    }
}

/// Each ```toml block of `text`: its first line number and its lines, less the fence's indent.
fn toml_blocks(text: &str) -> Vec<(usize, String)> {
    let mut blocks = vec![];
    // The open block: its first line number, the fence's indent, the lines so far.
    let mut open: Option<(usize, usize, String)> = None;
    for (number, line) in text.lines().enumerate() {
        let indent = line.len() - line.trim_start().len();
        if open.is_none() {
            if line.trim_start().starts_with("```toml") {
                open = Some((number + 2, indent, String::new()));
            }
        } else if line.trim() == "```" {
            blocks.extend(open.take().map(|(first, _, body)| (first, body)));
        } else if let Some((_, fence, body)) = &mut open {
            body.push_str(line.get(indent.min(*fence)..).unwrap_or_default());
            body.push('\n');
        }
    }
    assert!(open.is_none(), "a ```toml block is never closed");
    blocks
}

/// A snippet is parsed as a whole config file, so a field the loader does not
/// know (or one in the wrong section) fails here, not in a reader's terminal.
#[test]
fn every_toml_snippet_in_the_docs_parses_as_a_config_file() {
    let mut files = vec![];
    markdown_files(&workspace(), &mut files);
    let dir = temp_dir();
    let snippet = dir.path().join("snippet.toml");
    let mut checked = 0;
    for file in &files {
        for (line, block) in toml_blocks(&std::fs::read_to_string(file).unwrap()) {
            std::fs::write(&snippet, &block).unwrap();
            if let Err(e) = load(&snippet) {
                panic!("the TOML block at {}:{line} does not load as a config file: {e}\n{block}", file.display());
            }
            checked += 1;
        }
    }
    assert!(checked > 0, "no ```toml block found in {files:?}: the README's plugin entry should be one");
}

/// The README's `scripts/run`, from the repository root, with a free port and a
/// temporary data directory: a baseline job from upload to downloaded model.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripts_run_serves_a_job_from_upload_to_model() {
    let dir = temp_dir();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let mut command = Command::new(workspace().join("scripts/run"));
    shell_env(&mut command)
        .current_dir(workspace())
        .args(["--bind", &format!("127.0.0.1:{port}")])
        .env("CARGO_TARGET_DIR", target_dir())
        .env("TRAINHOST_STORAGE_DATA_DIR", dir.path().join("data"))
        .env("TRAINHOST_STORAGE_COMPILE_CACHE_DIR", shared_compile_cache());
    let mut server = Process::spawn(command, true);
    server.wait_healthy(&url, BUILD_ALLOWANCE).await;
    // In the test suite everything is built: scripts/run must find it, not build again.
    let compiled: Vec<String> = server.log.lines_with("Compiling ").into_iter().filter(|l| l.trim_start().starts_with("Compiling ")).collect();
    assert!(
        compiled.is_empty(),
        "scripts/run compiled crates the test build had built: `cargo build` resolves other features than `cargo test` \
         (a dev-dependency turning on a feature of a shared dependency, see host/Cargo.toml; or a variable a build script watches):\n{}",
        compiled.join("\n")
    );
    // scripts/run execs the binary it built: the one this test run uses, not a second build.
    let running = std::fs::read_link(format!("/proc/{}/exe", server.pid)).unwrap();
    assert_eq!(running, trainhost_binary().canonicalize().unwrap(), "scripts/run serves another build than the tests'");

    // Accounts are on: the first start prints the admin's sign-in URL (and keeps the token in the data dir).
    let sign_in = server.wait_for_line("admin sign-in", Duration::from_secs(10));
    let token = sign_in.split(&format!("{url}/#token=")).nth(1).unwrap_or_else(|| panic!("no sign-in URL in {sign_in:?}")).trim().to_string();
    assert_eq!(std::fs::read_to_string(dir.path().join("data/admin-token")).unwrap().trim(), token);
    assert_eq!(get_json(&url, "/jobs").await.0, 401, "without the printed token the API refuses");
    let dataset = upload_as(&url, &token, &testdata("penguins.csv")).await;
    let job = submit_as(&url, &token, &baseline_job(dataset["id"].as_str().unwrap())).await;
    let events = collect(open_ws_as(&url, &token, &job).await, Duration::from_secs(60)).await;
    assert_complete_sequence(&events, "complete");
    let (status, model) = get_bytes_as(&url, &token, &format!("/jobs/{job}/model")).await;
    assert_eq!(status, 200);
    assert!(model.starts_with(b"TRAINHOST-MODEL\n"), "not a model file: {} bytes", model.len());
}

/// The commands of README.md's "Using the CLI" block, continuation lines
/// joined, comments dropped, each split into its words.
fn readme_cli_lines() -> Vec<Vec<String>> {
    let readme = std::fs::read_to_string(workspace().join("README.md")).unwrap();
    let section = readme.split("\n## Using the CLI\n").nth(1).expect("README.md has a `## Using the CLI` section");
    let block = section.split("```sh\n").nth(1).and_then(|rest| rest.split("\n```").next()).expect("a ```sh block in `Using the CLI`");
    let mut commands = vec![];
    let mut pending = String::new();
    for line in block.lines() {
        let line = line.split(" #").next().unwrap_or_default().trim_end();
        match line.strip_suffix('\\') {
            Some(start) => pending.push_str(start),
            None => {
                pending.push_str(line);
                commands.push(std::mem::take(&mut pending));
            }
        }
    }
    commands
        .iter()
        .filter(|c| !c.trim().is_empty())
        .map(|command| {
            assert!(!command.contains(['\'', '"', '$', '`']), "this test splits on spaces; quote-free lines only: {command}");
            command.split_whitespace().map(str::to_string).collect()
        })
        .collect()
}

/// The arguments of a README line, with `--out` and `--model` files moved into `dir`.
fn arguments_writing_into(line: &[String], dir: &Path) -> Vec<String> {
    let words: Vec<&str> = line.iter().map(String::as_str).collect();
    let arguments = words.strip_prefix(&CARGO_RUN[..]).unwrap_or_else(|| {
        panic!(
            "README CLI line `{}` does not start with `{}`: the lines use the dev build (the one scripts/run and the tests use)",
            words.join(" "),
            CARGO_RUN.join(" ")
        )
    });
    let mut rewritten: Vec<String> = vec![];
    for word in arguments {
        let moved = matches!(rewritten.last().map(String::as_str), Some("--out" | "--model")) && Path::new(word).is_relative();
        rewritten.push(if moved { dir.join(word).display().to_string() } else { word.to_string() });
    }
    rewritten
}

/// Checks what the README's comment promises for each command.
fn assert_promise(arguments: &[String], stdout: &str, shipped: &Config) {
    match arguments[0].as_str() {
        "plugins" => {
            for plugin in &shipped.plugins {
                assert!(stdout.lines().any(|l| l.starts_with(&format!("{} ", plugin.name))), "`plugins` does not list `{}`:\n{stdout}", plugin.name);
            }
        }
        "train" => {
            assert!(stdout.contains("holdout metrics"), "{stdout}");
            assert!(stdout.lines().any(|l| l.trim().starts_with("accuracy")), "{stdout}");
        }
        "predict" => {
            let mut lines = stdout.lines();
            assert!(lines.next().is_some_and(|header| header.starts_with("prediction,")), "{stdout}");
            assert_eq!(lines.count(), 344, "one prediction per penguin");
        }
        "plugin" => assert!(stdout.contains("ok: the plugin is usable"), "{stdout}"),
        other => panic!("README CLI line with a command this test does not know: {other}"),
    }
}

#[test]
fn the_readme_cli_lines_run_from_the_repository_root() {
    let shipped = load(&shipped_config()).unwrap_or_else(|e| panic!("the README's commands read the shipped trainhost.toml, which does not load: {e}"));
    let dir = temp_dir();
    let lines = readme_cli_lines();
    let commands: Vec<&str> = lines.iter().filter_map(|l| l.get(CARGO_RUN.len())).map(String::as_str).collect();
    assert_eq!(commands, ["plugins", "train", "predict", "plugin"], "the README's CLI lines changed: update this test with them");
    for line in &lines {
        let arguments = arguments_writing_into(line, dir.path());
        let mut command = Command::new(trainhost_binary());
        scrub_env(&mut command)
            .args(&arguments)
            .current_dir(workspace())
            .env("TRAINHOST_STORAGE_DATA_DIR", dir.path().join("data"))
            .env("TRAINHOST_STORAGE_COMPILE_CACHE_DIR", shared_compile_cache());
        let output: Output = command.output().unwrap();
        let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        assert!(output.status.success(), "`{}` failed:\n{stdout}\n{stderr}", line.join(" "));
        assert_promise(&arguments, &stdout, &shipped);
    }
    assert!(dir.path().join("model.trainhost").is_file(), "train wrote no model where --out said");
}
