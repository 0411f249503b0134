package rrn

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"testing"
)

func testSecret(b byte) []byte { return bytes.Repeat([]byte{b}, SecretSize) }

func testKeyer(tb testing.TB, b byte) *Keyer {
	tb.Helper()
	k, err := NewKeyer(testSecret(b))
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

func mustParse(tb testing.TB, s string) ID {
	tb.Helper()
	id, err := Parse(s, true)
	if err != nil {
		tb.Fatal(err)
	}
	return id
}

var hex32 = regexp.MustCompile(`^[0-9a-f]{32}$`)

// Known answers computed outside Go (Python hmac/hashlib), so the test pins
// the contract (what is hashed, which bytes, which encoding), not just Go's
// agreement with itself.
func TestKnownAnswers(t *testing.T) {
	secret := make([]byte, 32)
	for i := range secret {
		secret[i] = byte(i)
	}
	k, err := NewKeyer(secret)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := k.Key(mustParse(t, "830315-1992777")), PersonKey("7a4d102859e842e2e4ec11f6c2c1cf6c"); got != want {
		t.Errorf("Key = %s, want %s", got, want)
	}
	if got, want := Fingerprint(secret), "bac95a6e38f63c1992923efefca18a8a"; got != want {
		t.Errorf("Fingerprint = %s, want %s", got, want)
	}
}

func TestKey(t *testing.T) {
	k1, k1b, k2 := testKeyer(t, 1), testKeyer(t, 1), testKeyer(t, 2)
	seen := map[PersonKey]string{}
	for _, v := range loadVectors(t) {
		if !v.valid {
			continue
		}
		id := mustParse(t, v.id)
		plain := string(id.d[:])
		key := k1.Key(id)
		if !hex32.MatchString(string(key)) {
			t.Errorf("%s: key %q is not 32 lowercase hex", id, key)
		}
		if k1.Key(id) != key || k1b.Key(id) != key {
			t.Errorf("%s: key not deterministic for one secret", id)
		}
		if k2.Key(id) == key {
			t.Errorf("%s: same key under two secrets", id)
		}
		for _, form := range []string{plain, plain[:6] + "-" + plain[6:]} {
			if got := k1.Key(mustParse(t, form)); got != key {
				t.Errorf("%s: form %s keys to %s, want %s", id, form, got, key)
			}
		}
		if strings.Contains(string(key), plain) || strings.Contains(string(key), plain[:6]) {
			t.Errorf("%s: key %s contains the number", id, key)
		}
		// Distinct people get distinct keys (the vectors hold each person
		// twice: plain and hyphenated).
		if prev, ok := seen[key]; ok && prev != plain {
			t.Errorf("collision between %s and %s", prev, plain)
		}
		seen[key] = plain
	}
	if len(seen) < 10 {
		t.Fatalf("only %d distinct people keyed", len(seen))
	}
}

func TestKeyerCopiesSecret(t *testing.T) {
	s := testSecret(7)
	k, err := NewKeyer(s)
	if err != nil {
		t.Fatal(err)
	}
	id := mustParse(t, "8303151992777")
	before := k.Key(id)
	s[0] ^= 0xff
	if k.Key(id) != before {
		t.Error("Keyer shares the caller's secret slice")
	}
}

func TestNewKeyerShortSecret(t *testing.T) {
	for _, n := range []int{0, 1, 16, 31} {
		if k, err := NewKeyer(make([]byte, n)); err == nil || k != nil {
			t.Errorf("NewKeyer(%d bytes) = %v, %v; want error", n, k, err)
		}
	}
	for _, n := range []int{32, 64} {
		if _, err := NewKeyer(make([]byte, n)); err != nil {
			t.Errorf("NewKeyer(%d bytes): %v", n, err)
		}
	}
}

func TestFingerprint(t *testing.T) {
	a, b := testSecret(1), testSecret(2)
	fa := Fingerprint(a)
	if !hex32.MatchString(fa) {
		t.Errorf("fingerprint %q is not 32 lowercase hex", fa)
	}
	if Fingerprint(a) != fa {
		t.Error("fingerprint not deterministic")
	}
	if Fingerprint(b) == fa {
		t.Error("different secrets, same fingerprint")
	}
	if strings.Contains(hex.EncodeToString(a), fa) || strings.Contains(fa, hex.EncodeToString(a[:8])) {
		t.Error("fingerprint reveals the secret")
	}
	// The fingerprint must not be the key of any person, or storing it
	// would amount to storing a person key derivable without the secret.
	k := testKeyer(t, 1)
	if string(k.Key(mustParse(t, "8303151992777"))) == fa {
		t.Error("fingerprint equals a person key")
	}
}

func TestNewSecret(t *testing.T) {
	a, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != 32 || len(b) != 32 {
		t.Fatalf("lengths %d, %d; want 32", len(a), len(b))
	}
	if bytes.Equal(a, b) || bytes.Equal(a, make([]byte, 32)) {
		t.Error("NewSecret is not random")
	}
	if _, err := NewKeyer(a); err != nil {
		t.Errorf("NewKeyer(NewSecret()): %v", err)
	}
}

func TestKeyerDoesNotPrintSecret(t *testing.T) {
	s := testSecret('s') // printable, so %s would show it
	k, err := NewKeyer(s)
	if err != nil {
		t.Fatal(err)
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%d", "%q"} {
		out := fmt.Sprintf(verb, k)
		if strings.Contains(out, "ssss") || strings.Contains(out, "7373") || strings.Contains(out, "115 115") {
			t.Errorf("%s of Keyer leaks the secret: %s", verb, out)
		}
		if !strings.Contains(out, Fingerprint(s)) {
			t.Errorf("%s of Keyer = %q, want its fingerprint", verb, out)
		}
	}
}

// TestNoLeak checks every way an ID or a Parse error may end up in a log:
// none may contain the whole number, the serial part, or the 7-digit run of
// birth date and century/sex digit.
func TestNoLeak(t *testing.T) {
	var inputs []string
	for _, v := range loadVectors(t) {
		inputs = append(inputs, v.id)
	}
	inputs = append(inputs,
		refCheck("830315112345"), wrongCheck("830315112345"),
		" 830315-1123450 ", "8303151123450123", "830315-1123a50")

	var logBuf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logBuf, nil))
	jsonLogger := slog.New(slog.NewJSONHandler(&logBuf, nil))
	for _, in := range inputs {
		digits := onlyDigits(in)
		secrets := []string{digits}
		if len(digits) >= 13 {
			secrets = append(secrets, digits[:7], digits[7:13], digits[6:13])
		}
		// Also look for the secrets as fmt renders raw bytes (%d of a byte
		// array: "56 51 …"; %x: "3833…"), the way a struct would leak.
		for _, s := range secrets[:len(secrets):len(secrets)] {
			if s != "" {
				secrets = append(secrets, strings.Trim(fmt.Sprint([]byte(s)), "[]"), hex.EncodeToString([]byte(s)))
			}
		}
		check := func(what, out string) {
			t.Helper()
			for _, s := range secrets {
				if s != "" && strings.Contains(strings.ToLower(out), s) {
					t.Errorf("%s for input %q leaks %q: %q", what, in, s, out)
				}
			}
		}
		for _, verify := range []bool{false, true} {
			id, err := Parse(in, verify)
			if err != nil {
				check("error", err.Error())
				check("error %+v", fmt.Sprintf("%+v", err))
				check("error %#v", fmt.Sprintf("%#v", err))
				continue
			}
			check("String", id.String())
			check("GoString", id.GoString())
			for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%c", "%U", "%08v", "%T"} {
				check(verb, fmt.Sprintf(verb, id))
				check(verb+" in struct", fmt.Sprintf(verb, struct{ Buyer ID }{id}))
				check(verb+" of pointer", fmt.Sprintf(verb, &id))
				check(verb+" in slice", fmt.Sprintf(verb, []ID{id}))
			}
			check("Sprint", fmt.Sprint(id))
			check("Sprintln", fmt.Sprintln(id))
			logBuf.Reset()
			logger.Info("sale", "buyer", id, "ptr", &id)
			jsonLogger.Info("sale", "buyer", id, slog.Any("any", id))
			check("slog", logBuf.String())
			if want := digits[:6] + "-" + digits[6:7] + "******"; id.String() != want {
				t.Errorf("String = %q, want %q", id.String(), want)
			}
		}
	}
	if !strings.Contains(logBuf.String(), "******") {
		t.Error("slog output did not contain the masked form; test is not looking at it")
	}
}

func onlyDigits(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func BenchmarkParseAndKey(b *testing.B) {
	k := testKeyer(b, 1)
	ins := []string{"830315-1992777", "9007075942081", "000229-3531819"}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		id, err := Parse(ins[i%len(ins)], true)
		if err != nil {
			b.Fatal(err)
		}
		if k.Key(id) == "" {
			b.Fatal("empty key")
		}
		i++
	}
}

func BenchmarkParseAndKeyParallel(b *testing.B) {
	k := testKeyer(b, 1)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id, err := Parse("830315-1992777", true)
			if err != nil {
				b.Fatal(err)
			}
			_ = k.Key(id)
		}
	})
}
