//! The shipping label: a "PDF" of about 96 KiB (a header a person can
//! read, then the barcode and the pictures, here filler bytes), too large
//! for the broker. Its bytes include the moment it was rendered, so two
//! renderings of one order never have the same hash.

use std::time::Duration;

use harness::HandlerContext;

use super::ShipOrder;
use super::sha256::sha256_hex;

/// How long rendering a label takes (simulated time): long enough for
/// another worker to run meanwhile.
pub const RENDERING_TIME: Duration = Duration::from_millis(300);

/// The size of a label's artwork, in bytes.
const ARTWORK_BYTES: usize = 96 * 1024;

/// Renders the label of `ship`, at the simulated time of rendering.
pub fn render(ctx: &mut HandlerContext, ship: &ShipOrder) -> Vec<u8> {
    ctx.take_time(RENDERING_TIME);
    let rendered_at = ctx.sim().now();
    let header = format!(
        "%PDF-1.7\n% pierogi shop shipping label\nOrder: {}\nTo: {}, {}\nParcels: {}\n\
         Rendered at: {rendered_at}\n",
        ship.order_id,
        ship.customer,
        ship.deliver_to,
        ship.parcels()
    );
    let mut bytes = header.into_bytes();
    // The artwork depends on the order only: the header makes the difference.
    let seed = sha256_hex(ship.order_id.as_bytes());
    let pattern = seed.as_bytes();
    bytes.extend((0..ARTWORK_BYTES).map(|i| pattern[i % pattern.len()]));
    bytes.extend_from_slice(b"\n%%EOF\n");
    bytes
}

/// The readable header of a label: its lines up to the moment it was
/// rendered (empty if it has none).
///
/// ```
/// let label = b"%PDF-1.7\nTo: Ola\nRendered at: t=0.300s\n\x00\x01";
/// assert_eq!(shop::shipping::label::header(label), "%PDF-1.7\nTo: Ola\nRendered at: t=0.300s\n");
/// ```
pub fn header(label: &[u8]) -> String {
    let text = String::from_utf8_lossy(label);
    let Some(at) = text.find("Rendered at:") else {
        return String::new();
    };
    let end = text[at..].find('\n').map_or(text.len(), |end| at + end + 1);
    text[..end].to_string()
}
