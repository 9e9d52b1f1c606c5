//! `preconf listen`: backend-initiated provisioning. A backend finds the
//! device by multicast, pushes properties to `/rminit`, and the device
//! provisions itself from the reference it was given.

pub(crate) mod auth;
