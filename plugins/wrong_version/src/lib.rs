//! Exports `trainhost:plugin/trainer@1.0.0`, a version the host does not accept.
#![cfg(target_arch = "wasm32")]
wit_bindgen::generate!({ path: "wit", world: "plugin" });

struct Component;

impl exports::trainhost::plugin::trainer::Guest for Component {
    fn describe() -> String {
        "from the future".into()
    }
}

export!(Component);
