//! `/api/cart`: the session's cart, or the signed-in user's.

use actix_session::Session;
use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use futures_util::future::LocalBoxFuture;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::auth::CurrentUser;
use crate::cache::WorkerCache;
use crate::cart::store::{self, Owner};
use crate::cart::{lookup, Cart, CartError};
use crate::domain::id::PathId;
use crate::domain::json::whole_number;
use crate::error::{ApiError, ErrorBody, FieldError};
use crate::state::AppState;

/// One cart line with its product's name and price.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CartLineView {
    pub product_id: i64,
    pub quantity: u32,
    /// `null` when the product is gone.
    pub name: Option<String>,
    pub unit_price: Option<f64>,
    pub line_total: Option<f64>,
    /// False when the product was deleted or deactivated since it was added; such lines
    /// are not in `total`.
    pub available: bool,
}

/// `{"success":true,"cart":[...],"total":..}`
#[derive(Debug, Serialize, ToSchema)]
pub struct CartResponse {
    pub success: bool,
    pub cart: Vec<CartLineView>,
    pub total: f64,
}

/// `{productId, quantity}` for `POST /api/cart/add`.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct CartAdd {
    #[schema(minimum = 1)]
    pub product_id: i64,
    #[schema(minimum = 1, maximum = 999)]
    pub quantity: i32,
}

/// `{quantity}` for `PUT /api/cart/items/{productId}`; 0 removes the line.
#[derive(Debug, ToSchema)]
pub struct CartQuantity {
    #[schema(minimum = 0, maximum = 999)]
    pub quantity: i32,
}

/// What every cart handler needs: whose cart it is, the session holding an anonymous
/// one, and where product names and prices are read (through the cache).
pub struct CartContext {
    owner: Owner,
    session: Session,
    state: web::Data<AppState>,
    cache: web::Data<WorkerCache>,
}

impl FromRequest for CartContext {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let parts = <(
            Option<CurrentUser>,
            Session,
            web::Data<AppState>,
            web::Data<WorkerCache>,
        )>::from_request(req, payload);
        Box::pin(async move {
            let (user, session, state, cache) = parts.await?;
            Ok(CartContext {
                owner: user.map_or(Owner::Anonymous, |u| Owner::User(u.0.id)),
                session,
                state,
                cache,
            })
        })
    }
}

impl CartContext {
    async fn load(&self) -> Result<Cart, ApiError> {
        store::load(&self.state.redis, &self.session, self.owner).await
    }

    /// Loads the cart, applies `edit`, saves it and answers with the new view.
    async fn change(
        &self,
        edit: impl FnOnce(&mut Cart) -> Result<(), CartError>,
    ) -> Result<HttpResponse, ApiError> {
        let mut cart = self.load().await?;
        edit(&mut cart)?;
        store::save(&self.state.redis, &self.session, self.owner, &cart).await?;
        self.view(&cart).await
    }

    /// The cart with each line's name, unit price and total, and the cart's total.
    async fn view(&self, cart: &Cart) -> Result<HttpResponse, ApiError> {
        let mut lines = Vec::with_capacity(cart.lines.len());
        let mut total_cents: i64 = 0;
        for line in &cart.lines {
            let product = lookup::product(&self.state, &self.cache, line.product_id)
                .await?
                .filter(|p| p.active);
            let line_cents = product
                .as_ref()
                .map(|p| p.price.cents() * i64::from(line.quantity));
            total_cents += line_cents.unwrap_or(0);
            lines.push(CartLineView {
                product_id: line.product_id,
                quantity: line.quantity,
                unit_price: product.as_ref().map(|p| p.price.as_f64()),
                name: product.map(|p| p.name),
                line_total: line_cents.map(|c| c as f64 / 100.0),
                available: line_cents.is_some(),
            });
        }
        Ok(HttpResponse::Ok().json(CartResponse {
            success: true,
            cart: lines,
            total: total_cents as f64 / 100.0,
        }))
    }
}

/// An integer field of the body in `range`, or a 422 naming it.
fn int_field(
    body: &Value,
    field: &str,
    range: std::ops::RangeInclusive<i64>,
) -> Result<i64, ApiError> {
    body.get(field)
        .and_then(whole_number)
        .filter(|v| range.contains(v))
        .ok_or_else(|| {
            ApiError::Validation(vec![FieldError::new(
                field,
                format!(
                    "must be an integer from {} to {}",
                    range.start(),
                    range.end()
                ),
            )])
        })
}

/// The cart with names, unit prices and a total.
#[utoipa::path(get, path = "/api/cart", tag = "cart",
    responses((status = 200, description = "The cart", body = CartResponse)))]
pub async fn get(ctx: CartContext) -> Result<HttpResponse, ApiError> {
    let cart = ctx.load().await?;
    ctx.view(&cart).await
}

/// Adds a quantity of an active product, merging with its line (capped at 999).
#[utoipa::path(post, path = "/api/cart/add", tag = "cart", request_body = CartAdd,
    responses(
        (status = 200, description = "The cart", body = CartResponse),
        (status = 404, description = "No such active product", body = ErrorBody),
        (status = 422, description = "Bad quantity, or the cart has 100 lines", body = ErrorBody),
    ))]
#[tracing::instrument(skip_all)]
pub async fn add(body: web::Json<Value>, ctx: CartContext) -> Result<HttpResponse, ApiError> {
    let product_id = int_field(&body, "productId", 1..=i64::MAX)?;
    let quantity = int_field(&body, "quantity", 1..=999)? as u32;
    // An inactive product is as invisible here as on `GET /api/products/{id}`: a 404,
    // which also keeps a schema-valid body from being refused as invalid.
    lookup::product(&ctx.state, &ctx.cache, product_id)
        .await?
        .filter(|p| p.active)
        .ok_or(ApiError::NotFound("Product not found"))?;
    ctx.change(|cart| cart.add(product_id, quantity)).await
}

/// Sets a line's quantity; 0 removes the line.
#[utoipa::path(put, path = "/api/cart/items/{productId}", tag = "cart",
    params(("productId" = i64, Path, description = "Product id")),
    request_body = CartQuantity,
    responses(
        (status = 200, description = "The cart", body = CartResponse),
        (status = 404, description = "Not in the cart", body = ErrorBody),
        (status = 422, description = "Bad quantity", body = ErrorBody),
    ))]
pub async fn set_quantity(
    product_id: web::Path<PathId>,
    body: web::Json<Value>,
    ctx: CartContext,
) -> Result<HttpResponse, ApiError> {
    let quantity = int_field(&body, "quantity", 0..=999)? as u32;
    ctx.change(|cart| cart.set(product_id.0, quantity)).await
}

/// Removes a line.
#[utoipa::path(delete, path = "/api/cart/items/{productId}", tag = "cart",
    params(("productId" = i64, Path, description = "Product id")),
    responses(
        (status = 200, description = "The cart", body = CartResponse),
        (status = 404, description = "Not in the cart", body = ErrorBody),
    ))]
pub async fn remove(
    product_id: web::Path<PathId>,
    ctx: CartContext,
) -> Result<HttpResponse, ApiError> {
    ctx.change(|cart| cart.remove(product_id.0)).await
}

/// Empties the cart.
#[utoipa::path(delete, path = "/api/cart", tag = "cart",
    responses((status = 200, description = "The empty cart", body = CartResponse)))]
pub async fn clear(ctx: CartContext) -> Result<HttpResponse, ApiError> {
    ctx.change(|cart| {
        cart.lines.clear();
        Ok(())
    })
    .await
}
