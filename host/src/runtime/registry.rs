//! The set of plugins this process serves, loaded from config entries.
//! A plugin that fails to load is reported and left out; the others serve.
//! `SharedRegistry` is the handle the API and the workers read, swapped whole
//! when the config is reloaded.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use parking_lot::RwLock;
use sha2::{Digest, Sha256};

use super::{LoadError, LoadedPlugin, Runtime};
use crate::config::{Config, ConfigError, PluginEntry};

#[derive(Default)]
pub struct PluginRegistry {
    plugins: BTreeMap<String, Arc<LoadedPlugin>>,
    failures: BTreeMap<String, String>,
    disabled: BTreeSet<String>,
}

impl PluginRegistry {
    pub fn load(runtime: &Arc<Runtime>, entries: &[PluginEntry]) -> PluginRegistry {
        Self::reload(runtime, entries, &PluginRegistry::default())
    }

    /// Like `load`, but a plugin of `previous` whose path, file hash and limits
    /// are unchanged is taken as it is instead of being loaded again.
    pub fn reload(runtime: &Arc<Runtime>, entries: &[PluginEntry], previous: &PluginRegistry) -> PluginRegistry {
        let mut registry = PluginRegistry::default();
        for entry in entries {
            if let Some(plugin) = previous.unchanged(entry) {
                tracing::debug!(plugin = %entry.name, "plugin unchanged");
                registry.plugins.insert(entry.name.clone(), plugin);
                continue;
            }
            match runtime.load(&entry.path, entry.sha256.as_deref(), entry.limits) {
                Ok(plugin) => {
                    tracing::info!(plugin = %entry.name, path = %entry.path.display(), cached = plugin.from_cache, compile_ms = plugin.compile_time.as_millis() as u64, "plugin loaded");
                    registry.plugins.insert(entry.name.clone(), Arc::new(plugin));
                }
                Err(err) => registry.fail(&entry.name, err),
            }
        }
        registry
    }

    /// The config's plugins (enabled ones loaded, disabled ones remembered as such),
    /// reusing what `previous` already loaded.
    pub fn from_config(runtime: &Arc<Runtime>, config: &Config, previous: &PluginRegistry) -> Result<PluginRegistry, ConfigError> {
        let mut registry = Self::reload(runtime, &config.plugin_entries()?, previous);
        registry.disabled = config.plugins.iter().filter(|p| !p.enabled).map(|p| p.name.clone()).collect();
        Ok(registry)
    }

    /// A loaded plugin with the entry's path and limits whose file still has the
    /// same sha256 (and matches the entry's pin, if any).
    fn unchanged(&self, entry: &PluginEntry) -> Option<Arc<LoadedPlugin>> {
        let candidate = self.plugins.values().find(|p| p.path == entry.path && p.limits == entry.limits)?;
        let sha256 = hex::encode(Sha256::digest(std::fs::read(&entry.path).ok()?));
        let pinned_ok = entry.sha256.as_deref().is_none_or(|pin| pin.eq_ignore_ascii_case(&sha256));
        (candidate.sha256 == sha256 && pinned_ok).then(|| candidate.clone())
    }

    fn fail(&mut self, name: &str, err: LoadError) {
        tracing::error!(plugin = %name, error = %err, "plugin left out");
        self.failures.insert(name.to_string(), err.to_string());
    }

    pub fn get(&self, name: &str) -> Option<&Arc<LoadedPlugin>> {
        self.plugins.get(name)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &Arc<LoadedPlugin>)> {
        self.plugins.iter()
    }

    /// Plugins named in the config that could not be loaded, with the reason.
    pub fn failures(&self) -> &BTreeMap<String, String> {
        &self.failures
    }

    /// Whether the config names this plugin with `enabled = false`.
    pub fn is_disabled(&self, name: &str) -> bool {
        self.disabled.contains(name)
    }
}

/// The plugin registry in use by the API and the workers of this process.
///
/// Owns only the pointer to the current `PluginRegistry`. A reload builds a
/// whole new registry and swaps it in at once; readers take a snapshot with
/// `current()`, so a request or a job keeps the plugins it started with.
#[derive(Clone, Default)]
pub struct SharedRegistry(Arc<RwLock<Arc<PluginRegistry>>>);

impl SharedRegistry {
    pub fn new(registry: PluginRegistry) -> SharedRegistry {
        SharedRegistry(Arc::new(RwLock::new(Arc::new(registry))))
    }

    pub fn current(&self) -> Arc<PluginRegistry> {
        self.0.read().clone()
    }

    /// Puts `registry` in place and returns the one it replaces.
    pub fn replace(&self, registry: PluginRegistry) -> Arc<PluginRegistry> {
        std::mem::replace(&mut *self.0.write(), Arc::new(registry))
    }
}
