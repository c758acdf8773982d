//! One module per resource; `serve` maps a matched route to its handler.

mod admin;
mod destinations;
mod discovery;
mod events;
mod health;
mod idempotent;
mod limits;
mod paging;
mod participants;
mod recording_spec;
mod recordings;
mod rooms;
mod tokens;
mod usage;
mod waiting;
mod webhooks;

pub use health::OPENAPI_JSON;
pub use paging::CURSOR_PATTERN;
pub use webhooks::URL_PATTERN as WEBHOOK_URL_PATTERN;

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
        Route::RoomCreate => rooms::create(ctx).await,
        Route::RoomGet => rooms::get(ctx).await,
        Route::RoomList => rooms::list(ctx).await,
        Route::RoomDelete => rooms::delete(ctx).await,
        Route::TokenIssue => tokens::issue(ctx).await,
        Route::ParticipantList => participants::list(ctx).await,
        Route::ParticipantKick => participants::kick(ctx).await,
        Route::RecordingStart => recordings::start(ctx).await,
        Route::RecordingStop => recordings::stop(ctx).await,
        Route::RecordingGet => recordings::get(ctx).await,
        Route::RecordingList => recordings::list(ctx).await,
        Route::VendorEvents => events::ingest(ctx).await,
        Route::EventList => events::list(ctx).await,
        Route::WebhookCreate => webhooks::create(ctx).await,
        Route::WebhookList => webhooks::list(ctx).await,
        Route::WebhookGet => webhooks::get(ctx).await,
        Route::WebhookDelete => webhooks::delete(ctx).await,
        Route::Usage => usage::usage(ctx).await,
        Route::Limits => limits::limits(ctx).await,
        Route::DestinationCreate => destinations::create(ctx).await,
        Route::DestinationList => destinations::list(ctx).await,
        Route::DestinationDelete => destinations::delete(ctx).await,
    }
}
