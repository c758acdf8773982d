//! What a handler gets and the plumbing every resource shares: the router, authentication, the
//! body reader, paging, and the limits.

pub mod auth;
pub mod body;
pub mod context;
pub mod limits;
pub mod paging;
pub mod revocation;
pub mod router;
pub mod settings;
pub mod state;

pub use context::{Ctx, Reply, ReplyBody};
pub use settings::Settings;
pub use state::App;
