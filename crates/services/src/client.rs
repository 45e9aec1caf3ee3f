//! Where a request comes from: kept with the session it opens, and used for rate limits.

/// The client's address (as the api crate determined it) and user agent.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}
