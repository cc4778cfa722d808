//! Integration tests: the real server on a free port, spoken to over real HTTP.
//! One test binary (declared modules) so it builds once.

mod batch_page;
mod compression;
mod explain;
mod helpers;
mod hostile;
mod load;
mod logs;
mod model_page;
mod model_path;
mod openapi;
mod pages;
mod predict;
mod properties;
mod rejects;
mod resilience;
mod score;
mod security;
mod web;
