//! The wasm-bindgen binding of the Shoal player core: converts JS values into core inputs and
//! core outputs into JS values. No policy lives here.

use wasm_bindgen::prelude::*;

/// Version of the core, so the JS shim can report what it runs.
#[wasm_bindgen(js_name = coreVersion)]
pub fn core_version() -> String {
    env!("CARGO_PKG_VERSION").to_owned()
}
