//! Embeds the plugin templates (`templates/<lang>/` at the workspace root) in
//! the binary for `trainhost plugin new`: writes `$OUT_DIR/templates.rs`, a
//! table of every template's files by language, each file's bytes taken with
//! `include_bytes!`. Build products an author may leave in a template folder
//! (target/, node_modules/, __pycache__/, .build/, *.wasm) are not templates and are skipped.
//! A template's `vendor.list` names folders of this repository (the SDK, the
//! WIT) to copy into the project too, so a project builds outside the repo
//! and the files keep one home here.
//!
//! Owns only that table; what `plugin new` does with it is cli/new.rs's.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

const SKIPPED_DIRS: [&str; 5] = ["target", "node_modules", "__pycache__", ".git", ".build"];

fn files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.file_type()?.is_dir() {
            if !SKIPPED_DIRS.contains(&name.as_str()) {
                files(&path, out)?;
            }
        } else if !name.ends_with(".wasm") {
            out.push(path);
        }
    }
    Ok(())
}

/// `path` below `base` with `/` separators.
fn relative(path: &Path, base: &Path) -> std::io::Result<String> {
    let relative = path.strip_prefix(base).map_err(std::io::Error::other)?;
    Ok(relative.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/"))
}

/// A template's files and the repository folders its `vendor.list` names,
/// each with its path inside the project.
fn template_files(dir: &Path, repo: &Path) -> std::io::Result<Vec<(PathBuf, String)>> {
    let mut found = Vec::new();
    files(dir, &mut found)?;
    let mut out = Vec::new();
    for file in found {
        let inside = relative(&file, dir)?;
        if inside != "vendor.list" {
            out.push((file, inside));
        }
    }
    let list = dir.join("vendor.list");
    if !list.is_file() {
        return Ok(out);
    }
    println!("cargo:rerun-if-changed={}", list.display());
    for line in std::fs::read_to_string(&list)?.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let (from, to) = line.split_once("->").ok_or_else(|| std::io::Error::other(format!("{}: `{line}` is not FROM -> TO", list.display())))?;
        let from = repo.join(from.trim());
        println!("cargo:rerun-if-changed={}", from.display());
        let mut vendored = Vec::new();
        files(&from, &mut vendored)?;
        for file in vendored {
            let inside = format!("{}/{}", to.trim().trim_end_matches('/'), relative(&file, &from)?);
            out.push((file, inside));
        }
    }
    Ok(out)
}

fn main() -> std::io::Result<()> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").map_err(std::io::Error::other)?).join("../templates");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut code = String::from(concat!(
        "/// A template's files: (path inside the project, bytes).\n",
        "pub type TemplateFiles = &'static [(&'static str, &'static [u8])];\n",
        "/// Every template: (language, its files).\n",
        "pub static TEMPLATES: &[(&str, TemplateFiles)] = &[\n",
    ));
    let mut langs: Vec<_> = if root.is_dir() { std::fs::read_dir(&root)?.collect::<Result<_, _>>()? } else { Vec::new() };
    langs.sort_by_key(|e| e.file_name());
    for lang in langs.iter().filter(|e| e.path().is_dir()) {
        let _ = writeln!(code, "    ({:?}, &[", lang.file_name().to_string_lossy());
        for (file, relative) in template_files(&lang.path(), &root.join(".."))? {
            println!("cargo:rerun-if-changed={}", file.display());
            let _ = writeln!(code, "        ({relative:?}, include_bytes!({:?})),", file.canonicalize()?.display().to_string());
        }
        code.push_str("    ]),\n");
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").map_err(std::io::Error::other)?).join("templates.rs");
    std::fs::write(out, code)
}
