//! One module per resource; `serve` maps a matched route to its handler.

pub mod admin;
pub mod bans;
pub mod discovery;
pub mod events;
pub mod health;
pub mod limits;
pub mod messages;
pub mod moderation;
pub mod participants;
pub mod recordings;
pub mod rooms;
pub mod sessions;
pub mod storage;
pub mod streams;
pub mod timed_sessions;
pub mod tokens;
pub mod usage;
pub mod webhooks;

use crate::api::router::Route;
use crate::api::{Ctx, Reply};
use crate::error::ApiResult;

pub async fn serve(route: Route, ctx: &Ctx<'_>) -> ApiResult<Reply> {
    match route {
        Route::Health => health::health(),
        Route::OpenApi => health::openapi(),
        Route::AdminCreateProject => admin::create_project(ctx).await,
        Route::AdminCreateKey => admin::create_key(ctx).await,
        Route::AdminListKeys => admin::list_keys(ctx).await,
        Route::AdminRevokeKey => admin::revoke_key(ctx).await,
        Route::Discovery => discovery::discover(ctx).await,
        Route::RoomCreate => rooms::api::create(ctx).await,
        Route::RoomGet => rooms::api::get(ctx).await,
        Route::RoomList => rooms::api::list(ctx).await,
        Route::RoomDelete => rooms::api::delete(ctx).await,
        Route::TokenIssue => tokens::api::issue(ctx).await,
        Route::ParticipantList => participants::api::list(ctx).await,
        Route::ParticipantKick => participants::api::kick(ctx).await,
        Route::ParticipantBan => bans::api::ban(ctx).await,
        Route::BanList => bans::api::list(ctx).await,
        Route::BanDelete => bans::api::delete(ctx).await,
        Route::ParticipantMute => moderation::api::mute(ctx).await,
        Route::ParticipantUpdate => moderation::api::update(ctx).await,
        Route::RoomMessage => messages::api::send_message(ctx).await,
        Route::RecordingStart => recordings::api::start(ctx).await,
        Route::RecordingStop => recordings::api::stop(ctx).await,
        Route::RecordingGet => recordings::api::get(ctx).await,
        Route::RecordingList => recordings::api::list(ctx).await,
        Route::SessionList => sessions::api::list(ctx).await,
        Route::SessionGet => sessions::api::get(ctx).await,
        Route::Presence => sessions::api::presence(ctx).await,
        Route::StreamStart => streams::api::start(ctx).await,
        Route::StreamUpdate => streams::api::update(ctx).await,
        Route::StreamStop => streams::api::stop(ctx).await,
        Route::StreamGet => streams::api::get(ctx).await,
        Route::StreamList => streams::api::list(ctx).await,
        Route::VendorEvents => events::api::ingest(ctx).await,
        Route::EventList => events::api::list(ctx).await,
        Route::WebhookCreate => webhooks::api::create(ctx).await,
        Route::WebhookList => webhooks::api::list(ctx).await,
        Route::WebhookGet => webhooks::api::get(ctx).await,
        Route::WebhookDelete => webhooks::api::delete(ctx).await,
        Route::Usage => usage::usage(ctx).await,
        Route::Limits => limits::limits(ctx).await,
        Route::DestinationCreate => recordings::destinations::create(ctx).await,
        Route::DestinationList => recordings::destinations::list(ctx).await,
        Route::DestinationDelete => recordings::destinations::delete(ctx).await,
    }
}
