//! `rtc.webhook.*`: the project's webhook endpoints.

use serde_json::{json, Value};

use crate::api::body::Body;
use crate::api::{Ctx, Reply};
use crate::domain::events::type_names;
use crate::domain::events::EventType;
use crate::domain::ids;
use crate::domain::limits::Quota;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::resources::webhooks::{signing, url};
use crate::store::webhooks::{self, Webhook};

fn not_found(id: &str) -> ApiError {
    ApiError::new(ErrorCode::WebhookNotFound, format!("no webhook '{id}' in this project")).with_detail("webhook", id)
}

/// The form of a webhook `url` the OpenAPI document states (`CreateWebhookRequest.url`): https,
/// a host name of letters, digits and `-` whose last label starts with a letter (so never an
/// IP literal, in any notation), an optional port, and a path, query or fragment of visible
/// ASCII. `has_documented_form` is this pattern.
pub const URL_PATTERN: &str =
    r"^[hH][tT][tT][pP][sS]://([A-Za-z0-9-]+\.)*[A-Za-z][A-Za-z0-9-]*\.?(:[0-9]{1,5})?([/?#][!-~]*)?$";

/// Whether `url` matches `URL_PATTERN`.
fn has_documented_form(url: &str) -> bool {
    let Some(rest) = url.get(..8).filter(|s| s.eq_ignore_ascii_case("https://")).map(|_| &url[8..]) else {
        return false;
    };
    let (authority, tail) = rest.split_at(rest.find(['/', '?', '#']).unwrap_or(rest.len()));
    if !tail.bytes().all(|b| b.is_ascii_graphic()) {
        return false;
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    };
    if port.is_some_and(|p| p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit())) {
        return false;
    }
    let host = host.strip_suffix('.').unwrap_or(host);
    host.split('.').all(|label| !label.is_empty() && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        && host.rsplit('.').next().is_some_and(|last| last.as_bytes().first().is_some_and(u8::is_ascii_alphabetic))
}

pub async fn create(ctx: &Ctx<'_>) -> ApiResult<Reply> {
    // The signing secret is stored sealed: no key, no endpoints (the other routes still work).
    let key = ctx.app.settings.encryption_key.require("webhook endpoints")?;
    let mut body = Body::parse(&ctx.req.body)?;
    let raw_url = body.required_str("url", url::MAX_URL_BYTES)?;
    let types = body.optional_value("types");
    body.finish()?;
    // The server takes exactly the documented form: outside it is 400 (only a local development
    // deployment also takes what `url::check` lets through for it, such as http to loopback);
    // within it, a host deliveries may not go to is well-formed but refused (422), and a URL the
    // parser refuses (a port past 65535, a punycode label that does not decode) is 400.
    let dev = ctx.app.settings.webhooks.allow_http_loopback;
    let checked = match (has_documented_form(&raw_url), url::check(&raw_url, dev)) {
        (true, Ok(checked)) => checked,
        (true, Err(url::Refusal::NotAllowed(why))) => {
            return Err(ApiError::new(ErrorCode::DestinationNotAllowed, why).with_detail("field", "url"));
        }
        (true, Err(url::Refusal::Malformed(why))) => return Err(ApiError::invalid_field("url", why)),
        (false, Ok(checked)) if dev => checked,
        (false, Ok(_)) => {
            return Err(ApiError::invalid_field(
                "url",
                "'url' must be https:// and a host name (letters, digits and '-', not an IP address), \
                 an optional port, then a path of visible ASCII",
            ));
        }
        (false, Err(refusal)) => return Err(ApiError::invalid_field("url", refusal.why())),
    };
    let types = match types {
        None => None,
        Some(Value::Array(items)) if !items.is_empty() => {
            let mut out: Vec<String> = Vec::new();
            for item in items {
                let t = item.as_str().and_then(EventType::parse).ok_or_else(|| {
                    ApiError::invalid_field("types", format!("'types' items must be among {}", type_names()))
                })?;
                if !out.iter().any(|o| o == t.as_str()) {
                    out.push(t.as_str().to_owned());
                }
            }
            Some(out)
        }
        Some(_) => {
            return Err(ApiError::invalid_field("types", "'types' must be a non-empty array of event types"));
        }
    };
    let secret = signing::new_secret(ctx.rt);
    let webhook = Webhook {
        id: ids::random_id(ctx.rt, "wh_", 22),
        project_id: ctx.project_id().to_owned(),
        url: checked,
        types,
        sealed_secret: secret.seal(key, ctx.rt, ctx.project_id()),
        created_at_ms: ctx.rt.now_ms() as i64,
        last_attempt_at_ms: None,
        last_status: None,
        last_error: None,
        consecutive_failures: 0,
        delivered: 0,
        dead_lettered: 0,
    };
    webhooks::insert(ctx.rt, &webhook, ctx.app.settings.limits.quota(Quota::Webhooks)).await?;
    let mut out = webhook.to_json();
    out["secret"] = json!(secret.expose());
    Ok(Reply::created(out))
}

pub async fn list(ctx: &Ctx<'_>) -> ApiResult<Reply> {
    let items = webhooks::list(ctx.rt, ctx.project_id()).await?;
    Ok(Reply::ok(json!({ "items": items.iter().map(Webhook::to_json).collect::<Vec<_>>() })))
}

pub async fn get(ctx: &Ctx<'_>) -> ApiResult<Reply> {
    let webhook =
        webhooks::find(ctx.rt, ctx.project_id(), ctx.param(0)).await?.ok_or_else(|| not_found(ctx.param(0)))?;
    Ok(Reply::ok(webhook.to_json_with_health()))
}

pub async fn delete(ctx: &Ctx<'_>) -> ApiResult<Reply> {
    if !webhooks::soft_delete(ctx.rt, ctx.project_id(), ctx.param(0)).await? {
        return Err(not_found(ctx.param(0)));
    }
    Ok(Reply::ok(json!({ "ok": true })))
}

#[cfg(test)]
mod tests {
    use super::has_documented_form;

    #[test]
    fn the_documented_form_is_the_pattern() {
        for ok in [
            "https://hooks.example.com/rtc?x=1#f",
            "HTTPS://a",
            "https://a.b-c.example.:8443",
            "https://x1.example.com:1/",
            "https://localhost/",
            "https://printer.local/",
            "https://1.example",
        ] {
            assert!(has_documented_form(ok), "{ok}");
        }
        for bad in [
            "",
            "0",
            "http://hooks.example.com/",
            "https://",
            "https://127.0.0.1/",
            "https://2130706433/",
            "https://0x7f.0.0.1/",
            "https://[::1]/",
            "https://a..b/",
            "https://.a/",
            "https://a.1/",
            "https://-/",
            "https://a:/",
            "https://a:123456/",
            "https://user@a/",
            "https://exämple.com/",
            "https://a/ b",
            "https://a/\u{7f}",
            "https://a/é",
        ] {
            assert!(!has_documented_form(bad), "{bad}");
        }
    }
}
