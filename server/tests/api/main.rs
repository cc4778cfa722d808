//! Integration tests: the real server on a free port, spoken to over real HTTP.
//! One test binary (declared modules) so it builds once.

mod helpers;
mod predict;
mod rejects;
mod web;
