//! Where a cart is kept: an anonymous cart in the session, a signed-in user's in Redis
//! under `{prefix}cart:user:{id}` (so it follows them to other devices and survives
//! logout), with a 30-day TTL renewed on every write so abandoned carts do not pile up.

use actix_session::Session;

use super::Cart;
use crate::error::ApiError;
use crate::redis_client::RedisClient;

const SESSION_KEY: &str = "cart";
const USER_CART_TTL_SECS: u64 = 30 * 24 * 3600;

/// Whose cart a request works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    Anonymous,
    User(i64),
}

fn user_key(redis: &RedisClient, user_id: i64) -> String {
    redis.keyspace().key(&format!("cart:user:{user_id}"))
}

pub async fn load(redis: &RedisClient, session: &Session, owner: Owner) -> Result<Cart, ApiError> {
    match owner {
        Owner::Anonymous => Ok(session
            .get::<Cart>(SESSION_KEY)
            .ok()
            .flatten()
            .unwrap_or_default()),
        Owner::User(id) => {
            let key = user_key(redis, id);
            let raw: Option<String> = redis
                .run(|mut c| async move { redis::cmd("GET").arg(key).query_async(&mut c).await })
                .await?;
            // A cart that no longer parses is treated as empty rather than wedging the user.
            Ok(raw
                .and_then(|r| serde_json::from_str(&r).ok())
                .unwrap_or_default())
        }
    }
}

pub async fn save(
    redis: &RedisClient,
    session: &Session,
    owner: Owner,
    cart: &Cart,
) -> Result<(), ApiError> {
    match owner {
        Owner::Anonymous => session
            .insert(SESSION_KEY, cart)
            .map_err(|e| ApiError::Internal(format!("storing the cart in the session: {e}"))),
        Owner::User(id) => {
            let key = user_key(redis, id);
            let body = serde_json::to_string(cart)
                .map_err(|e| ApiError::Internal(format!("serialising the cart: {e}")))?;
            redis
                .run(|mut c| async move {
                    redis::cmd("SET")
                        .arg(key)
                        .arg(body)
                        .arg("EX")
                        .arg(USER_CART_TTL_SECS)
                        .query_async::<()>(&mut c)
                        .await
                })
                .await?;
            Ok(())
        }
    }
}

/// Takes the anonymous cart out of the session (before the sign-in is recorded).
pub fn take_anonymous(session: &Session) -> Cart {
    session
        .remove_as::<Cart>(SESSION_KEY)
        .and_then(Result::ok)
        .unwrap_or_default()
}

/// Folds an anonymous cart into the user's.
pub async fn merge_into_user(
    redis: &RedisClient,
    session: &Session,
    user_id: i64,
    anonymous: &Cart,
) -> Result<(), ApiError> {
    if anonymous.is_empty() {
        return Ok(());
    }
    let owner = Owner::User(user_id);
    let mut cart = load(redis, session, owner).await?;
    cart.merge(anonymous);
    save(redis, session, owner, &cart).await
}
