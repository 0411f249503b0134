package e2e

import (
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/policy"
	"github.com/publicmask/publicmask/policy/policyoracle"
)

// TestOracle2020Binary compares the real binary under --policy korea-2020
// with the independent oracle of POLICY-2020.md (policyoracle): on every
// rule change and the days around it, a fresh server with its clock on that
// day answers checks for the buyer alone (birth years of every digit and
// bound, residents and foreigners, three quantities, the three outlet
// types) and with one person bought for (every category, the buyer taking
// 0 or 1), then sells to each buyer year at a pharmacy and a Nonghyup mart
// and checks again with the usage the sale left, sells for one person of
// each category, and verify must pass.
func TestOracle2020Binary(t *testing.T) {
	dir := realRunDir(t, "starts a real server per date")
	dates := []string{"2020-03-05", "2020-03-06", "2020-03-08", "2020-03-09", "2020-03-11", "2020-03-13",
		"2020-03-14", "2020-03-16", "2020-03-17", "2020-03-23", "2020-04-06", "2020-04-07", "2020-04-15",
		"2020-04-26", "2020-04-27", "2020-04-28", "2020-04-30", "2020-05-05", "2020-05-18", "2020-05-20",
		"2020-05-23", "2020-05-31", "2020-06-01", "2020-06-06", "2020-06-18", "2020-07-07", "2020-07-08",
		"2020-07-11", "2020-07-12"}
	years := []int{1930, 1938, 1940, 1941, 1956, 1962, 1967, 1973, 1978, 1983, 1984, 1989, 1990,
		1995, 2001, 2002, 2005, 2009, 2010, 2014, 2019}
	proxyYears := []int{1935, 1940, 1941, 1967, 1983, 2001, 2002, 2005, 2009, 2010, 2013}
	o := policyoracle.Oracle{}
	for _, d := range dates {
		s := start(t, "--db", filepath.Join(dir, d+".db"), "--seed", "none", "--policy", "korea-2020", "--clock", d+"T10:00:00+09:00")
		var csv = "code,name,addr,type,lat,lng\n"
		types := []string{"01", "02", "03"}
		for i, typ := range types {
			csv += fmt.Sprintf("9000000%d,시험%s,서울특별시 강북구 솔매로 %d (미아동),%s,37.62,127.01\n", i+1, typ, 10+i, typ)
		}
		s.mustCall("PUT", "/api/v2/admin/outlets", adminToken, csv, nil, 200)
		tok := map[string]string{}
		for i, typ := range types {
			code := fmt.Sprintf("9000000%d", i+1)
			tok[typ] = s.outletToken(adminToken, code)
			s.mustCall("POST", "/api/v2/outlet/deliveries", tok[typ], map[string]any{"txn_id": "open-" + code, "quantity": 50_000}, nil, 201)
		}
		serial := 0
		idOf := func(year int) string {
			serial++
			sex := "1256"[serial%4] // residents and foreigners
			if year >= 2000 {
				sex = "3478"[serial%4]
			}
			return id(fmt.Sprintf("%02d0517", year%100), sex, serial)
		}
		var bad []string
		// compare posts a check and compares every person's verdict.
		compare := func(typ string, body map[string]any, ops []policyoracle.Person) {
			var res struct {
				Eligible bool
				Persons  []struct {
					Eligible          bool
					Reason            *string
					RemainingThisWeek *int `json:"remaining_this_week"`
				}
			}
			s.mustCall("POST", "/api/v2/outlet/check", tok[typ], body, &res, 200)
			okAll := true
			for i := range ops {
				reasons, rem := o.Judge(d, typ, ops, i)
				okAll = okAll && len(reasons) == 0
				v := res.Persons[i]
				reason := ""
				if v.Reason != nil {
					reason = *v.Reason
				}
				got := -1
				if v.RemainingThisWeek != nil {
					got = *v.RemainingThisWeek
				}
				switch {
				case v.Eligible != (len(reasons) == 0):
					bad = append(bad, fmt.Sprintf("%s type %s %+v person %d: eligible %v (%s), oracle %v", d, typ, ops, i, v.Eligible, reason, reasons))
				case !v.Eligible && !slices.Contains(reasons, reason):
					bad = append(bad, fmt.Sprintf("%s type %s %+v person %d: reason %s, oracle %v", d, typ, ops, i, reason, reasons))
				case got != rem:
					bad = append(bad, fmt.Sprintf("%s type %s %+v person %d: remaining %d, oracle %d", d, typ, ops, i, got, rem))
				}
			}
			if res.Eligible != okAll {
				bad = append(bad, fmt.Sprintf("%s type %s %+v: eligible %v, oracle %v", d, typ, ops, res.Eligible, okAll))
			}
		}
		for _, typ := range types {
			for _, y := range years {
				for _, q := range []int{1, 3, 5} {
					compare(typ, map[string]any{"buyer": idOf(y), "quantity": q}, []policyoracle.Person{{Year: y, Qty: q}})
				}
			}
		}
		for _, by := range []int{1961, 1983, 1975} {
			for _, py := range proxyYears {
				for _, cat := range policy.Categories() {
					for _, bq := range []int{0, 1} {
						body := map[string]any{"buyer": idOf(by), "quantity": bq,
							"on_behalf_of": []map[string]any{{"id": idOf(py), "category": cat, "quantity": 1}}}
						compare("01", body, []policyoracle.Person{{Year: by, Qty: bq}, {Year: py, Qty: 1, Cat: cat}})
					}
				}
			}
		}
		// Sales, and the check after each with the usage it left.
		for _, typ := range []string{"01", "03"} {
			for _, y := range years {
				who := idOf(y)
				reasons, _ := o.Judge(d, typ, []policyoracle.Person{{Year: y, Qty: 2}}, 0)
				var e errBody
				code, err := s.call("POST", "/api/v2/outlet/sales", tok[typ], map[string]any{"txn_id": fmt.Sprintf("t%d", serial), "buyer": who, "quantity": 2}, &e)
				switch {
				case err != nil:
					t.Fatal(err)
				case len(reasons) == 0 && code != 201, len(reasons) > 0 && (code != 422 || !slices.Contains(reasons, e.Error.Code)):
					bad = append(bad, fmt.Sprintf("%s type %s sale born %d: %d %s, oracle %v", d, typ, y, code, e.Error.Code, reasons))
					continue
				case code != 201:
					continue
				}
				u := publicmask.Usage{}
				u.Add(2, o.WeekendLike(d))
				compare(typ, map[string]any{"buyer": who, "quantity": 1}, []policyoracle.Person{{Year: y, Qty: 1, Week: u}})
			}
		}
		// Proxy sales, so that verify judges them too.
		for _, cat := range policy.Categories() {
			for _, py := range []int{1935, 2005, 2013} {
				ops := []policyoracle.Person{{Year: 1983, Qty: 0}, {Year: py, Qty: 1, Cat: cat}}
				reasons, _ := o.Judge(d, "01", ops, 1)
				if r0, _ := o.Judge(d, "01", ops, 0); len(r0) > 0 {
					reasons = r0
				}
				var e errBody
				body := map[string]any{"txn_id": fmt.Sprintf("p%d", serial), "buyer": idOf(1983), "quantity": 0,
					"on_behalf_of": []map[string]any{{"id": idOf(py), "category": cat, "quantity": 1}}}
				code, err := s.call("POST", "/api/v2/outlet/sales", tok["01"], body, &e)
				if err != nil {
					t.Fatal(err)
				}
				if len(reasons) == 0 && code != 201 || len(reasons) > 0 && (code != 422 || !slices.Contains(reasons, e.Error.Code)) {
					bad = append(bad, fmt.Sprintf("%s proxy sale %s born %d: %d %s, oracle %v", d, cat, py, code, e.Error.Code, reasons))
				}
			}
		}
		for i, b := range bad {
			if i == 30 {
				t.Errorf("… %d mismatches on %s", len(bad), d)
				break
			}
			t.Error(b)
		}
		s.mustVerify(t, d)
		s.stop()
	}
}
