//! Webhook bodies: an order-like event (customer, shipping address, line items, totals,
//! tags, a note) of the size a run asks for, different for every request, and stamped with
//! its send time (`sent_at_us`, from which the receiver measures end-to-end latency).
//!
//! Real webhooks are nested JSON of mixed strings and numbers; a body of one repeated
//! character would flatter every layer that parses, copies or compresses it.

use std::fmt::Write as _;

const FIRST_NAMES: &[&str] =
    &["Ada", "Grace", "Linus", "Margaret", "Alan", "Barbara", "Ken", "Radia", "Edsger", "Frances"];
const LAST_NAMES: &[&str] =
    &["Moreau", "Okafor", "Lindqvist", "Tanaka", "Silva", "Novak", "Haddad", "Kowalski", "Byrne"];
const CITIES: &[(&str, &str)] = &[
    ("Lyon", "FR"),
    ("Porto", "PT"),
    ("Utrecht", "NL"),
    ("Leipzig", "DE"),
    ("Turku", "FI"),
    ("Bologna", "IT"),
    ("Cork", "IE"),
    ("Brno", "CZ"),
];
const STREETS: &[&str] =
    &["Rue Victor Hugo", "Harbour Road", "Oak Lane", "Market Street", "Station Square", "Mill Way"];
const ADJECTIVES: &[&str] = &["Walnut", "Linen", "Ceramic", "Brass", "Wool", "Recycled", "Oak", "Enamel", "Copper"];
const PRODUCTS: &[&str] =
    &["desk lamp", "throw blanket", "coffee mug", "notebook", "side table", "tea kettle", "backpack"];
const STATUSES: &[&str] = &["paid", "pending", "authorized", "partially_refunded"];
const TIERS: &[&str] = &["standard", "silver", "gold"];
const TAGS: &[&str] = &["gift", "express", "first-order", "b2b", "wholesale", "promo", "fragile", "eco"];
const NOTE_WORDS: &[&str] = &[
    "please",
    "leave",
    "the",
    "parcel",
    "with",
    "reception",
    "ring",
    "twice",
    "after",
    "six",
    "gift",
    "wrap",
    "no",
    "invoice",
    "in",
    "box",
    "call",
    "on",
    "arrival",
    "side",
    "door",
];

/// Bytes kept free after the line items for totals, tags, the note's key and the closing
/// brackets, so that the note can bring the body to the exact size asked.
const TAIL_RESERVE: usize = 200;

/// Writes into `out` (cleared first) an `order.created` event of `target_bytes` bytes, or of
/// its smallest form (one line item, about 600 bytes) when that is more. `sequence` picks
/// the contents, so consecutive requests differ; the same `sequence` gives the same body.
pub fn order_event(out: &mut String, sent_at_us: u64, sequence: u64, target_bytes: usize) {
    let mut draw = Draw(sequence.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5DEE_CE66);
    let (first, last) = (draw.pick(FIRST_NAMES), draw.pick(LAST_NAMES));
    let (city, country) = draw.pick(CITIES);
    out.clear();
    // `write!` into a String cannot fail.
    let _ = write!(
        out,
        r#"{{"sent_at_us":{sent_at_us},"type":"order.created","id":"evt_{event:016x}","data":{{"order":{{"id":"ord_{order:012x}","number":{number},"status":"{status}","currency":"EUR","customer":{{"id":"cus_{customer:08x}","name":"{first} {last}","email":"{email_first}.{email_last}@example.com","tier":"{tier}","orders_count":{orders}}},"shipping":{{"name":"{first} {last}","line1":"{house} {street}","city":"{city}","postal_code":"{postal:05}","country":"{country}","method":"{method}"}},"items":["#,
        event = draw.next(),
        order = draw.below(1 << 48),
        number = 100_000 + sequence,
        status = draw.pick(STATUSES),
        customer = draw.below(1 << 32),
        email_first = first.to_ascii_lowercase(),
        email_last = last.to_ascii_lowercase(),
        tier = draw.pick(TIERS),
        orders = 1 + draw.below(40),
        house = 1 + draw.below(200),
        street = draw.pick(STREETS),
        postal = draw.below(100_000),
        method = if draw.below(3) == 0 { "express" } else { "standard" },
    );
    let mut subtotal_cents = 0;
    for line in 0.. {
        let mark = out.len();
        let (quantity, unit_cents) = (1 + draw.below(4), 199 + draw.below(19_800));
        let _ = write!(
            out,
            r#"{comma}{{"sku":"SKU-{sku:05}","name":"{adjective} {product}","quantity":{quantity},"unit_price":"{price}","weight_grams":{weight}}}"#,
            comma = if line == 0 { "" } else { "," },
            sku = draw.below(100_000),
            adjective = draw.pick(ADJECTIVES),
            product = draw.pick(PRODUCTS),
            price = euros(unit_cents),
            weight = 50 + draw.below(5_000),
        );
        if line > 0 && out.len() + TAIL_RESERVE > target_bytes {
            out.truncate(mark);
            break;
        }
        subtotal_cents += quantity * unit_cents;
    }
    let shipping_cents = 490;
    let tax_cents = subtotal_cents / 5;
    let _ = write!(
        out,
        r#"],"totals":{{"subtotal":"{}","shipping":"{}","tax":"{}","total":"{}"}},"tags":["{}","{}"],"note":""#,
        euros(subtotal_cents),
        euros(shipping_cents),
        euros(tax_cents),
        euros(subtotal_cents + shipping_cents + tax_cents),
        draw.pick(TAGS),
        draw.pick(TAGS),
    );
    const CLOSING: &str = r#""}}}"#;
    // Words up to the exact size; the last one cut to fit (all ASCII, so any cut is valid).
    while out.len() + CLOSING.len() < target_bytes {
        // Right after the note's opening quote (no word holds a quote) comes no space.
        if !out.ends_with('"') {
            out.push(' ');
        }
        let (room, word) = (target_bytes.saturating_sub(out.len() + CLOSING.len()), draw.pick(NOTE_WORDS));
        out.push_str(&word[..word.len().min(room)]);
    }
    out.push_str(CLOSING);
}

fn euros(cents: u64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

/// splitmix64: cheap, well-spread draws from a request's sequence number, so that bodies vary
/// without a random-number crate and a run can be repeated exactly.
struct Draw(u64);

impl Draw {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }

    fn pick<T: Copy>(&mut self, choices: &[T]) -> T {
        choices[self.below(choices.len() as u64) as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAMP: u64 = 1_765_068_123_456_789;

    fn body(sequence: u64, target: usize) -> String {
        let mut out = String::new();
        order_event(&mut out, STAMP, sequence, target);
        out
    }

    #[test]
    fn bodies_are_json_of_the_size_asked() {
        for target in [700, 1_024, 1_500, 4_096, 65_536] {
            for sequence in 0..50 {
                let text = body(sequence, target);
                assert_eq!(text.len(), target, "sequence {sequence}: {text}");
                let json: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
                assert!(!json["data"]["order"]["items"].as_array().expect("items").is_empty(), "{text}");
            }
        }
    }

    #[test]
    fn a_body_below_the_smallest_form_holds_one_item() {
        let text = body(7, 10);
        let json: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        assert_eq!(json["data"]["order"]["items"].as_array().map(Vec::len), Some(1));
        assert!(text.len() < 800, "{} bytes", text.len());
    }

    #[test]
    fn bodies_are_nested_varied_and_carry_the_stamp() {
        let (one, two) = (body(1, 1_024), body(2, 1_024));
        assert_ne!(one, two);
        assert_eq!(body(1, 1_024), one, "the same sequence gives the same body");
        let json: serde_json::Value = serde_json::from_str(&one).expect("JSON");
        assert_eq!(json["type"], "order.created");
        assert!(json["data"]["order"]["customer"]["email"].as_str().is_some_and(|e| e.ends_with("@example.com")));
        assert!(json["data"]["order"]["items"][0]["quantity"].as_u64().is_some());
        assert_eq!(hookline_testkit::bench::sent_at_us(one.as_bytes()), Some(STAMP));
        // Not one character repeated: no run of 8 equal bytes anywhere.
        assert!(!one.as_bytes().windows(8).any(|w| w.iter().all(|&b| b == w[0])), "{one}");
    }

    #[test]
    fn totals_add_up() {
        let json: serde_json::Value = serde_json::from_str(&body(3, 2_048)).expect("JSON");
        let cents = |text: &serde_json::Value| -> u64 {
            text.as_str().expect("a price").replace('.', "").parse().expect("digits")
        };
        let items = json["data"]["order"]["items"].as_array().expect("items");
        let subtotal: u64 =
            items.iter().map(|i| i["quantity"].as_u64().expect("quantity") * cents(&i["unit_price"])).sum();
        let totals = &json["data"]["order"]["totals"];
        assert_eq!(cents(&totals["subtotal"]), subtotal);
        assert_eq!(cents(&totals["total"]), subtotal + cents(&totals["shipping"]) + cents(&totals["tax"]));
    }
}
