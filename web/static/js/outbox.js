// The counter's outbox: sales the server did not answer, kept in IndexedDB
// until they can be sent, each buyer ID sealed to the server's key (ECDH
// P-256 + AES-GCM: the browser cannot open it again) beside a masked ID.
// The same database keeps the encrypted memo of today's buyers. No DOM and
// no page state here: the counter passes in what a call needs.

// available: IndexedDB and WebCrypto exist and the page is a secure context.
export const available = !!(window.isSecureContext && window.crypto && crypto.subtle && window.indexedDB);

let dbp = null;
function db() {
  if (!dbp) dbp = new Promise((res, rej) => {
    const rq = indexedDB.open('publicmask-counter', 2);
    rq.onupgradeneeded = () => {
      const names = rq.result.objectStoreNames;
      if (!names.contains('outbox')) rq.result.createObjectStore('outbox', { keyPath: 'txn_id' });
      if (!names.contains('memo')) rq.result.createObjectStore('memo');
    };
    rq.onsuccess = () => res(rq.result);
    rq.onerror = () => rej(rq.error);
  });
  return dbp;
}

// tx runs fn on one object store in one transaction and resolves with the
// result of the request fn returns, once the transaction is complete.
export async function tx(mode, fn, store = 'outbox') {
  if (!available) return undefined;
  const d = await db();
  return new Promise((res, rej) => {
    const t = d.transaction(store, mode);
    const out = fn(t.objectStore(store));
    t.oncomplete = () => res(out && 'result' in out ? out.result : undefined);
    t.onerror = () => rej(t.error);
  });
}

// records are an outlet's outbox records, oldest sale first.
export async function records(outlet) {
  try {
    const rs = await tx('readonly', (s) => s.getAll());
    return (rs || []).filter((r) => r.outlet === outlet).sort((a, b) => (a.sold_at < b.sold_at ? -1 : 1));
  } catch (e) {
    return [];
  }
}

export async function pendingCount(outlet) {
  if (!outlet) return 0;
  return (await records(outlet)).filter((r) => r.state === 'pending').length;
}

export const get = (txn) => tx('readonly', (s) => s.get(txn));
export const put = (rec) => tx('readwrite', (s) => s.put(rec));
export const remove = (txn) => tx('readwrite', (s) => s.delete(txn));

// note replaces a refused record by a note without its sealed IDs.
export function note(r, code) {
  return put({ txn_id: r.txn_id, outlet: r.outlet, sold_at: r.sold_at, quantity: r.quantity, masked: r.masked, state: 'refused', code: code });
}

// record is the outbox record of a sale kept offline: the exact body every
// retry sends (same txn_id, same sold_at). Times are ISO strings: no
// 13-digit run (a millisecond timestamp) in the outbox, so that a scan for
// raw IDs stays simple.
export function record(sale, outlet, sealed, lateMs, ambiguous) {
  const b = sale.body;
  return {
    txn_id: b.txn_id, outlet: outlet, sold_at: sale.soldAt, quantity: sale.total,
    masked: sale.v.masked, year: sale.v.year, state: 'pending', attempts: 0,
    expires_at: new Date(Date.parse(sale.soldAt) + lateMs).toISOString(), ambiguous: ambiguous,
    body: { txn_id: b.txn_id, quantity: b.quantity, sold_at: sale.soldAt, offline: true, sealed: sealed }
  };
}

function b64u(buf) {
  let s = '';
  for (const x of new Uint8Array(buf)) s += String.fromCharCode(x);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}
function unb64u(s) {
  return Uint8Array.from(atob(s.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0));
}

// seal encrypts the IDs of a sale to the server (seal package, v1): an
// ephemeral ECDH P-256 key, HKDF-SHA256 salted with its public point, and
// AES-256-GCM with the outlet and txn_id as associated data.
export async function seal(ids, sealKey, outlet, txn) {
  const S = crypto.subtle, enc = new TextEncoder();
  const curve = { name: 'ECDH', namedCurve: 'P-256' };
  const [server, eph] = await Promise.all([
    S.importKey('raw', unb64u(sealKey), curve, false, []),
    S.generateKey(curve, true, ['deriveBits'])
  ]);
  const [bits, pub] = await Promise.all([
    S.deriveBits({ name: 'ECDH', public: server }, eph.privateKey, 256),
    S.exportKey('raw', eph.publicKey)
  ]);
  const epk = new Uint8Array(pub);
  const ikm = await S.importKey('raw', bits, 'HKDF', false, ['deriveKey']);
  const key = await S.deriveKey({ name: 'HKDF', hash: 'SHA-256', salt: epk, info: enc.encode('publicmask outbox seal aead v1') },
    ikm, { name: 'AES-GCM', length: 256 }, false, ['encrypt']);
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const ad = enc.encode('publicmask-outbox-v1\u0000' + outlet + '\u0000' + txn);
  const c = new Uint8Array(await S.encrypt({ name: 'AES-GCM', iv: iv, additionalData: ad }, key, enc.encode(JSON.stringify(ids))));
  const all = new Uint8Array(epk.length + iv.length + c.length);
  all.set(epk, 0); all.set(iv, epk.length); all.set(c, epk.length + iv.length);
  return 'v1.' + b64u(all);
}

// Today's buyers survive a reload (an outage is when a pharmacist reloads)
// only encrypted under a non-extractable AES-GCM key that this browser keeps
// beside them: the page can use the key, nobody can export it, and no hash
// of an ID is ever stored (DESIGN.md §2). Sign-out deletes both.
async function memoKey() {
  const k = await tx('readonly', (s) => s.get('key'), 'memo');
  if (k) return k;
  const nk = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt']);
  await tx('readwrite', (s) => s.put(nk, 'key'), 'memo');
  return nk;
}

// saveMemo encrypts buyers (an object) for outlet, bound to its code.
export async function saveMemo(outlet, buyers) {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const k = await memoKey();
  const ct = await crypto.subtle.encrypt({ name: 'AES-GCM', iv: iv, additionalData: new TextEncoder().encode(outlet) }, k,
    new TextEncoder().encode(JSON.stringify(buyers)));
  await tx('readwrite', (s) => s.put({ outlet: outlet, iv: iv, ct: new Uint8Array(ct) }, 'buyers'), 'memo');
}

// loadMemo returns the buyers saved for outlet, or null.
export async function loadMemo(outlet) {
  const rec = await tx('readonly', (s) => s.get('buyers'), 'memo');
  if (!rec || rec.outlet !== outlet) return null;
  const k = await memoKey();
  const pt = await crypto.subtle.decrypt({ name: 'AES-GCM', iv: rec.iv, additionalData: new TextEncoder().encode(outlet) }, k, rec.ct);
  return JSON.parse(new TextDecoder().decode(pt));
}

export function dropMemo() {
  return tx('readwrite', (s) => { s.delete('buyers'); return s.delete('key'); }, 'memo').catch(() => {});
}
