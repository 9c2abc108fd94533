//! The session's CSRF token: a random value kept in the session state, handed out by
//! `GET /api/auth/csrf`, and sent back as `X-CSRF-Token` by clients whose unsafe
//! requests carry no matching `Origin` (see `middleware::csrf`). A page of another
//! origin can neither read it (no CORS) nor add the header without a preflight the
//! service refuses. Signing in replaces it, so a token from before the sign-in is worth
//! nothing after.

use actix_session::Session;
use rand::RngCore;
use subtle::ConstantTimeEq;

/// Where the token lives in the session state.
const TOKEN_KEY: &str = "csrf";

/// The header clients send the token in.
pub const HEADER: &str = "x-csrf-token";

/// The session's token, made and stored on first use.
pub fn token(session: &Session) -> Result<String, String> {
    if let Ok(Some(token)) = session.get::<String>(TOKEN_KEY) {
        return Ok(token);
    }
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    session
        .insert(TOKEN_KEY, &token)
        .map_err(|e| format!("storing the CSRF token: {e}"))?;
    Ok(token)
}

/// Whether `presented` is the session's token (compared in constant time); `false` when
/// the session has none.
pub fn matches(session: &Session, presented: &str) -> bool {
    match session.get::<String>(TOKEN_KEY) {
        Ok(Some(token)) => token.as_bytes().ct_eq(presented.as_bytes()).into(),
        _ => false,
    }
}

/// Drops the token (at sign-in): the next `token` call makes a new one.
pub fn forget(session: &Session) {
    session.remove(TOKEN_KEY);
}
