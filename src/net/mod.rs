//! The wire: DNS questions to the nameservers the settings name, HTTPS
//! requests over verified TLS, and whom that TLS trusts. Nothing here knows
//! the steps of a run; the steps call it.

pub(crate) mod dns;
pub(crate) mod http;
pub(crate) mod tls;
