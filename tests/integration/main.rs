//! The one integration-test binary. Every test reaches the SDK the way production does: the emulator
//! (or the vendor's) `.so` loaded by path through `libloading` and the C ABI.

mod alert_http;
mod alerts;
mod architecture;
mod archive_api;
mod archive_browser;
mod audit;
mod check;
mod cli;
mod clickhouse;
mod clickhouse_cluster;
mod clickhouse_outage;
mod crash;
mod crypto_mb;
mod daemon;
mod fairness;
mod fake_wecom;
mod faults;
mod fleet;
mod fleet_leases;
mod media;
mod media_store;
mod names;
mod packaging;
mod pipeline;
mod review_api;
mod review_browser;
mod sdk_emulator;
mod sdk_media;
mod secrets;
mod spool;
mod store_contract;
mod support;
mod vendor_sdk;
mod workspace;
mod workspace_browser;
