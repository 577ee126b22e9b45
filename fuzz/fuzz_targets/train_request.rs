//! A `POST /train` body: parsed into the request type, its split fractions
//! checked, and its parameters validated against every bundled plugin's
//! schema, as the API does before anything is queued. What the host accepts
//! for kmodes must be what kmodes itself accepts (it checks the same bounds).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use trainhost::api::validate::TrainRequest;
use trainhost::runtime::schema::{self, PluginSchema};

fn schemas() -> &'static [PluginSchema] {
    static SCHEMAS: OnceLock<Vec<PluginSchema>> = OnceLock::new();
    SCHEMAS.get_or_init(trainhost_fuzz::bundled_schemas)
}

fuzz_target!(|data: &[u8]| {
    let Ok(request) = TrainRequest::parse(data) else { return };
    let _ = request.fractions();
    let Some(config) = &request.model_config else { return };
    for plugin in schemas() {
        let Ok(params) = schema::validate(plugin, &config.params) else { continue };
        assert_eq!(params.len(), plugin.params.len(), "every declared parameter is filled in");
        if plugin.name == "kmodes" {
            let guest = trainhost_fuzz::to_guest(&params);
            if let Err(e) = kmodes::Config::from_params(&guest) {
                panic!("the host accepted {:?} but kmodes refuses it: {e:?}", config.params);
            }
        }
    }
});
