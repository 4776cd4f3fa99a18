//! The wasm-bindgen binding of the Shoal player core. It converts JS values into core inputs
//! and core outputs into JS values, and nothing else: no policy lives here.
//!
//! JS calls one method, [`WasmPlayer::step`], with every fact that happened since the last call;
//! it gets back every order plus the time to call again, so it cannot forget to drain.

use player_core::{Config, Input, Instant, Output, Player};
use serde::Serialize;
use wasm_bindgen::prelude::*;

/// Version of the core, so the JS shim can report what it runs.
#[wasm_bindgen(js_name = coreVersion)]
pub fn core_version() -> String {
    env!("CARGO_PKG_VERSION").to_owned()
}

#[wasm_bindgen]
#[derive(Debug)]
pub struct WasmPlayer {
    core: Player,
}

/// What one step hands back to JS.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StepResult {
    orders: Vec<Output>,
    /// `performance.now()` time at which to call `step` again with a `timer` input.
    timeout_ms: Option<f64>,
}

fn to_js_error(error: impl std::fmt::Display) -> JsError {
    JsError::new(&error.to_string())
}

#[wasm_bindgen]
impl WasmPlayer {
    /// `config` is a plain object with camelCase `Config` fields (missing ones take defaults);
    /// the seed comes from `crypto.getRandomValues` as two 32-bit halves.
    #[wasm_bindgen(constructor)]
    pub fn new(
        config: JsValue,
        seed_high: u32,
        seed_low: u32,
        now_ms: f64,
    ) -> Result<WasmPlayer, JsError> {
        let config: Config = if config.is_undefined() || config.is_null() {
            Config::default()
        } else {
            serde_wasm_bindgen::from_value(config).map_err(to_js_error)?
        };
        let seed = (u64::from(seed_high) << 32) | u64::from(seed_low);
        Ok(WasmPlayer {
            core: Player::new(config, seed, Instant::from_millis_f64(now_ms)),
        })
    }

    /// Feeds `inputs` (an array of `{type, ...}` objects) that happened at `now_ms`, and returns
    /// `{orders, timeoutMs}`.
    pub fn step(&mut self, now_ms: f64, inputs: JsValue) -> Result<JsValue, JsError> {
        let now = Instant::from_millis_f64(now_ms);
        let inputs: Vec<Input> = serde_wasm_bindgen::from_value(inputs).map_err(to_js_error)?;
        for input in inputs {
            self.core.handle_input(now, input);
        }
        let mut orders = Vec::new();
        let timeout_ms = loop {
            match self.core.poll_output() {
                Output::Timeout { at } => break at.map(Instant::as_millis_f64),
                order => orders.push(order),
            }
        };
        // Plain JSON-like objects, except that bytes (peer messages, segments from peers)
        // become `Uint8Array`s rather than arrays of numbers.
        let serializer =
            serde_wasm_bindgen::Serializer::json_compatible().serialize_bytes_as_arrays(false);
        StepResult { orders, timeout_ms }
            .serialize(&serializer)
            .map_err(to_js_error)
    }
}

/// SHA-256 of `bytes` with the core's implementation (the `sha2` crate). The shim hashes
/// segments for the integrity check (`HashBody`) with WebCrypto, several times faster
/// (`tests/bench/sha256.mjs` measures both); this is its fallback where WebCrypto is missing
/// (pages outside a secure context).
#[wasm_bindgen]
pub fn sha256(bytes: &[u8]) -> Vec<u8> {
    player_core::integrity::sha256(bytes).as_bytes().to_vec()
}
