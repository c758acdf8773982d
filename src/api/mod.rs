//! What a handler gets and the plumbing every resource shares: the router, authentication, the
//! body reader, paging, and the limits.

pub mod auth;
pub mod body;
pub mod limits;
pub mod paging;
pub mod router;
