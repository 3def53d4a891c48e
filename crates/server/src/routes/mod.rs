//! HTTP routes, one module per area. Each handler is documented for OpenAPI with every
//! response it can really give; `app.rs` assembles them into the router.

pub mod accounts;
pub mod chat;
pub mod games;
pub mod matchmaking;
pub mod ratings;
pub mod social;
pub mod system;

use axum::extract::FromRequest;
use axum::extract::Request;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// `Json<T>` whose rejections are problem documents (400/413/415/422) instead of plain text.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        // Parse as JSON first (content type, size and syntax errors as usual), then insist on
        // an object: serde would otherwise accept an array for a struct.
        let axum::Json(value) = axum::Json::<serde_json::Value>::from_request(req, state).await?;
        if !value.is_object() {
            return Err(ApiError::new(
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                versus_protocol::ErrorCode::MalformedRequest,
                "the body must be a JSON object",
            ));
        }
        serde_json::from_value(value).map(ApiJson).map_err(|e| {
            ApiError::new(
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                versus_protocol::ErrorCode::MalformedRequest,
                format!("the body does not have the expected shape: {e}"),
            )
        })
    }
}
