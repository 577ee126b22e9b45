//! On-disk cache of compiled components, so a restart does not recompile.
//!
//! The key is the plugin file's sha256 plus the engine's precompile
//! compatibility hash: a new wasmtime or different engine settings miss the
//! cache instead of loading incompatible machine code.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::PathBuf;

use wasmtime::component::Component;
use wasmtime::Engine;

pub struct CompileCache {
    dir: Option<PathBuf>,
}

impl CompileCache {
    pub fn new(dir: Option<PathBuf>) -> Self {
        CompileCache { dir }
    }

    fn entry(&self, engine: &Engine, sha256: &str) -> Option<PathBuf> {
        let mut hasher = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let dir = self.dir.as_ref()?;
        Some(dir.join(format!("{sha256}-{:016x}.cwasm", hasher.finish())))
    }

    /// Returns the compiled component and whether it came from the cache.
    pub fn load_or_compile(&self, engine: &Engine, sha256: &str, wasm: &[u8]) -> wasmtime::Result<(Component, bool)> {
        let entry = self.entry(engine, sha256);
        if let Some(path) = entry.as_deref().filter(|p| p.exists()) {
            // SAFETY: the file was written by `Engine::precompile_component` of an
            // engine with the same compatibility hash (it is in the name), into a
            // directory only this service writes.
            match unsafe { Component::deserialize_file(engine, path) } {
                Ok(component) => return Ok((component, true)),
                Err(err) => tracing::warn!(path = %path.display(), %err, "discarding unreadable compile cache entry"),
            }
        }
        let compiled = engine.precompile_component(wasm)?;
        if let Some(path) = entry.as_deref() {
            if let Err(err) = crate::files::write_atomically(path, &compiled) {
                tracing::warn!(path = %path.display(), %err, "could not write compile cache entry");
            }
        }
        // SAFETY: the bytes were produced just above by this engine.
        let component = unsafe { Component::deserialize(engine, &compiled)? };
        Ok((component, false))
    }
}
