package public

import (
	"bytes"
	"testing"

	publicmask "github.com/publicmask/publicmask"
)

// Every v1 route answers with a trailing slash exactly as without one (a
// widely copied 2020 Android course called /storesByGeo/json/?m=5000).
func TestV1TrailingSlash(t *testing.T) {
	env := newEnv(t, []publicmask.Outlet{
		{Code: "11111111", Name: "가약국", Addr: "서울특별시 강북구 솔매로 38 (미아동)", Type: "01", Lat: 37.6259, Lng: 127.0254, Stock: 120},
		{Code: "11111112", Name: "나약국", Addr: "서울특별시 강북구 도봉로 1 (미아동)", Type: "01", Lat: 37.6269, Lng: 127.0264, Stock: 40},
	}, Options{})
	for _, path := range []string{
		"/corona19-masks/v1/stores/json",
		"/corona19-masks/v1/sales/json",
		"/corona19-masks/v1/storesByGeo/json?lat=37.626&lng=127.026&m=5000",
		"/corona19-masks/v1/storesByAddr/json?address=%EC%84%9C%EC%9A%B8%ED%8A%B9%EB%B3%84%EC%8B%9C+%EA%B0%95%EB%B6%81%EA%B5%AC+%EB%AF%B8%EC%95%84%EB%8F%99",
	} {
		plain := env.get(t, path)
		slash := env.get(t, addSlash(path))
		if plain.code != 200 || slash.code != 200 {
			t.Errorf("%s: %d, with slash %d: %s", path, plain.code, slash.code, slash.body)
			continue
		}
		if !bytes.Equal(plain.body, slash.body) {
			t.Errorf("%s: bodies differ with a trailing slash:\n%s\n%s", path, plain.body, slash.body)
		}
	}
	if res := env.get(t, "/corona19-masks/v1/storesByGeo/jsonx/"); res.code != 404 {
		t.Errorf("unknown route with a slash: %d, want 404", res.code)
	}
	// Only the slash: a path below a v1 route is no route (404 not_found).
	for _, path := range []string{
		"/corona19-masks/v1/stores/json/extra",
		"/corona19-masks/v1/sales/json/x/y",
		"/corona19-masks/v1/storesByGeo/json/zz?lat=37.626&lng=127.026",
		"/corona19-masks/v1/storesByAddr/json/1",
	} {
		if res := env.get(t, path); res.code != 404 || !bytes.Contains(res.body, []byte(`"not_found"`)) {
			t.Errorf("%s: %d %s, want 404 not_found", path, res.code, res.body)
		}
	}
}

func addSlash(path string) string {
	for i := range len(path) {
		if path[i] == '?' {
			return path[:i] + "/" + path[i:]
		}
	}
	return path + "/"
}
