//! The integration tests: one binary, a module per area (see STYLE.md).

mod anywhere;
mod bot_api;
mod bots;
mod bounds;
mod browser;
mod chaos;
mod common;
mod compare;
mod demo_bot;
mod demo_bot_chaos;
mod encodings;
mod frameworks;
mod https;
mod interop;
mod latency;
mod layers;
mod logs;
mod model;
mod outputs;
mod reload;
mod run;
mod shards;
mod signals;
mod transport;
