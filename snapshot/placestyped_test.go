package snapshot

import (
	"slices"
	"testing"
)

// TestCitizenPlaces: /api/v2/places suggests a place across a level left
// out ("고양시 화정" → 고양시 덕양구 화정동), for a numbered 행정동 (the
// 법정동 the index knows) and for "광주 오포". Each found nothing on main.
func TestCitizenPlaces(t *testing.T) {
	s := citizenFixture()
	for q, want := range map[string]string{
		"고양시 화정":   "경기도 고양시 덕양구 화정동",
		"고양시 화정동":  "경기도 고양시 덕양구 화정동",
		"화정1동":     "경기도 고양시 덕양구 화정동",
		"화정1":      "경기도 고양시 덕양구 화정동",
		"고양시 화정1동": "경기도 고양시 덕양구 화정동",
		"강남구 논현1동": "서울특별시 강남구 논현동",
		"논현1동":     "서울특별시 강남구 논현동",
		"광주 오포":    "경기도 광주시 오포읍",
		"서울 논현":    "서울특별시 강남구 논현동",
		"수원 장안":    "경기도 수원시 장안구",
		"경기 고양 화정": "경기도 고양시 덕양구 화정동",
	} {
		var got []string
		for _, p := range s.Places(q, 10, nil) {
			got = append(got, p.Label)
		}
		if !slices.Contains(got, want) {
			t.Errorf("places %q: %v, want %s among them", q, got, want)
		}
	}
}
