package public

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/publicmask/publicmask/snapshot"
)

// TestResponsesMatchOpenAPI validates real responses of every public
// endpoint (and their requests) against the served /openapi.json.
func TestResponsesMatchOpenAPI(t *testing.T) {
	env, _ := gangbukEnv(t, Options{Rules: func(d time.Time, y int) any {
		q := 2
		rules := map[string]any{"date": d.Format("2006-01-02"), "sales_open": true, "rotation": true,
			"weekend_rule": "anyone", "digits_today": []int{3, 8}, "weekly_quota": q, "purchases_per_week": 1}
		if y != 0 {
			rules["person"] = map[string]any{"birth_year": y, "may_buy": true, "quota": q, "days_this_week": []string{"2020-03-11"}}
		}
		return rules
	}})
	res := env.get(t, "/openapi.json")
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(res.body)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := doc.Validate(ctx); err != nil {
		t.Fatalf("openapi.json is not a valid OpenAPI 3 document: %v", err)
	}
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	urls := []string{
		"/corona19-masks/v1/stores/json?perPage=100",
		"/corona19-masks/v1/stores/json?page=9",
		"/corona19-masks/v1/sales/json",
		"/corona19-masks/v1/storesByGeo/json?lat=37.6359&lng=127.0253&m=1000",
		"/corona19-masks/v1/storesByGeo/json?lat=50&lng=127",
		"/corona19-masks/v1/storesByAddr/json?address=" + url.QueryEscape("서울특별시 강북구 미아동"),
		"/corona19-masks/v1/storesByAddr/json?address=" + url.QueryEscape("서울특별시"),
		"/corona19-masks/v1/storesByAddr/json?address=" + url.QueryEscape("미아동"),
		"/corona19-masks/v1/storesByAddr/json?address=" + url.QueryEscape("솔매로 38"),
		"/corona19-masks/v1/storesByAddr/json?address=" + url.QueryEscape("도봉로"), // in 강북구 and 도봉구: ambiguous_address
		"/api/v2/places?q=" + url.QueryEscape("미아"),
		"/api/v2/places?q=" + url.QueryEscape("서울 강북구") + "&limit=3",
		"/api/v2/places",
		"/api/v2/outlets/near?lat=37.6359&lng=127.0253&m=2000&limit=100&status=plenty,break",
		"/api/v2/outlets/11817488",
		"/api/v2/outlets/12820326", // never stocked
		"/api/v2/outlets/00000000",
		"/api/v2/summary",
		"/api/v2/rules?date=2020-03-11",
		"/api/v2/rules?date=2020-03-11&birth_year=1983",
	}
	for _, u := range urls {
		req := httptest.NewRequest("GET", "http://localhost"+u, nil)
		w := httptest.NewRecorder()
		env.h.ServeHTTP(w, req)
		route, params, err := router.FindRoute(req)
		if err != nil {
			t.Fatalf("%s: no route in openapi.json: %v", u, err)
		}
		in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
		if w.Code == 200 {
			// Requests we answer are valid per the document (400s are not).
			if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
				t.Errorf("%s: request invalid per openapi.json: %v", u, err)
			}
		}
		out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: w.Code,
			Header: w.Header(), Options: &openapi3filter.Options{IncludeResponseStatus: true}}
		out.SetBodyBytes(w.Body.Bytes())
		if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
			t.Errorf("%s (%d): response invalid per openapi.json: %v\n%.300s", u, w.Code, err, w.Body.Bytes())
		}
		if strings.Contains(u, "%EB%8F%84%EB%B4%89%EB%A1%9C") && !strings.Contains(w.Body.String(), `"candidates":[`) {
			t.Errorf("%s: not the ambiguous answer the document is checked against: %s", u, w.Body.Bytes())
		}
	}
	// The stream is text/event-stream; check its start against the document.
	srv := httptest.NewServer(env.h)
	defer srv.Close()
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(cctx, "GET", srv.URL+"/api/v2/stream?lat=37.6&lng=127.02&m=500", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	head := make([]byte, 4)
	io.ReadFull(resp.Body, head)
	route, params, err := router.FindRoute(req)
	if err != nil {
		t.Fatal(err)
	}
	openapi3filter.RegisterBodyDecoder("text/event-stream", func(r io.Reader, _ http.Header, _ *openapi3.SchemaRef, _ openapi3filter.EncodingFn) (any, error) {
		b, err := io.ReadAll(r)
		return string(b), err
	})
	defer openapi3filter.UnregisterBodyDecoder("text/event-stream")
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header,
		Body: io.NopCloser(bytes.NewReader(head)), Options: &openapi3filter.Options{IncludeResponseStatus: true}}
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		t.Errorf("stream: %v", err)
	}
}

func TestOpenAPIExtensible(t *testing.T) {
	env := newEnv(t, nil, Options{OpenAPI: func(doc map[string]any) {
		doc["paths"].(map[string]any)["/api/v2/outlet"] = map[string]any{"get": map[string]any{
			"responses": map[string]any{"200": map[string]any{"description": "the outlet"}}}}
	}})
	doc, err := openapi3.NewLoader().LoadFromData(env.get(t, "/openapi.json").body)
	if err != nil {
		t.Fatal(err)
	}
	if doc.Paths.Find("/api/v2/outlet") == nil || doc.Paths.Find("/corona19-masks/v1/stores/json") == nil {
		t.Fatal("extension lost a path")
	}
}

// TestUnavailableMatchesOpenAPI: a node that cannot answer yet says 503
// with Retry-After, and the document says so for every public path, as it
// does 429 (a client generated from it would otherwise treat both as
// undocumented failures and not know to wait).
func TestUnavailableMatchesOpenAPI(t *testing.T) {
	doc, err := openapi3.NewLoader().LoadFromData(openAPIJSON)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := doc.Validate(ctx); err != nil {
		t.Fatal(err)
	}
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	for path, item := range doc.Paths.Map() {
		if path == "/openapi.json" {
			continue
		}
		if item.Get.Responses.Status(429) == nil {
			t.Errorf("%s: no 429 in openapi.json", path)
		}
	}
	h := NewHandler(snapshot.NewRefresher(newFakeSource(nil), snapshot.Options{}), Options{Rules: func(time.Time, int) any { return nil }})
	for _, u := range []string{"/api/v2/outlets/near?lat=37.6&lng=127", "/api/v2/outlets/11817488", "/api/v2/summary",
		"/api/v2/places?q=a", "/api/v2/rules?date=2020-03-11", "/corona19-masks/v1/storesByGeo/json?lat=37.6&lng=127"} {
		req := httptest.NewRequest("GET", "http://localhost"+u, nil)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != 503 || w.Header().Get("Retry-After") == "" {
			t.Fatalf("%s before the first snapshot: %d, Retry-After %q", u, w.Code, w.Header().Get("Retry-After"))
		}
		route, params, err := router.FindRoute(req)
		if err != nil {
			t.Fatal(err)
		}
		in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route}
		out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: w.Code,
			Header: w.Header(), Options: &openapi3filter.Options{IncludeResponseStatus: true}}
		out.SetBodyBytes(w.Body.Bytes())
		if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
			t.Errorf("%s (503): not per openapi.json: %v", u, err)
		}
	}
}
