// Package seal opens what the counter page seals in the browser: a pending
// offline sale's registration numbers, encrypted to the server so that the
// browser's storage never holds a readable ID (DESIGN.md §2 Privacy, §6.2).
//
// The scheme is ECIES-like and built only from what WebCrypto offers:
// an ephemeral ECDH P-256 key agreement with the server's static key, the
// shared secret stretched by HKDF-SHA256 into an AES-256-GCM key, and the
// outlet code and txn_id bound as associated data, so a sealed body cannot
// be replayed under another outlet's token or another transaction.
//
// The server's key pair is derived from the HMAC secret with HKDF: every
// ledger node that holds the secret has the same key pair, with no new file.
//
// The package is pure: no I/O, no clock.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
)

// Version prefixes every sealed string, so that the format can change.
const Version = "v1"

const (
	keyInfo  = "publicmask outbox seal key v1"
	aeadInfo = "publicmask outbox seal aead v1"
	pubLen   = 65 // uncompressed P-256 point
	ivLen    = 12
	tagLen   = 16
)

// ErrOpen is returned for any sealed string that cannot be opened: malformed,
// wrong key, wrong outlet or txn_id, tampered. One constant error, so that a
// client learns nothing about which part failed.
var ErrOpen = errors.New("seal: cannot open sealed body")

// Key is the server's key pair.
type Key struct {
	priv *ecdh.PrivateKey
	pub  string
}

// NewKey derives the key pair from the server secret. The private scalar is
// drawn from HKDF output by rejection (a 32-byte string is outside [1, n-1]
// with probability about 2^-32), so the derivation is deterministic.
func NewKey(secret []byte) (*Key, error) {
	if len(secret) < 16 {
		return nil, errors.New("seal: secret too short")
	}
	for i := 0; i < 64; i++ {
		b, err := hkdf.Key(sha256.New, secret, nil, keyInfo+" "+strconv.Itoa(i), 32)
		if err != nil {
			return nil, err
		}
		priv, err := ecdh.P256().NewPrivateKey(b)
		if err != nil {
			continue
		}
		return &Key{priv: priv, pub: base64.RawURLEncoding.EncodeToString(priv.PublicKey().Bytes())}, nil
	}
	return nil, errors.New("seal: no valid scalar derived") // cannot happen
}

// PublicKey is the uncompressed public point, base64url without padding:
// what WebCrypto's importKey("raw", …, {name: "ECDH", namedCurve: "P-256"})
// takes once decoded.
func (k *Key) PublicKey() string { return k.pub }

// AssociatedData binds a sealed body to its outlet and transaction.
func AssociatedData(outlet, txnID string) []byte {
	return []byte("publicmask-outbox-v1\x00" + outlet + "\x00" + txnID)
}

// Open decrypts a sealed string "v1.<base64url(epk ‖ iv ‖ ciphertext ‖ tag)>"
// made for outlet and txnID.
func (k *Key) Open(sealed, outlet, txnID string) ([]byte, error) {
	if len(sealed) < len(Version)+1 || sealed[:len(Version)+1] != Version+"." || len(sealed) > 64<<10 {
		return nil, ErrOpen
	}
	raw, err := base64.RawURLEncoding.DecodeString(sealed[len(Version)+1:])
	if err != nil || len(raw) < pubLen+ivLen+tagLen {
		return nil, ErrOpen
	}
	epk, err := ecdh.P256().NewPublicKey(raw[:pubLen])
	if err != nil {
		return nil, ErrOpen
	}
	aead, err := k.aead(epk)
	if err != nil {
		return nil, ErrOpen
	}
	pt, err := aead.Open(nil, raw[pubLen:pubLen+ivLen], raw[pubLen+ivLen:], AssociatedData(outlet, txnID))
	if err != nil {
		return nil, ErrOpen
	}
	return pt, nil
}

// aead derives the AES-GCM key shared with the holder of the ephemeral key:
// HKDF-SHA256 over the ECDH secret, salted with the ephemeral public point
// (as WebCrypto's deriveKey({name: "HKDF", salt, info}) does).
func (k *Key) aead(epk *ecdh.PublicKey) (cipher.AEAD, error) {
	z, err := k.priv.ECDH(epk)
	if err != nil {
		return nil, err
	}
	key, err := hkdf.Key(sha256.New, z, epk.Bytes(), aeadInfo, 32)
	if err != nil {
		return nil, err
	}
	blk, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(blk)
}

// Seal is what the browser does, for tests and for Go clients: it encrypts
// plaintext to the public key pub (as served) for outlet and txnID, with a
// fresh ephemeral key and IV.
func Seal(pub string, plaintext []byte, outlet, txnID string) (string, error) {
	pb, err := base64.RawURLEncoding.DecodeString(pub)
	if err != nil {
		return "", err
	}
	spk, err := ecdh.P256().NewPublicKey(pb)
	if err != nil {
		return "", err
	}
	eph, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		return "", err
	}
	z, err := eph.ECDH(spk)
	if err != nil {
		return "", err
	}
	epk := eph.PublicKey().Bytes()
	key, err := hkdf.Key(sha256.New, z, epk, aeadInfo, 32)
	if err != nil {
		return "", err
	}
	blk, err := aes.NewCipher(key)
	if err != nil {
		return "", err
	}
	aead, err := cipher.NewGCM(blk)
	if err != nil {
		return "", err
	}
	iv := make([]byte, ivLen)
	rand.Read(iv)
	out := append(append(append([]byte{}, epk...), iv...), aead.Seal(nil, iv, plaintext, AssociatedData(outlet, txnID))...)
	return Version + "." + base64.RawURLEncoding.EncodeToString(out), nil
}
