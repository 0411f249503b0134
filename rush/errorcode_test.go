package rush

import (
	"encoding/json"
	"math/rand/v2"
	"testing"
)

// errorCodeDecoded is errorCode as a full decode answers it.
func errorCodeDecoded(b []byte) string {
	var e struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	if json.Unmarshal(b, &e) == nil {
		return e.Error.Code
	}
	return ""
}

// TestErrorCodeAsDecode: the scan of the server's error shape answers as
// decoding the body does, for the server's bodies, bodies of other shapes
// and truncated or altered ones.
func TestErrorCodeAsDecode(t *testing.T) {
	bodies := []string{
		`{"error":{"code":"quota_exceeded","message":"weekly quota used","details":{"persons":[{"role":"buyer","eligible":false,"reason":"quota_exceeded","remaining":0,"next_date":"2020-03-16"}]}}}`,
		`{"error":{"code":"not_eligible_today","message":"x"}}`,
		`{"error":{"code":"out_of_stock"}}`,
		`{"error":{"code":"invalid_id","message":"a \"code\" in the text"}}`,
		`{"error":{"code":"a","code":"b"}}`,
		`{"error":{"code":"a"},"error":{"code":"b"}}`,
		`{"error":{"code":"a","details":{"code":"b"}}}`,
		`{"error":{"code":"Upper"}}`,
		`{"error":{"code":"esc\u0061ped"}}`,
		`{"error":{"code":""}}`,
		`{"error":{"code":"x"}} trailing`,
		`{"error":{"code":"x"}`,
		`{"error": {"code": "spaced"}}`,
		`{"error":{"message":"m","code":"later"}}`,
		`{"error":{"code":"a","CODE":"b"}}`,
		`{"error":{"code":"a","c\u006fde":"b"}}`,
		`{"error":{"code":"a"},"Error":{"Code":"b"}}`,
		`{"error":{"code":"a"},"error":{"Code":"b"}}`,
		`{"sale_id":"s1"}`,
		`not json`,
		``,
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, s := range bodies[:4] {
		for range 2000 {
			b := []byte(s)
			switch rng.IntN(3) {
			case 0:
				b = b[:rng.IntN(len(b)+1)]
			case 1:
				b[rng.IntN(len(b))] = " \"{},:\\azAZ_09"[rng.IntN(14)]
			case 2:
				i := rng.IntN(len(b) + 1)
				b = append(b[:i:i], append([]byte{`"},\`[rng.IntN(4)]}, b[i:]...)...)
			}
			bodies = append(bodies, string(b))
		}
	}
	for _, s := range bodies {
		if got, want := errorCode([]byte(s)), errorCodeDecoded([]byte(s)); got != want {
			t.Fatalf("errorCode(%q) = %q, decoding says %q", s, got, want)
		}
	}
}

func BenchmarkErrorCode(b *testing.B) {
	body := []byte(`{"error":{"code":"quota_exceeded","message":"weekly quota used","details":{"persons":[{"role":"buyer","eligible":false,"reason":"quota_exceeded","remaining":0,"next_date":"2020-03-16"}]}}}`)
	b.ReportAllocs()
	for b.Loop() {
		if errorCode(body) != "quota_exceeded" {
			b.Fatal()
		}
	}
}

func BenchmarkErrorCodeDecoded(b *testing.B) {
	body := []byte(`{"error":{"code":"quota_exceeded","message":"weekly quota used","details":{"persons":[{"role":"buyer","eligible":false,"reason":"quota_exceeded","remaining":0,"next_date":"2020-03-16"}]}}}`)
	b.ReportAllocs()
	for b.Loop() {
		if errorCodeDecoded(body) != "quota_exceeded" {
			b.Fatal()
		}
	}
}
