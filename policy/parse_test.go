package policy

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestPresetsValidAndRoundTrip(t *testing.T) {
	for _, name := range Presets() {
		p, ok := Preset(name)
		if !ok || p.Name != name {
			t.Fatalf("Preset(%q) = %v, %v", name, p, ok)
		}
		if err := p.Validate(); err != nil {
			t.Errorf("%s invalid: %v", name, err)
		}
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		back, err := Parse(b, name+".json")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(back, p) {
			t.Errorf("%s does not round-trip:\n got %s\nwant %s", name, dump(back), dump(p))
		}
		// Load takes a preset name before a path.
		if l, err := Load(name); err != nil || !reflect.DeepEqual(l, p) {
			t.Errorf("Load(%q) = %v", name, err)
		}
	}
	if _, ok := Preset("korea-2021"); ok {
		t.Error("unknown preset found")
	}
	// Presets are fresh copies: changing one does not change the next.
	a := Korea2020()
	a.Periods[1].Rotation[0].Digits[0] = 9
	a.Periods[1].OutletClosed["02"][0] = "x"
	if b := Korea2020(); b.Periods[1].Rotation[0].Digits[0] != 1 || b.Periods[1].OutletClosed["02"][0] != "mon" {
		t.Error("presets share state")
	}
	// Periods of one preset share nothing either.
	if b := Korea2020(); &b.Periods[1].Rotation[0] == &b.Periods[2].Rotation[0] {
		t.Error("periods share slices")
	}
}

func TestYAMLTwin(t *testing.T) {
	y, err := Load(filepath.Join("testdata", "korea-2020.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	j, err := Load(filepath.Join("testdata", "korea-2020.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(y, j) {
		t.Errorf("YAML and JSON twins differ:\n yaml %s\n json %s", dump(y), dump(j))
	}
	if !reflect.DeepEqual(j, Korea2020()) {
		t.Errorf("the JSON twin is not the preset")
	}
}

func TestLoadErrors(t *testing.T) {
	if _, err := Load(filepath.Join(t.TempDir(), "missing.yaml")); err == nil || !strings.Contains(err.Error(), "neither a preset") {
		t.Errorf("missing file: %v", err)
	}
	big := filepath.Join(t.TempDir(), "big.json")
	if err := os.WriteFile(big, []byte(`{"name":"x"`+strings.Repeat(" ", MaxFileSize)+`}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(big); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("big file: %v", err)
	}
}

// A valid one-period policy in JSON to break field by field.
const okPeriod = `"from":"2020-03-09","rotation":[{"day":"mon","digits":[1,6]}],"quota":{"per_week":2},"purchases":{"per_week":1}`

func TestParseErrors(t *testing.T) {
	cases := []struct {
		name string
		src  string
		want []string // substrings of the error
	}{
		{"ok", `{"name":"x","periods":[{` + okPeriod + `}]}`, nil},
		{"empty", ``, []string{"f.json: empty policy"}},
		{"not JSON", `{"name":`, []string{"f.json: "}},
		{"trailing", `{"name":"x","periods":[{` + okPeriod + `}]} {}`, []string{"data after"}},
		{"no name", `{"periods":[{` + okPeriod + `}]}`, []string{"f.json: name: missing"}},
		{"no periods", `{"name":"x","periods":[]}`, []string{"f.json: periods: no periods"}},
		{"unknown field", `{"name":"x","periods":[{` + okPeriod + `,"quotas":{}}]}`, []string{"f.json", `unknown field "quotas"`}},
		{"wrong type", `{"name":"x","periods":[{"from":"2020-03-09","quota":{"per_week":"two"},"purchases":{"per_week":1}}]}`, []string{"f.json", "periods.quota.per_week", "string"}},
		{"bad date", `{"name":"x","periods":[{"from":"2020-3-9","quota":{"per_week":2},"purchases":{"per_week":1}}]}`, []string{`f.json: period 0 (from "2020-3-9"): from: "2020-3-9" is not a date`}},
		{"impossible date", `{"name":"x","periods":[{"from":"2020-02-30","quota":{"per_week":2},"purchases":{"per_week":1}}]}`, []string{`period 0 (from "2020-02-30"): from:`}},
		{"bad until", `{"name":"x","periods":[{` + okPeriod + `,"until":"2020-13-01"}]}`, []string{`period 0 (from "2020-03-09"): until: "2020-13-01" is not a date`}},
		{"until before from", `{"name":"x","periods":[{` + okPeriod + `,"until":"2020-03-01"}]}`, []string{`until: 2020-03-01 is before from`}},
		{"unsorted", `{"name":"x","periods":[{` + okPeriod + `},{"from":"2020-03-01","closed":true}]}`, []string{`f.json: period 0 (from "2020-03-09"): from: periods must be sorted`, "period 1 starts 2020-03-01"}},
		{"repeated from", `{"name":"x","periods":[{` + okPeriod + `},{"from":"2020-03-09","closed":true}]}`, []string{`period 0 (from "2020-03-09"): from: periods must be sorted`}},
		{"overlapping", `{"name":"x","periods":[{` + okPeriod + `,"until":"2020-03-20"},{"from":"2020-03-15","closed":true}]}`, []string{`period 0 (from "2020-03-09"): until: 2020-03-20 overlaps period 1, which starts 2020-03-15`}},
		{"unknown weekday", `{"name":"x","periods":[{"from":"2020-03-09","rotation":[{"day":"monday","digits":[1]}],"quota":{"per_week":2},"purchases":{"per_week":1}}]}`, []string{`period 0 (from "2020-03-09"): rotation[0].day: unknown weekday "monday"`}},
		{"unknown weekend day", `{"name":"x","periods":[{` + okPeriod + `,"weekend_days":["sat","Sun"]}]}`, []string{`weekend_days[1]: unknown weekday "Sun"`}},
		{"rotation on a weekend day", `{"name":"x","periods":[{"from":"2020-03-09","rotation":[{"day":"sat","digits":[1]}],"quota":{"per_week":2},"purchases":{"per_week":1}}]}`, []string{`rotation[0].day: "sat" is a weekend day`}},
		{"digit twice", `{"name":"x","periods":[{"from":"2020-03-09","rotation":[{"day":"mon","digits":[1,6]},{"day":"tue","digits":[6]}],"quota":{"per_week":2},"purchases":{"per_week":1}}]}`, []string{`rotation[1].digits[0]: digit 6 already buys on mon`}},
		{"not a digit", `{"name":"x","periods":[{"from":"2020-03-09","rotation":[{"day":"mon","digits":[10]}],"quota":{"per_week":2},"purchases":{"per_week":1}}]}`, []string{`rotation[0].digits[0]: 10 is not a digit`}},
		{"negative quota", `{"name":"x","periods":[{"from":"2020-03-09","quota":{"per_week":-1},"purchases":{"per_week":1}}]}`, []string{`f.json: period 0 (from "2020-03-09"): quota.per_week: negative (-1)`}},
		{"no quota", `{"name":"x","periods":[{"from":"2020-03-09","purchases":{"per_week":1}}]}`, []string{`period 0 (from "2020-03-09"): quota: missing`}},
		{"zero quota", `{"name":"x","periods":[{"from":"2020-03-09","quota":{},"purchases":{"per_week":1}}]}`, []string{`quota.per_week: missing`}},
		{"unlimited and per_week", `{"name":"x","periods":[{"from":"2020-03-09","quota":{"unlimited":true,"per_week":3},"purchases":{"per_week":1}}]}`, []string{`quota: unlimited excludes`}},
		{"bad bracket", `{"name":"x","periods":[{"from":"2020-03-09","quota":{"per_week":3,"brackets":[{"born_from":2010,"born_to":2002,"per_week":0}]},"purchases":{"per_week":1}}]}`, []string{`quota.brackets[0]: born_from 2010 is after born_to 2002`, `quota.brackets[0].per_week: must be at least 1`}},
		{"negative purchases", `{"name":"x","periods":[{"from":"2020-03-09","quota":{"per_week":2},"purchases":{"per_week":-2}}]}`, []string{`purchases.per_week: negative (-2)`}},
		{"no purchases", `{"name":"x","periods":[{"from":"2020-03-09","quota":{"per_week":2}}]}`, []string{`purchases: missing`}},
		{"split with 3", `{"name":"x","periods":[{"from":"2020-03-09","quota":{"per_week":2},"purchases":{"per_week":3,"split":true}}]}`, []string{`purchases.per_week: split`}},
		{"unchecked with a quota", `{"name":"x","periods":[{"from":"2020-03-09","quota":{"per_week":2},"purchases":{"unlimited":true},"no_duplicate_check":true}]}`, []string{`no_duplicate_check: without a duplicate check`}},
		{"holiday outside", `{"name":"x","periods":[{` + okPeriod + `,"holidays":["2020-03-01"]}]}`, []string{`holidays[0]: 2020-03-01 is outside the period`}},
		{"holiday after the next period", `{"name":"x","periods":[{` + okPeriod + `,"holidays":["2020-04-15"]},{"from":"2020-04-01","closed":true}]}`, []string{`period 0 (from "2020-03-09"): holidays[0]: 2020-04-15 is outside the period`}},
		{"bad holiday", `{"name":"x","periods":[{` + okPeriod + `,"holidays":["15 April"]}]}`, []string{`holidays[0]: "15 April" is not a date`}},
		{"unknown outlet type", `{"name":"x","periods":[{` + okPeriod + `,"outlet_closed":{"04":["sat"]}}]}`, []string{`outlet_closed.04: unknown outlet type "04"`}},
		{"unknown closed day", `{"name":"x","periods":[{` + okPeriod + `,"outlet_closed":{"02":["weekends"]}}]}`, []string{`outlet_closed.02[0]: unknown day "weekends"`}},
		{"unknown category", `{"name":"x","periods":[{` + okPeriod + `,"proxy":{"day_rule":"represented","categories":[{"name":"cousin"}]}}]}`, []string{`f.json: period 0 (from "2020-03-09"): proxy.categories[0].name: unknown category "cousin"`}},
		{"category twice", `{"name":"x","periods":[{` + okPeriod + `,"proxy":{"day_rule":"represented","categories":[{"name":"child"},{"name":"child"}]}}]}`, []string{`proxy.categories[1].name: "child" listed twice`}},
		{"unknown day rule", `{"name":"x","periods":[{` + okPeriod + `,"proxy":{"day_rule":"whenever","categories":[]}}]}`, []string{`proxy.day_rule: unknown day rule "whenever"`}},
		{"minor rule without a year", `{"name":"x","periods":[{` + okPeriod + `,"proxy":{"day_rule":"minor_with_buyer","categories":[]}}]}`, []string{`proxy.minor_born_from: day_rule "minor_with_buyer" needs`}},
		{"second period named", `{"name":"x","periods":[{` + okPeriod + `},{"from":"2020-04-01","quota":{"per_week":-5},"purchases":{"per_week":1}}]}`, []string{`period 1 (from "2020-04-01"): quota.per_week: negative (-5)`}},
		{"closed needs nothing", `{"name":"x","periods":[{"from":"2020-07-12","closed":true}]}`, nil},
		{"YAML: unknown weekday", "name: x\nperiods:\n  - from: 2020-03-09\n    rotation: [{day: mo, digits: [1]}]\n    quota: {per_week: 2}\n    purchases: {per_week: 1}\n", []string{`f.json: period 0 (from "2020-03-09"): rotation[0].day: unknown weekday "mo"`}},
		{"YAML: syntax", "name: x\nperiods: [\n", []string{"f.json: YAML:"}},
		{"YAML: not a mapping", "- 1\n- 2\n", []string{"f.json: "}},
		{"YAML: alias bomb", yamlBomb(), []string{"f.json: YAML:"}},
		{"several problems at once", `{"name":"","periods":[{"from":"x","quota":{"per_week":-1},"purchases":{"per_week":1}}]}`, []string{"name: missing", `period 0 (from "x"): from:`, "quota.per_week: negative"}},
	}
	for _, c := range cases {
		p, err := Parse([]byte(c.src), "f.json")
		if c.want == nil {
			if err != nil || p == nil {
				t.Errorf("%s: unexpected error %v", c.name, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error\n  %v\nlacks\n  %s", c.name, err, w)
			}
		}
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Source != "f.json" {
			t.Errorf("%s: not a *FieldError naming the source: %#v", c.name, err)
		}
	}
}

// yamlBomb is the billion-laughs document.
func yamlBomb() string {
	var b strings.Builder
	b.WriteString("a: &a [x, x, x, x, x, x, x, x, x, x]\n")
	prev := "a"
	for _, n := range []string{"b", "c", "d", "e", "f", "g", "h", "i"} {
		b.WriteString(n + ": &" + n + " [")
		for i := range 10 {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("*" + prev)
		}
		b.WriteString("]\n")
		prev = n
	}
	return b.String()
}

func TestParseDefaults(t *testing.T) {
	p, err := Parse([]byte("name: x\nperiods:\n  - from: 2020-03-09\n    quota: {per_week: 2}\n    purchases: {per_week: 1}\n    holidays: []\n    outlet_closed: {03: [holiday]}\n"), "d.yaml")
	if err != nil {
		t.Fatal(err)
	}
	per := p.Periods[0]
	if !reflect.DeepEqual(per.WeekendDays, []string{"sat", "sun"}) || per.Holidays != nil || per.OutletClosed["03"] == nil {
		t.Errorf("defaults: %s", dump(per))
	}
	// An explicit empty weekend list stays empty: no weekend days.
	p, err = Parse([]byte(`{"name":"x","periods":[{`+okPeriod+`,"weekend_days":[]}]}`), "e.json")
	if err != nil || p.Periods[0].WeekendDays == nil || len(p.Periods[0].WeekendDays) != 0 {
		t.Fatalf("explicit []: %v %v", err, p)
	}
	if d := p.Check(kst(t, "2020-03-14"), pharmacy, []Person{buyer(1981, 1)}); d.OK || d.Reason != ReasonNotEligibleToday || d.Persons[0].NextDate != "2020-03-16" {
		t.Errorf("no weekend: Saturday %+v", d)
	}
	b, _ := json.Marshal(p)
	if back, err := Parse(b, "again"); err != nil || !reflect.DeepEqual(back, p) {
		t.Errorf("explicit [] does not round-trip: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	for _, name := range Presets() {
		p, _ := Preset(name)
		b, _ := json.Marshal(p)
		f.Add(b)
	}
	if y, err := os.ReadFile(filepath.Join("testdata", "korea-2020.yaml")); err == nil {
		f.Add(y)
	}
	f.Add([]byte(`{"name":"x","periods":[{` + okPeriod + `}]}`))
	f.Add([]byte("name: x\nperiods: [{from: 2020-03-09, closed: true}]"))
	f.Add([]byte(yamlBomb()))
	f.Add([]byte("{"))
	f.Add([]byte("- &a [*a]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(data, "fuzz")
		if err != nil {
			if p != nil {
				t.Fatal("policy and error")
			}
			return
		}
		// Whatever parses is valid, round-trips, and can be used.
		if err := p.Validate(); err != nil {
			t.Fatalf("parsed but invalid: %v", err)
		}
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		back, err := Parse(b, "again")
		if err != nil || !reflect.DeepEqual(back, p) {
			t.Fatalf("no round trip: %v\n%s", err, b)
		}
		at, _ := parseDate(p.Periods[0].From)
		p.Rules(at, 1983)
		p.Check(at, pharmacy, []Person{buyer(1983, 1), proxy(2012, CategoryChild, 1)})
	})
}

func TestLateWindow(t *testing.T) {
	for _, tc := range []struct {
		field string
		want  time.Duration
		ok    bool
	}{
		{"", DefaultLateWindow, true},
		{`"late_window":"90m",`, 90 * time.Minute, true},
		{`"late_window":"168h",`, 168 * time.Hour, true},
		{`"late_window":"169h",`, 0, false},
		{`"late_window":"1m",`, 0, false},
		{`"late_window":"a day",`, 0, false},
	} {
		p, err := Parse([]byte(`{"name":"x",`+tc.field+`"periods":[{"from":"2020-03-09","quota":{"per_week":2},"purchases":{"per_week":1}}]}`), "t")
		if (err == nil) != tc.ok {
			t.Errorf("%s: err = %v, want ok=%v", tc.field, err, tc.ok)
			continue
		}
		if err == nil {
			if got := p.Late(); got != tc.want {
				t.Errorf("%s: Late() = %s, want %s", tc.field, got, tc.want)
			}
			if c := p.Clone(); c.Late() != tc.want {
				t.Errorf("%s: clone lost the late window", tc.field)
			}
		} else if !strings.Contains(err.Error(), "late_window") {
			t.Errorf("%s: error %q does not name late_window", tc.field, err)
		}
	}
}
