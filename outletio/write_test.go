package outletio_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/publicmask/publicmask/outletio"
	"github.com/publicmask/publicmask/seed"
)

// The writers behind `publicmask gen outlets`, on the demo generator's
// outlets.

func TestWriteCSVGenerated(t *testing.T) {
	out := seed.Outlets(seed.Options{Count: 500, Seed: 9})
	var buf bytes.Buffer
	if err := outletio.WriteCSV(&buf, out); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(buf.String(), "code,name,addr,type,lat,lng\n") {
		t.Fatalf("header: %q", strings.SplitN(buf.String(), "\n", 2)[0])
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != len(out)+1 {
		t.Fatalf("%d records for %d outlets", len(recs), len(out))
	}
	for i, r := range recs[1:] {
		lat, _ := strconv.ParseFloat(r[4], 64)
		lng, _ := strconv.ParseFloat(r[5], 64)
		o := out[i]
		if r[0] != o.Code || r[1] != o.Name || r[2] != o.Addr || r[3] != o.Type || lat != o.Lat || lng != o.Lng {
			t.Fatalf("row %d %v != %+v", i+2, r, o)
		}
	}
}

func TestWriteJSONGenerated(t *testing.T) {
	out := seed.Outlets(seed.Options{Count: 500, Seed: 9})
	var buf bytes.Buffer
	if err := outletio.WriteJSON(&buf, out); err != nil {
		t.Fatal(err)
	}
	// The 2020 open-API shape, strictly: lat/lng numbers, no other keys.
	var doc struct {
		StoreInfos []struct {
			Code string  `json:"code"`
			Name string  `json:"name"`
			Addr string  `json:"addr"`
			Type string  `json:"type"`
			Lat  float64 `json:"lat"`
			Lng  float64 `json:"lng"`
		} `json:"storeInfos"`
	}
	dec := json.NewDecoder(bytes.NewReader(buf.Bytes()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.StoreInfos) != len(out) {
		t.Fatalf("%d storeInfos for %d outlets", len(doc.StoreInfos), len(out))
	}
	for i, s := range doc.StoreInfos {
		o := out[i]
		if s.Code != o.Code || s.Name != o.Name || s.Addr != o.Addr || s.Type != o.Type || s.Lat != o.Lat || s.Lng != o.Lng {
			t.Fatalf("%d: %+v != %+v", i, s, o)
		}
	}
	var raw map[string][]map[string]any
	if err := json.Unmarshal(buf.Bytes(), &raw); err != nil {
		t.Fatal(err)
	}
	if _, ok := raw["storeInfos"][0]["lat"].(float64); !ok {
		t.Errorf("lat is %T, want a JSON number", raw["storeInfos"][0]["lat"])
	}
}
