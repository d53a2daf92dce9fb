//! The one HTTP client setup of xtask (Hub API, Space health and CORS, the local Space).
//!
//! Every status comes back as an answer, not an error: callers turn 401, 404, 429 or 503 into
//! the advice that fits. Every call has a deadline, so no wait can hang.

use std::time::Duration;

pub(crate) fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .user_agent(concat!("cargo-xtask/", env!("CARGO_PKG_VERSION")))
        .build()
        .new_agent()
}
