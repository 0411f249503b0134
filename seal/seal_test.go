package seal

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"testing"
)

func testKey(t *testing.T, b byte) *Key {
	t.Helper()
	k, err := NewKey(bytes.Repeat([]byte{b}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestKeyIsDerivedFromTheSecret(t *testing.T) {
	a, b, c := testKey(t, 1), testKey(t, 1), testKey(t, 2)
	if a.PublicKey() != b.PublicKey() {
		t.Fatal("two nodes with the same secret derived different key pairs")
	}
	if a.PublicKey() == c.PublicKey() {
		t.Fatal("different secrets derived the same key pair")
	}
	raw, err := base64.RawURLEncoding.DecodeString(a.PublicKey())
	if err != nil || len(raw) != 65 || raw[0] != 4 {
		t.Fatalf("public key is not an uncompressed P-256 point: %d bytes, %v", len(raw), err)
	}
	if _, err := NewKey([]byte("short")); err == nil {
		t.Fatal("a short secret was accepted")
	}
}

func TestSealOpenRoundTrip(t *testing.T) {
	k := testKey(t, 7)
	msg := []byte(`{"buyer":"8303151234567"}`)
	s, err := Seal(k.PublicKey(), msg, "11817488", "txn-1")
	if err != nil {
		t.Fatal(err)
	}
	got, err := k.Open(s, "11817488", "txn-1")
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("Open = %q, %v", got, err)
	}
	s2, _ := Seal(k.PublicKey(), msg, "11817488", "txn-1")
	if s2 == s {
		t.Fatal("two seals of the same body are equal: the ephemeral key or IV is reused")
	}
}

func TestOpenRefuses(t *testing.T) {
	k := testKey(t, 7)
	s, err := Seal(k.PublicKey(), []byte("x"), "outlet-a", "txn-1")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(s[3:])
	flip := append([]byte{}, raw...)
	flip[len(flip)-1] ^= 1
	cases := []struct {
		name, sealed, outlet, txn string
		key                       *Key
	}{
		{"other outlet", s, "outlet-b", "txn-1", k},
		{"other txn", s, "outlet-a", "txn-2", k},
		{"other server", s, "outlet-a", "txn-1", testKey(t, 8)},
		{"tampered", "v1." + base64.RawURLEncoding.EncodeToString(flip), "outlet-a", "txn-1", k},
		{"no version", s[3:], "outlet-a", "txn-1", k},
		{"wrong version", "v2" + s[2:], "outlet-a", "txn-1", k},
		{"not base64", "v1.!!!", "outlet-a", "txn-1", k},
		{"too short", "v1.AAAA", "outlet-a", "txn-1", k},
		{"empty", "", "outlet-a", "txn-1", k},
		{"bad point", "v1." + base64.RawURLEncoding.EncodeToString(make([]byte, 100)), "outlet-a", "txn-1", k},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := c.key.Open(c.sealed, c.outlet, c.txn); !errors.Is(err, ErrOpen) {
				t.Fatalf("Open = %v, want ErrOpen", err)
			}
		})
	}
}

func FuzzOpen(f *testing.F) {
	k, _ := NewKey(bytes.Repeat([]byte{3}, 32))
	s, _ := Seal(k.PublicKey(), []byte("x"), "o", "t")
	f.Add(s)
	f.Add("v1.")
	f.Fuzz(func(t *testing.T, in string) {
		pt, err := k.Open(in, "o", "t")
		if err == nil && string(pt) != "x" {
			t.Fatalf("opened a forged body to %q", pt)
		}
	})
}

// An attacker's ephemeral keys (audit 40c): points off the curve (the
// invalid-curve attack that would leak the static scalar bit by bit), the
// point at infinity's encodings, coordinates out of range, a compressed
// point, and the server's own public key. Every one is refused as ErrOpen,
// before any ECDH, with the one constant error.
func TestOpenRefusesHostileEphemeralKeys(t *testing.T) {
	k := testKey(t, 7)
	good, err := Seal(k.PublicKey(), []byte(`{"buyer":"x"}`), "o", "t")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(good[3:])
	rest := raw[pubLen:] // iv ‖ ciphertext ‖ tag
	p := make([]byte, 32)
	for i := range p {
		p[i] = 0xff
	}
	// p = 2^256 − 2^224 + 2^192 + 2^96 − 1: x = p is one past the field.
	fieldP, _ := hex.DecodeString("ffffffff00000001000000000000000000000000ffffffffffffffffffffffff")
	offCurve := append([]byte{}, raw[:pubLen]...)
	offCurve[pubLen-1] ^= 1 // y changed: (x, y') is on another curve y² = x³ − 3x + b'
	serverPub, _ := base64.RawURLEncoding.DecodeString(k.PublicKey())
	keys := map[string][]byte{
		"off the curve":      offCurve,
		"infinity (04 0…0)":  append([]byte{4}, make([]byte, 64)...),
		"infinity (00)":      append([]byte{0}, make([]byte, 64)...),
		"x = p":              append(append([]byte{4}, fieldP...), raw[33:pubLen]...),
		"all ones":           append([]byte{4}, append(p, p...)...),
		"compressed, padded": append(append([]byte{2}, raw[1:33]...), make([]byte, 32)...),
		"the server's key":   serverPub,
	}
	for name, epk := range keys {
		if len(epk) != pubLen {
			t.Fatalf("%s: %d bytes", name, len(epk))
		}
		s := "v1." + base64.RawURLEncoding.EncodeToString(append(append([]byte{}, epk...), rest...))
		if _, err := k.Open(s, "o", "t"); err != ErrOpen {
			t.Errorf("%s: Open = %v, want ErrOpen", name, err)
		}
	}
	if len(fieldP) != 32 {
		t.Fatalf("p is %d bytes", len(fieldP))
	}
}
