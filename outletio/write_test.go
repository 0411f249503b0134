package outletio_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"maps"
	"slices"
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
	// What the import reads back is what was written.
	got, rej, err := outletio.ParseJSON(bytes.NewReader(buf.Bytes()))
	if err != nil || len(rej) != 0 || len(got) != len(out) {
		t.Fatalf("read back %d outlets, %v rejected, %v; wrote %d", len(got), rej, err, len(out))
	}
	for i := range out {
		if got[i] != out[i] {
			t.Fatalf("%d: %+v != %+v", i, got[i], out[i])
		}
	}
	// The 2020 open-API shape, strictly: these six keys, lat/lng numbers.
	var raw map[string][]map[string]any
	if err := json.Unmarshal(buf.Bytes(), &raw); err != nil {
		t.Fatal(err)
	}
	for _, rec := range raw["storeInfos"] {
		keys := slices.Sorted(maps.Keys(rec))
		if !slices.Equal(keys, []string{"addr", "code", "lat", "lng", "name", "type"}) {
			t.Fatalf("keys %v", keys)
		}
		if _, ok := rec["lat"].(float64); !ok {
			t.Fatalf("lat is %T, want a JSON number", rec["lat"])
		}
	}
}
