// The ingest signature, computed in the browser: `sha256=<hex HMAC-SHA256 of the exact
// body bytes>`, keyed with the UTF-8 bytes of the subscription's secret.

/** The X-Hub-Signature-256 value for `bytes` (a Uint8Array) under `secret`. */
export async function ingestSignature(secret, bytes) {
  if (!globalThis.crypto?.subtle) {
    throw new Error('Signing needs WebCrypto, which browsers offer only on https or localhost pages');
  }
  const key = await crypto.subtle.importKey(
    'raw', new TextEncoder().encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign'],
  );
  const mac = new Uint8Array(await crypto.subtle.sign('HMAC', key, bytes));
  return `sha256=${Array.from(mac, (byte) => byte.toString(16).padStart(2, '0')).join('')}`;
}
