//! End-to-end tests: the real binary against real servers on loopback.

#[path = "../support/mod.rs"]
mod support;

mod dhcp;
mod discovery;
mod domain;
mod early;
mod failures;
mod login;
mod nameservers;
mod nginx;
mod provision;
mod repository;
mod settings;
mod terminal;
mod trust;
