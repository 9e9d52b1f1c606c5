//! End-to-end tests: the real binary against real servers on loopback, set
//! up by the test lab in testlab/ (the preconf-testlab crate).

mod askpass;
mod desktop;
mod dhcp;
mod dictionary;
mod discovery;
mod domain;
mod early;
mod failures;
mod firstboot;
mod listen;
mod listen_discovery;
mod login;
mod nameservers;
mod nginx;
mod open;
mod package;
mod progress;
mod provision;
mod repository;
mod settings;
mod terminal;
mod trust;
