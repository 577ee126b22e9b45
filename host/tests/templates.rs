//! Every plugin template (templates/<lang>/), freshly written by `trainhost
//! plugin new` into a temporary folder, builds with its own `build` script
//! and passes `trainhost plugin check`. A template whose toolchain cannot be
//! installed fails here with the build's output: it is not skipped.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use common::*;

/// The languages with a template folder in this checkout.
fn languages() -> Vec<String> {
    let mut langs: Vec<String> = std::fs::read_dir(workspace().join("templates"))
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    langs.sort();
    langs
}

fn config(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("trainhost.toml");
    std::fs::write(&path, format!("[storage]\ndata_dir = {:?}\n", dir.join("data"))).unwrap();
    path
}

/// Writes, builds and checks the template of `lang` as plugin `NAME`; returns what failed.
fn build_and_check(dir: &Path, lang: &str) -> Result<String, String> {
    let name = format!("tpl_{lang}");
    let config = config(dir);
    let out = trainhost_command(&config).args(["plugin", "new", &name, "--lang", lang]).current_dir(dir).output().unwrap();
    if !out.status.success() {
        return Err(format!("plugin new --lang {lang} failed:\n{}", String::from_utf8_lossy(&out.stderr)));
    }
    let project = dir.join(&name);
    let started = Instant::now();
    // A developer's environment (cargo's own variables removed), with the
    // compiled dependencies of a Rust template kept beside this run's target.
    let mut build = Command::new(project.join("build"));
    shell_env(&mut build).current_dir(&project).env("CARGO_TARGET_DIR", target_dir().join("templates").join(lang));
    let out = build.output().map_err(|e| format!("{lang}: cannot run {}/build: {e}", project.display()))?;
    if !out.status.success() {
        return Err(format!(
            "{lang}: ./build failed (is its toolchain installable here?):\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let built = started.elapsed();
    let wasm = project.join(format!("{name}.wasm"));
    let size = std::fs::metadata(&wasm).map_err(|e| format!("{lang}: ./build succeeded but wrote no {}: {e}", wasm.display()))?.len();
    let out = trainhost_command(&config).args(["plugin", "check", &wasm.display().to_string()]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() || stdout.lines().any(|l| l.starts_with("FAIL ")) {
        return Err(format!("{lang}: plugin check failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr)));
    }
    Ok(format!("{lang}: built in {:.1} s, {size} bytes; plugin check passed", built.as_secs_f64()))
}

#[test]
fn every_template_builds_into_a_plugin_that_passes_the_check() {
    let langs = languages();
    assert!(langs.iter().any(|l| l == "rust"), "templates/rust is missing: {langs:?}");
    let mut failures = Vec::new();
    for lang in &langs {
        let dir = temp_dir();
        match build_and_check(dir.path(), lang) {
            Ok(line) => eprintln!("{line}"),
            Err(why) => failures.push(why),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn plugin_new_refuses_an_existing_folder_a_bad_name_and_an_unknown_language() {
    let dir = temp_dir();
    let config = config(dir.path());
    let run = |args: &[&str]| {
        let out = trainhost_command(&config).args(args).current_dir(dir.path()).output().unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (ok, stderr) = run(&["plugin", "new", "My-Plugin", "--lang", "rust"]);
    assert!(!ok && stderr.contains("`My-Plugin` is not a valid plugin name: use lowercase letters, digits and underscores"), "{stderr}");
    let (ok, stderr) = run(&["plugin", "new", "mine", "--lang", "cobol"]);
    assert!(!ok && stderr.contains("no template for language `cobol`; the languages are: ") && stderr.contains("rust"), "{stderr}");
    assert!(!dir.path().join("mine").exists());

    let (ok, stderr) = run(&["plugin", "new", "mine", "--lang", "rust"]);
    assert!(ok, "{stderr}");
    let project = dir.path().join("mine");
    let manifest = std::fs::read_to_string(project.join("Cargo.toml")).unwrap();
    assert!(manifest.contains("name = \"mine\"") && !manifest.contains("{{name}}"), "{manifest}");
    assert!(std::fs::read_to_string(project.join("src/lib.rs")).unwrap().contains("name: \"mine\".into()"));
    // The SDK and the WIT come along, as in this checkout.
    let sdk = std::fs::read_to_string(project.join("vendor/trainhost-sdk/src/lib.rs")).unwrap();
    assert_eq!(sdk, std::fs::read_to_string(workspace().join("sdk/src/lib.rs")).unwrap());
    assert!(project.join("vendor/wit/v0.3/plugin.wit").is_file());
    assert!(!project.join("vendor.list").exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(project.join("build")).unwrap().permissions().mode() & 0o111, 0o111);
    }
    let (ok, stderr) = run(&["plugin", "new", "mine", "--lang", "rust"]);
    assert!(!ok && stderr.contains("already exists"), "{stderr}");
}
