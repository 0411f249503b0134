package rrn

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"sync"
)

// SecretSize is the size of a secret made by NewSecret and the minimum
// accepted by NewKeyer: the ID space is small (about 10^11 plausible
// numbers), so the secret is the only thing standing between a leaked store
// and every buyer's number.
const SecretSize = 32

// PersonKey is the only identity that may reach a store or a log: HMAC-SHA256
// of the normalised 13 digits under the server secret, first 16 bytes, as
// lowercase hex (32 characters).
type PersonKey string

// Keyer derives PersonKeys under one server secret. It is safe for
// concurrent use.
type Keyer struct {
	secret []byte
	pool   sync.Pool // of *mac keyed with secret; Reset keeps the key
}

// NewKeyer returns a Keyer for secret, which it copies. It fails if the
// secret is shorter than SecretSize bytes.
func NewKeyer(secret []byte) (*Keyer, error) {
	if len(secret) < SecretSize {
		return nil, fmt.Errorf("rrn: secret must be at least %d bytes, got %d", SecretSize, len(secret))
	}
	k := &Keyer{secret: append([]byte(nil), secret...)}
	// Pooling the keyed HMAC saves hashing the key pads on every sale.
	k.pool.New = func() any {
		return &mac{h: hmac.New(sha256.New, k.secret), sum: make([]byte, 0, sha256.Size)}
	}
	return k, nil
}

// Key returns the PersonKey of id. The zero ID has the key "" so that a
// forgotten Parse cannot silently map everyone to one person.
func (k *Keyer) Key(id ID) PersonKey {
	if !id.valid() {
		return ""
	}
	m := k.pool.Get().(*mac)
	m.h.Reset()
	m.in = id.d // copied into the pooled buffer so id does not escape
	m.h.Write(m.in[:])
	m.sum = m.h.Sum(m.sum[:0])
	var out [32]byte
	hex.Encode(out[:], m.sum[:16])
	k.pool.Put(m)
	return PersonKey(out[:])
}

// mac is a keyed HMAC with its output buffer, pooled together so that Key
// costs one allocation (the returned string).
type mac struct {
	h   hash.Hash
	in  [13]byte
	sum []byte
}

// Format implements fmt.Formatter so that logging a Keyer by mistake prints
// only the fingerprint of its secret, never the secret.
func (k *Keyer) Format(f fmt.State, verb rune) {
	if k == nil {
		_, _ = f.Write([]byte("rrn.Keyer(nil)"))
		return
	}
	_, _ = fmt.Fprintf(f, "rrn.Keyer{fingerprint:%s}", Fingerprint(k.secret))
}

const fingerprintMsg = "publicmask secret fingerprint v1"

// Fingerprint identifies a secret without revealing it: hex of the first 16
// bytes of HMAC-SHA256(secret, "publicmask secret fingerprint v1"). It is
// kept in the store so that a node started with a different secret (which
// would give every buyer a fresh quota) refuses to start.
func Fingerprint(secret []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(fingerprintMsg))
	return hex.EncodeToString(m.Sum(nil)[:16])
}

// NewSecret returns SecretSize random bytes from crypto/rand.
func NewSecret() ([]byte, error) {
	b := make([]byte, SecretSize)
	if _, err := rand.Read(b); err != nil {
		return nil, errors.New("rrn: reading random secret: " + err.Error())
	}
	return b, nil
}
