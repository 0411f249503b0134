package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// MaxFileSize bounds a policy file: the 2020 timeline is about 5 KB.
const MaxFileSize = 1 << 20

// FieldError is one problem in a policy, naming where it is.
type FieldError struct {
	Source string // file name or other origin
	Period int    // index in periods, -1 for the policy itself
	From   string // the period's from, as written
	Field  string // e.g. "quota.per_week"
	Msg    string
}

func (e *FieldError) Error() string {
	var b strings.Builder
	if e.Source != "" {
		b.WriteString(e.Source + ": ")
	}
	if e.Period >= 0 {
		fmt.Fprintf(&b, "period %d (from %q): ", e.Period, e.From)
	}
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Load returns the preset of that name, else the policy in the file at that path.
func Load(nameOrPath string) (*Policy, error) {
	if p, ok := Preset(nameOrPath); ok {
		return p, nil
	}
	f, err := os.Open(nameOrPath)
	if err != nil {
		return nil, fmt.Errorf("policy %q is neither a preset (%s) nor a readable file: %w",
			nameOrPath, strings.Join(Presets(), ", "), err)
	}
	defer f.Close()
	var buf bytes.Buffer
	// Read one byte past the limit to tell "too large" from "exactly the limit".
	if _, err := buf.ReadFrom(ioLimit(f, MaxFileSize+1)); err != nil {
		return nil, fmt.Errorf("%s: %w", nameOrPath, err)
	}
	return Parse(buf.Bytes(), nameOrPath)
}

// Parse reads a policy in JSON or YAML (the same structure as the presets'
// JSON), normalises it (a missing weekend_days means ["sat","sun"]) and
// validates it. Errors name the source, the period (index and from) and the
// field; all problems found are joined.
func Parse(data []byte, source string) (*Policy, error) {
	if len(data) > MaxFileSize {
		return nil, &FieldError{Source: source, Period: -1, Msg: fmt.Sprintf("larger than %d bytes", MaxFileSize)}
	}
	trimmed := bytes.TrimLeft(bytes.TrimPrefix(data, []byte("\ufeff")), " \t\r\n")
	if len(trimmed) == 0 {
		return nil, &FieldError{Source: source, Period: -1, Msg: "empty policy"}
	}
	js := trimmed
	if trimmed[0] != '{' {
		var err error
		if js, err = yamlToJSON(trimmed); err != nil {
			return nil, &FieldError{Source: source, Period: -1, Msg: "YAML: " + err.Error()}
		}
	}
	var p Policy
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields() // a misspelt field must not silently mean "no limit"
	if err := dec.Decode(&p); err != nil {
		return nil, &FieldError{Source: source, Period: -1, Msg: decodeMsg(err)}
	}
	if dec.More() {
		return nil, &FieldError{Source: source, Period: -1, Msg: "data after the policy object"}
	}
	p.normalize()
	if err := p.validate(source); err != nil {
		return nil, err
	}
	return &p, nil
}

func decodeMsg(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return fmt.Sprintf("field %s: %s where %s was expected", te.Field, te.Value, te.Type)
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

// normalize fills the default weekend and turns empty optional lists into
// nil, so that a parsed policy marshals and parses back to itself.
func (p *Policy) normalize() {
	for i := range p.Periods {
		per := &p.Periods[i]
		if per.WeekendDays == nil {
			per.WeekendDays = weekend()
		}
		if len(per.Rotation) == 0 {
			per.Rotation = nil
		}
		if len(per.Holidays) == 0 {
			per.Holidays = nil
		}
		if len(per.OutletClosed) == 0 {
			per.OutletClosed = nil
		}
		if per.Quota != nil && len(per.Quota.Brackets) == 0 {
			per.Quota.Brackets = nil
		}
	}
}

// Validate checks a policy built in code the way Parse checks a file.
func (p *Policy) Validate() error { return p.validate("") }

func (p *Policy) validate(source string) error {
	var errs []error
	top := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Source: source, Period: -1, Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	if strings.TrimSpace(p.Name) == "" {
		top("name", "missing")
	}
	if len(p.Periods) == 0 {
		top("periods", "no periods")
	}
	if p.LateWindow != "" {
		d, err := time.ParseDuration(p.LateWindow)
		switch {
		case err != nil:
			top("late_window", "%q is not a duration (e.g. 24h, 90m)", p.LateWindow)
		case d < MinLateWindow || d > MaxLateWindow:
			top("late_window", "%s is outside %s–%s", p.LateWindow, MinLateWindow, MaxLateWindow)
		}
	}
	for i := range p.Periods {
		per := &p.Periods[i]
		bad := func(field, format string, args ...any) {
			errs = append(errs, &FieldError{Source: source, Period: i, From: per.From, Field: field, Msg: fmt.Sprintf(format, args...)})
		}
		// The last day the period can cover, for checking holidays ("" = open).
		end := per.Until
		_, fromOK := parseDate(per.From)
		if !fromOK {
			bad("from", "%q is not a date YYYY-MM-DD", per.From)
		}
		if per.Until != "" {
			if _, ok := parseDate(per.Until); !ok {
				bad("until", "%q is not a date YYYY-MM-DD", per.Until)
				end = ""
			} else if fromOK && per.Until < per.From {
				bad("until", "%s is before from", per.Until)
			}
		}
		if i+1 < len(p.Periods) {
			next := p.Periods[i+1].From
			if _, ok := parseDate(next); ok && fromOK {
				switch {
				case next <= per.From:
					bad("from", "periods must be sorted by from without repeats: period %d starts %s", i+1, next)
				case per.Until != "" && per.Until >= next:
					bad("until", "%s overlaps period %d, which starts %s", per.Until, i+1, next)
				case end == "":
					end = addDays(next, -1)
				}
			}
		}
		per.validateBody(bad, end)
	}
	return errors.Join(errs...)
}

type badFunc func(field, format string, args ...any)

// validateBody checks a period's rules, in the order of its fields.
func (per *Period) validateBody(bad badFunc, end string) {
	per.validateDays(bad)
	per.validateHolidays(bad, end)
	per.validateLimits(bad)
	per.validateClosed(bad)
	per.validateProxy(bad)
}

// validateDays checks the weekend days and the rotation of birth-year digits.
func (per *Period) validateDays(bad badFunc) {
	seenDay := map[string]bool{}
	for j, d := range per.WeekendDays {
		f := fmt.Sprintf("weekend_days[%d]", j)
		if _, ok := parseWeekday(d); !ok {
			bad(f, "unknown weekday %q (use %s)", d, strings.Join(dayNames[:], ", "))
		} else if seenDay[d] {
			bad(f, "%q listed twice", d)
		}
		seenDay[d] = true
	}

	seenDigit := map[int]string{}
	seenRot := map[string]bool{}
	for j, r := range per.Rotation {
		f := fmt.Sprintf("rotation[%d]", j)
		if _, ok := parseWeekday(r.Day); !ok {
			bad(f+".day", "unknown weekday %q (use %s)", r.Day, strings.Join(dayNames[:], ", "))
		} else if seenRot[r.Day] {
			bad(f+".day", "%q listed twice", r.Day)
		} else if slices.Contains(per.WeekendDays, r.Day) {
			bad(f+".day", "%q is a weekend day, open to anyone", r.Day)
		}
		seenRot[r.Day] = true
		if len(r.Digits) == 0 {
			bad(f+".digits", "no digits")
		}
		for k, d := range r.Digits {
			g := fmt.Sprintf("%s.digits[%d]", f, k)
			if d < 0 || d > 9 {
				bad(g, "%d is not a digit 0-9", d)
			} else if other, dup := seenDigit[d]; dup {
				bad(g, "digit %d already buys on %s", d, other)
			} else {
				seenDigit[d] = r.Day
			}
		}
	}
}

func (per *Period) validateHolidays(bad badFunc, end string) {
	seenHol := map[string]bool{}
	for j, h := range per.Holidays {
		f := fmt.Sprintf("holidays[%d]", j)
		switch _, ok := parseDate(h); {
		case !ok:
			bad(f, "%q is not a date YYYY-MM-DD", h)
		case h < per.From || (end != "" && h > end):
			bad(f, "%s is outside the period", h)
		case seenHol[h]:
			bad(f, "%s listed twice", h)
		}
		seenHol[h] = true
	}
}

// validateLimits checks the weekly quota and purchase limit.
func (per *Period) validateLimits(bad badFunc) {
	if q := per.Quota; q != nil {
		switch {
		case q.PerWeek < 0:
			bad("quota.per_week", "negative (%d)", q.PerWeek)
		case q.Unlimited && (q.PerWeek != 0 || len(q.Brackets) > 0):
			bad("quota", "unlimited excludes per_week and brackets")
		case !q.Unlimited && q.PerWeek == 0:
			bad("quota.per_week", "missing (or set unlimited: true)")
		}
		for j, b := range q.Brackets {
			f := fmt.Sprintf("quota.brackets[%d]", j)
			validateYears(bad, f, b.BornFrom, b.BornTo)
			if b.PerWeek < 1 {
				bad(f+".per_week", "must be at least 1 (got %d)", b.PerWeek)
			}
			if b.BornFrom == 0 && b.BornTo == 0 {
				bad(f, "neither born_from nor born_to: use quota.per_week")
			}
		}
	} else if !per.Closed {
		bad("quota", "missing: an open period needs a weekly quota (or unlimited: true)")
	}

	if pl := per.Purchases; pl != nil {
		switch {
		case pl.PerWeek < 0:
			bad("purchases.per_week", "negative (%d)", pl.PerWeek)
		case pl.Unlimited && (pl.PerWeek != 0 || pl.Split):
			bad("purchases", "unlimited excludes per_week and split")
		case !pl.Unlimited && pl.PerWeek == 0:
			bad("purchases.per_week", "missing (or set unlimited: true)")
		case pl.Split && pl.PerWeek != 2:
			bad("purchases.per_week", "split (one weekday and one weekend purchase) needs per_week 2, got %d", pl.PerWeek)
		}
	} else if !per.Closed {
		bad("purchases", "missing: an open period needs a purchase limit (or unlimited: true)")
	}

	if per.NoDuplicateCheck && ((per.Quota != nil && !per.Quota.Unlimited) || (per.Purchases != nil && !per.Purchases.Unlimited)) {
		bad("no_duplicate_check", "without a duplicate check nothing can be limited: quota and purchases must be unlimited")
	}
}

// validateClosed checks the days each outlet type is closed.
func (per *Period) validateClosed(bad badFunc) {
	types := make([]string, 0, len(per.OutletClosed))
	for t := range per.OutletClosed {
		types = append(types, t)
	}
	sort.Strings(types) // deterministic error order
	for _, t := range types {
		f := "outlet_closed." + t
		if t != "01" && t != "02" && t != "03" {
			bad(f, "unknown outlet type %q (01 pharmacy, 02 post office, 03 Nonghyup mart)", t)
		}
		for j, tok := range per.OutletClosed[t] {
			if _, ok := parseWeekday(tok); !ok && tok != ClosedWeekend && tok != ClosedHoliday {
				bad(fmt.Sprintf("%s[%d]", f, j), "unknown day %q (a weekday name, %q or %q)", tok, ClosedWeekend, ClosedHoliday)
			}
		}
	}
}

func (per *Period) validateProxy(bad badFunc) {
	if px := per.Proxy; px != nil {
		switch px.DayRule {
		case DayRepresented, DayEither:
			if px.MinorBornFrom != 0 {
				bad("proxy.minor_born_from", "only for day_rule %q", DayMinorWithBuyer)
			}
		case DayMinorWithBuyer:
			if px.MinorBornFrom <= 0 {
				bad("proxy.minor_born_from", "day_rule %q needs the first birth year of a minor", DayMinorWithBuyer)
			}
		default:
			bad("proxy.day_rule", "unknown day rule %q (%s, %s or %s)", px.DayRule, DayRepresented, DayMinorWithBuyer, DayEither)
		}
		seen := map[string]bool{}
		for j, c := range px.Categories {
			f := fmt.Sprintf("proxy.categories[%d]", j)
			if !ValidCategory(c.Name) {
				bad(f+".name", "unknown category %q (%s)", c.Name, strings.Join(Categories(), ", "))
			} else if seen[c.Name] {
				bad(f+".name", "%q listed twice", c.Name)
			}
			seen[c.Name] = true
			validateYears(bad, f, c.BornFrom, c.BornTo)
		}
	}
}

func validateYears(bad badFunc, f string, from, to int) {
	if from < 0 {
		bad(f+".born_from", "negative (%d)", from)
	}
	if to < 0 {
		bad(f+".born_to", "negative (%d)", to)
	}
	if from > 0 && to > 0 && from > to {
		bad(f, "born_from %d is after born_to %d", from, to)
	}
}

// yamlToJSON converts YAML to JSON so that both formats go through the one
// strict JSON decoder. Mapping keys keep their text ("02" stays "02", where
// YAML would read an integer); aliases are expanded within a budget so that
// an alias bomb cannot exhaust memory.
func yamlToJSON(data []byte) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, errors.New("empty document")
	}
	budget := 100000
	v, err := yamlValue(doc.Content[0], &budget, 0)
	if err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

func yamlValue(n *yaml.Node, budget *int, depth int) (any, error) {
	*budget--
	if *budget < 0 || depth > 100 {
		return nil, errors.New("document too large or too deeply nested")
	}
	switch n.Kind {
	case yaml.AliasNode:
		return yamlValue(n.Alias, budget, depth+1)
	case yaml.ScalarNode:
		if t := n.ShortTag(); t == "!!str" || t == "!!timestamp" {
			return n.Value, nil // dates stay text: the format's dates are strings
		}
		var v any
		if err := n.Decode(&v); err != nil {
			return nil, fmt.Errorf("line %d: %w", n.Line, err)
		}
		return v, nil
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := yamlValue(c, budget, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case yaml.MappingNode:
		out := map[string]any{}
		var merges []*yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("line %d: mapping keys must be plain names", k.Line)
			}
			if k.Tag == "!!merge" {
				merges = append(merges, val)
				continue
			}
			v, err := yamlValue(val, budget, depth+1)
			if err != nil {
				return nil, err
			}
			out[k.Value] = v
		}
		// Merge keys (<<: *base) fill in what the mapping does not set itself.
		for _, m := range merges {
			v, err := yamlValue(m, budget, depth+1)
			if err != nil {
				return nil, err
			}
			maps := []any{v}
			if seq, ok := v.([]any); ok {
				maps = seq
			}
			for _, mv := range maps {
				mm, ok := mv.(map[string]any)
				if !ok {
					return nil, fmt.Errorf("line %d: << must merge a mapping", m.Line)
				}
				for k, x := range mm {
					if _, set := out[k]; !set {
						out[k] = x
					}
				}
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("line %d: unsupported YAML node", n.Line)
}

func ioLimit(f *os.File, n int64) *io.LimitedReader { return &io.LimitedReader{R: f, N: n} }
