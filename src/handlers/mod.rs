//! One module per resource; `serve` maps a matched route to its handler.

mod admin;
mod discovery;
mod health;

use crate::app::{Ctx, Reply};
use crate::error::ApiResult;
use crate::router::Route;

pub async fn serve(route: Route, ctx: &Ctx<'_>) -> ApiResult<Reply> {
    match route {
        Route::Health => health::health(),
        Route::OpenApi => health::openapi(),
        Route::AdminCreateProject => admin::create_project(ctx).await,
        Route::AdminCreateKey => admin::create_key(ctx).await,
        Route::AdminListKeys => admin::list_keys(ctx).await,
        Route::AdminRevokeKey => admin::revoke_key(ctx).await,
        Route::Discovery => discovery::discover(ctx).await,
        _ => Err(crate::error::ApiError::new(crate::error::ErrorCode::RouteNotFound, "not yet")),
    }
}
