//! `trainhost plugin new NAME --lang LANG`: writes a plugin project into the
//! folder NAME from a template embedded in the binary at build time
//! (`templates/<lang>/`, see build.rs). The token `{{name}}` in file names
//! and contents becomes NAME; a file called `build` is made executable.
//!
//! Owns the name rule for new plugins and the writing of a project; it must
//! not hold any template's contents (they live in templates/).

use std::path::{Path, PathBuf};

include!(concat!(env!("OUT_DIR"), "/templates.rs"));

/// The token a template uses for the plugin's name.
const NAME_TOKEN: &str = "{{name}}";

#[derive(Debug, thiserror::Error)]
pub enum NewError {
    #[error("`{0}` is not a valid plugin name: use lowercase letters, digits and underscores, starting with a letter (at most 64)")]
    BadName(String),
    #[error("no template for language `{lang}`; the languages are: {known}")]
    UnknownLanguage { lang: String, known: String },
    #[error("{0} already exists; choose another name or remove it")]
    Exists(PathBuf),
    #[error("writing {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
}

/// The languages there is a template for.
pub fn languages() -> Vec<&'static str> {
    TEMPLATES.iter().map(|(lang, _)| *lang).collect()
}

/// Plugin names: they become a crate, module and file name in every language.
pub fn is_valid_plugin_name(name: &str) -> bool {
    name.len() <= 64
        && name.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Writes the project into `dir/NAME` (a folder that must not exist) and
/// returns its path. A half-written project is removed.
pub fn create(dir: &Path, name: &str, lang: &str) -> Result<PathBuf, NewError> {
    if !is_valid_plugin_name(name) {
        return Err(NewError::BadName(name.to_string()));
    }
    let files = TEMPLATES
        .iter()
        .find(|(l, _)| *l == lang)
        .map(|(_, files)| *files)
        .ok_or_else(|| NewError::UnknownLanguage { lang: lang.to_string(), known: languages().join(", ") })?;
    let root = dir.join(name);
    match std::fs::create_dir(&root) {
        Ok(()) => {}
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => return Err(NewError::Exists(root)),
        Err(source) => return Err(NewError::Write { path: root, source }),
    }
    let written = files.iter().try_for_each(|(path, bytes)| write_file(&root, &path.replace(NAME_TOKEN, name), bytes, name));
    if let Err(err) = written {
        let _ = std::fs::remove_dir_all(&root);
        return Err(err);
    }
    Ok(root)
}

fn write_file(root: &Path, relative: &str, bytes: &[u8], name: &str) -> Result<(), NewError> {
    let path = root.join(relative);
    let failed = |source| NewError::Write { path: path.clone(), source };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(failed)?;
    }
    // Text files get the name; anything else is copied as it is.
    let contents = match std::str::from_utf8(bytes) {
        Ok(text) => text.replace(NAME_TOKEN, name).into_bytes(),
        Err(_) => bytes.to_vec(),
    };
    std::fs::write(&path, contents).map_err(failed)?;
    // The build script, and the shell scripts it calls (the C SDK's build-component.sh).
    if relative == "build" || relative.ends_with(".sh") {
        make_executable(&path).map_err(failed)?;
    }
    Ok(())
}

#[cfg(unix)]
fn make_executable(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
}

#[cfg(not(unix))]
fn make_executable(_: &Path) -> std::io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_names_are_lowercase_words_with_digits_and_underscores() {
        for good in ["knn", "naive_bayes", "gbdt2"] {
            assert!(is_valid_plugin_name(good), "{good}");
        }
        for bad in ["", "Knn", "2knn", "_knn", "my-plugin", "a b", "../x", &"x".repeat(65)] {
            assert!(!is_valid_plugin_name(bad), "{bad}");
        }
    }
}
