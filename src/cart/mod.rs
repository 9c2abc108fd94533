//! The cart: pure rules here (`Cart`), where it is kept in `store`, and how a line's
//! product is read in `lookup`.
//!
//! Rules: a quantity is 1..=999; adding a product already in the cart merges the lines,
//! capped at 999; at most 100 lines. Merging an anonymous cart into a user's at login
//! follows the same rules, dropping lines past the 100th rather than failing the login.

pub mod lookup;
pub mod store;

use serde::{Deserialize, Serialize};

pub const MAX_QUANTITY: u32 = 999;
pub const MAX_LINES: usize = 100;

/// One product and how many of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Line {
    pub product_id: i64,
    pub quantity: u32,
}

/// A change the cart refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CartError {
    #[error("must be an integer from 1 to 999")]
    Quantity,
    #[error("a cart holds at most 100 lines")]
    TooManyLines,
    #[error("product is not in the cart")]
    NotInCart,
}

impl CartError {
    /// The request field the error is about.
    pub fn field(self) -> &'static str {
        match self {
            CartError::Quantity => "quantity",
            CartError::TooManyLines | CartError::NotInCart => "productId",
        }
    }
}

/// Lines in the order they were first added.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cart {
    pub lines: Vec<Line>,
}

impl Cart {
    /// Adds `quantity` (1..=999) of a product, merging with its line, capped at 999.
    pub fn add(&mut self, product_id: i64, quantity: u32) -> Result<(), CartError> {
        if !(1..=MAX_QUANTITY).contains(&quantity) {
            return Err(CartError::Quantity);
        }
        if let Some(line) = self.lines.iter_mut().find(|l| l.product_id == product_id) {
            line.quantity = (line.quantity + quantity).min(MAX_QUANTITY);
            return Ok(());
        }
        if self.lines.len() >= MAX_LINES {
            return Err(CartError::TooManyLines);
        }
        self.lines.push(Line {
            product_id,
            quantity,
        });
        Ok(())
    }

    /// Sets a line's quantity (0..=999); 0 removes it.
    pub fn set(&mut self, product_id: i64, quantity: u32) -> Result<(), CartError> {
        if quantity > MAX_QUANTITY {
            return Err(CartError::Quantity);
        }
        if quantity == 0 {
            return self.remove(product_id);
        }
        let line = self
            .lines
            .iter_mut()
            .find(|l| l.product_id == product_id)
            .ok_or(CartError::NotInCart)?;
        line.quantity = quantity;
        Ok(())
    }

    pub fn remove(&mut self, product_id: i64) -> Result<(), CartError> {
        let before = self.lines.len();
        self.lines.retain(|l| l.product_id != product_id);
        if self.lines.len() == before {
            Err(CartError::NotInCart)
        } else {
            Ok(())
        }
    }

    /// Folds another cart into this one (login), dropping lines that do not fit.
    pub fn merge(&mut self, other: &Cart) {
        for line in &other.lines {
            let quantity = line.quantity.clamp(1, MAX_QUANTITY);
            // A full cart keeps what it has: the login must not fail over a cart.
            let _ = self.add(line.product_id, quantity);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adding_merges_lines_and_caps_at_999() {
        let mut cart = Cart::default();
        cart.add(1, 500).unwrap();
        cart.add(2, 1).unwrap();
        cart.add(1, 600).unwrap();
        assert_eq!(cart.lines.len(), 2);
        assert_eq!(cart.lines[0].quantity, 999);
        assert_eq!(cart.add(1, 0), Err(CartError::Quantity));
        assert_eq!(cart.add(1, 1000), Err(CartError::Quantity));
    }

    #[test]
    fn at_most_100_lines() {
        let mut cart = Cart::default();
        for id in 1..=100 {
            cart.add(id, 1).unwrap();
        }
        assert_eq!(cart.add(101, 1), Err(CartError::TooManyLines));
        // An existing line can still grow.
        cart.add(100, 5).unwrap();
        assert_eq!(cart.lines[99].quantity, 6);
    }

    #[test]
    fn set_zero_removes_and_unknown_lines_are_errors() {
        let mut cart = Cart::default();
        cart.add(7, 3).unwrap();
        cart.set(7, 9).unwrap();
        assert_eq!(cart.lines[0].quantity, 9);
        assert_eq!(cart.set(8, 1), Err(CartError::NotInCart));
        assert_eq!(cart.set(7, 1000), Err(CartError::Quantity));
        cart.set(7, 0).unwrap();
        assert!(cart.is_empty());
        assert_eq!(cart.remove(7), Err(CartError::NotInCart));
    }

    #[test]
    fn merge_adds_quantities_caps_and_drops_what_does_not_fit() {
        let mut user = Cart::default();
        for id in 1..=99 {
            user.add(id, 1).unwrap();
        }
        let mut anon = Cart::default();
        anon.add(1, 999).unwrap();
        anon.add(200, 2).unwrap();
        anon.add(201, 2).unwrap();
        user.merge(&anon);
        assert_eq!(user.lines.len(), 100);
        assert_eq!(user.lines[0].quantity, 999);
        assert_eq!(
            user.lines[99],
            Line {
                product_id: 200,
                quantity: 2
            }
        );
    }
}
