//! The set of plugins this process serves, loaded from config entries.
//! A plugin that fails to load is reported and left out; the others serve.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{LoadError, LoadedPlugin, Runtime};
use crate::config::PluginEntry;

#[derive(Default)]
pub struct PluginRegistry {
    plugins: BTreeMap<String, Arc<LoadedPlugin>>,
    failures: BTreeMap<String, String>,
}

impl PluginRegistry {
    pub fn load(runtime: &Arc<Runtime>, entries: &[PluginEntry]) -> PluginRegistry {
        let mut registry = PluginRegistry::default();
        for entry in entries {
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
}
