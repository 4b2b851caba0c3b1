// Webhook bodies: an order-like event (customer, shipping address, line items, totals, tags,
// a note) of a given size, different for every request, stamped with the send time
// (`sent_at_us`, what the receiver measures end-to-end latency from). The same shape as
// hookline-bench's bodies (services/bench/src/payload.rs): real webhooks are nested JSON of
// mixed strings and numbers, and a body of one repeated character would flatter every layer
// that parses, copies or compresses it.

const FIRST_NAMES = ['Ada', 'Grace', 'Linus', 'Margaret', 'Alan', 'Barbara', 'Ken', 'Radia', 'Edsger', 'Frances'];
const LAST_NAMES = ['Moreau', 'Okafor', 'Lindqvist', 'Tanaka', 'Silva', 'Novak', 'Haddad', 'Kowalski', 'Byrne'];
const CITIES = [['Lyon', 'FR'], ['Porto', 'PT'], ['Utrecht', 'NL'], ['Leipzig', 'DE'], ['Turku', 'FI'], ['Cork', 'IE']];
const STREETS = ['Rue Victor Hugo', 'Harbour Road', 'Oak Lane', 'Market Street', 'Station Square', 'Mill Way'];
const ADJECTIVES = ['Walnut', 'Linen', 'Ceramic', 'Brass', 'Wool', 'Recycled', 'Oak', 'Enamel', 'Copper'];
const PRODUCTS = ['desk lamp', 'throw blanket', 'coffee mug', 'notebook', 'side table', 'tea kettle', 'backpack'];
const STATUSES = ['paid', 'pending', 'authorized', 'partially_refunded'];
const TAGS = ['gift', 'express', 'first-order', 'b2b', 'wholesale', 'promo', 'fragile', 'eco'];
const NOTE_WORDS = ['please', 'leave', 'the', 'parcel', 'with', 'reception', 'ring', 'twice', 'after', 'six', 'gift',
  'wrap', 'no', 'invoice', 'in', 'box', 'call', 'on', 'arrival', 'side', 'door'];

// Bytes kept free after the line items for the totals, tags, the note's key and the closing
// brackets, so that the note can bring the body to the exact size asked.
const TAIL_RESERVE = 200;

// Draws come from a table of 1,024 numbers in [0, 1) made once per VU by mulberry32, read
// from a place that depends on the request's sequence number: bodies vary from request to
// request and a run can be repeated exactly, at the cost of an array read per draw (k6's
// JavaScript runtime takes microseconds for each draw of a generator run per request).
const TABLE = (() => {
  let state = 0x2545f491;
  return Array.from({ length: 1024 }, () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 15), z | 1);
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
    return ((z ^ (z >>> 14)) >>> 0) / 4294967296;
  });
})();

// Notes are cut from one long text of those words, made once per VU: a slice costs one
// operation where adding words one by one costs one per word.
const NOTE_TEXT = Array.from({ length: 2048 }, (_, n) => NOTE_WORDS[(n * 7 + (n >> 3)) % NOTE_WORDS.length]).join(' ');

function draws(sequence) {
  // An odd stride walks the whole table; the start moves with every request.
  let cursor = (sequence * 389) & 1023;
  return () => TABLE[(cursor += 7) & 1023];
}

const euros = (cents) => `${Math.floor(cents / 100)}.${String(cents % 100).padStart(2, '0')}`;
const hex = (n, width) => n.toString(16).padStart(width, '0');
const digits = (n, width) => String(n).padStart(width, '0');

// An `order.created` event of `targetBytes` bytes (or of its smallest form, one line item,
// about 600 bytes, when that is more), picked by `sequence`, stamped with `sentAtUs`.
// Written as text rather than through JSON.stringify: k6's JavaScript runtime builds it in
// a fraction of the time, which keeps the load generator's CPU for sending.
export function orderEvent(sentAtUs, sequence, targetBytes) {
  const draw = draws(sequence);
  const below = (n) => Math.floor(draw() * n);
  const pick = (list) => list[below(list.length)];
  const [first, last] = [pick(FIRST_NAMES), pick(LAST_NAMES)];
  const [city, country] = pick(CITIES);
  const name = `${first} ${last}`;
  let body = `{"sent_at_us":${sentAtUs},"type":"order.created","id":"evt_${hex(below(2 ** 31), 8)}${hex(below(2 ** 31), 8)}",`
    + `"data":{"order":{"id":"ord_${hex(below(2 ** 31), 8)}${hex(below(2 ** 16), 4)}","number":${100000 + sequence},`
    + `"status":"${pick(STATUSES)}","currency":"EUR","customer":{"id":"cus_${hex(below(2 ** 31), 8)}","name":"${name}",`
    + `"email":"${first.toLowerCase()}.${last.toLowerCase()}@example.com","tier":"${pick(['standard', 'silver', 'gold'])}",`
    + `"orders_count":${1 + below(40)}},"shipping":{"name":"${name}","line1":"${1 + below(200)} ${pick(STREETS)}",`
    + `"city":"${city}","postal_code":"${digits(below(100000), 5)}","country":"${country}",`
    + `"method":"${below(3) === 0 ? 'express' : 'standard'}"},"items":[`;
  let subtotal = 0;
  for (let line = 0; ; line++) {
    const [quantity, unitCents] = [1 + below(4), 199 + below(19800)];
    const item = `${line > 0 ? ',' : ''}{"sku":"SKU-${digits(below(100000), 5)}","name":"${pick(ADJECTIVES)} ${pick(PRODUCTS)}",`
      + `"quantity":${quantity},"unit_price":"${euros(unitCents)}","weight_grams":${50 + below(5000)}}`;
    if (line > 0 && body.length + item.length + TAIL_RESERVE > targetBytes) break;
    body += item;
    subtotal += quantity * unitCents;
  }
  const [shipping, tax] = [490, Math.floor(subtotal / 5)];
  body += `],"totals":{"subtotal":"${euros(subtotal)}","shipping":"${euros(shipping)}","tax":"${euros(tax)}",`
    + `"total":"${euros(subtotal + shipping + tax)}"},"tags":["${pick(TAGS)}","${pick(TAGS)}"],"note":"`;
  const closing = '"}}}';
  // The note brings the body to the exact size (all plain ASCII: one character, one byte).
  const room = Math.max(0, targetBytes - body.length - closing.length);
  let note = NOTE_TEXT.substr(below(1024), room);
  while (note.length < room) note += ` ${NOTE_TEXT.substr(0, room - note.length - 1)}`;
  return body + note + closing;
}
