package e2e

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Import bodies in flight at once (a client sending the next body before
// the previous one returned) with the same codes: both answer 200, and
// every outlet ends with the fields of one body, the one written last —
// never a mix of both (their chunks were written side by side before).
// That body normally returns last, but the order of the two answers also
// depends on each one's wait for the snapshot, so the test does not pin
// which body it is.
func TestImportBodiesInFlightAtOnce(t *testing.T) {
	dir := realRunDir(t, "imports two bodies at once into a real server")
	s := start(t, "--db", filepath.Join(dir, "pm.db"), "--seed", "none")
	const n = 6000 // three chunks a body
	body := func(tag string) string {
		var csv strings.Builder
		csv.WriteString("code,name,addr,type,lat,lng\n")
		for i := range n {
			fmt.Fprintf(&csv, "7%07d,%s약국%d,서울특별시 강북구 솔매로 %d (미아동),01,%.6f,127.0164\n", i, tag, i, 10+i, 37.60+float64(i%100)*0.001)
		}
		return csv.String()
	}
	for round := range 2 {
		var (
			mu   sync.Mutex
			last string
			wg   sync.WaitGroup
		)
		for _, tag := range []string{fmt.Sprintf("가%d", round), fmt.Sprintf("나%d", round)} {
			b := body(tag)
			wg.Go(func() {
				var imp struct {
					Upserted int `json:"upserted"`
				}
				s.mustCall("PUT", "/api/v2/admin/outlets", adminToken, b, &imp, 200)
				mu.Lock()
				last = tag
				mu.Unlock()
			})
		}
		wg.Wait()
		names := map[string]int{}
		for page := 1; ; page++ {
			var stores struct {
				TotalCount int `json:"totalCount"`
				StoreInfos []struct {
					Code string `json:"code"`
					Name string `json:"name"`
				} `json:"storeInfos"`
			}
			s.mustCall("GET", fmt.Sprintf("/corona19-masks/v1/stores/json?perPage=5000&page=%d", page), "", nil, &stores, 200)
			if stores.TotalCount != n {
				t.Fatalf("round %d: %d outlets listed, want %d", round, stores.TotalCount, n)
			}
			for _, si := range stores.StoreInfos {
				i, err := strconv.Atoi(si.Code[1:])
				if err != nil {
					t.Fatal(err)
				}
				tag, _, _ := strings.Cut(si.Name, "약국")
				if si.Name != fmt.Sprintf("%s약국%d", tag, i) {
					t.Fatalf("round %d: outlet %s named %q", round, si.Code, si.Name)
				}
				names[tag]++
			}
			if page*5000 >= n {
				break
			}
		}
		if len(names) != 1 {
			t.Fatalf("round %d: names by body %v, want all %d from one body (the last returned: %q)", round, names, n, last)
		}
	}
	s.mustVerify(t, "after imports in flight at once")
}
