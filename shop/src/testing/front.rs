//! Test helpers for Part A (the shop's front, exercises 01–04).

use harness::FaultPoint;

/// True for a write to a store (`put`, `batch` or `delete`); a read is
/// `get` or `list`. Fault rules use it to strike only the writes.
///
/// ```
/// use harness::FaultRule;
/// use shop::testing::front::is_write;
/// // Fail the second write to the shop's store, whatever it is.
/// let rule = FaultRule::at("kv.shop.*").when(is_write).nth(2).fail_before();
/// # let _ = rule;
/// ```
pub fn is_write(point: &FaultPoint) -> bool {
    ["put", "batch", "delete"]
        .iter()
        .any(|operation| point.name.ends_with(&format!(".{operation}")))
}
