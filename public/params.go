package public

import (
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	publicmask "github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/snapshot"
)

// params are the raw query parameters the public API knows (first
// occurrence wins), indexed by the p* constants. The query is parsed by hand
// because url.Values allocates a map and slices per request on the hottest
// path.
type params struct {
	v    [numParams]string
	seen uint16 // bit i: parameter i occurred, possibly empty
}

const (
	pPage = iota
	pPerPage
	pLat
	pLng
	pM
	pAddress
	pLimit
	pStatus
	pDate
	pBirthYear
	pQ
	numParams
)

// paramNames spells the parameters in the order of the p* constants.
var paramNames = [numParams]string{"page", "perPage", "lat", "lng", "m", "address", "limit", "status", "date", "birth_year", "q"}

func badRequest(format string, args ...any) error {
	return publicmask.Errorf(publicmask.EBadRequest, format, args...)
}

// parseParams parses a raw query string. Unknown parameters are ignored (2020
// clients sent serviceKey and the like); a malformed escape is an error.
func parseParams(raw string) (params, error) {
	var p params
	for raw != "" {
		var kv string
		kv, raw, _ = strings.Cut(raw, "&")
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		var err error
		if k, err = unescape(k); err != nil {
			return p, badRequest("malformed query")
		}
		i := slices.Index(paramNames[:], k)
		if i < 0 || p.seen&(1<<i) != 0 {
			continue
		}
		if v, err = unescape(v); err != nil {
			return p, badRequest("malformed query parameter %s", k)
		}
		p.v[i] = v
		p.seen |= 1 << i
	}
	return p, nil
}

// intParam is the integer parameter i; ok is false when it is absent or empty.
func (p *params) intParam(i int) (n int, ok bool, err error) {
	if p.v[i] == "" {
		return 0, false, nil
	}
	if n, err = strconv.Atoi(p.v[i]); err != nil {
		return 0, false, badRequest("%s must be an integer", paramNames[i])
	}
	return n, true, nil
}

func unescape(s string) (string, error) {
	if !strings.ContainsAny(s, "%+") {
		return s, nil
	}
	return url.QueryUnescape(s)
}

// pageQuery is the paging of /stores/json and /sales/json.
type pageQuery struct{ page, perPage int }

func (p params) pageQuery() (pageQuery, error) {
	q := pageQuery{page: 1, perPage: 500}
	n, ok, err := p.intParam(pPage)
	if err != nil {
		return q, err
	}
	if ok {
		q.page = max(n, 1)
	}
	if n, ok, err = p.intParam(pPerPage); err != nil {
		return q, err
	}
	if ok {
		q.perPage = min(max(n, 500), 5000) // as the 2020 API: clamped, not refused
	}
	return q, nil
}

// parseDecimal parses a decimal number (sign, digits, point, exponent).
// strconv.ParseFloat alone takes Go's syntax too: hex floats, digit
// separators, Inf and NaN, which are malformed in a query (DESIGN.md
// §4.1) and, for m, would be clamped into a valid radius.
func parseDecimal(s string) (float64, error) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || c == '.' || c == '-' || c == '+' || c == 'e' || c == 'E') {
			return 0, strconv.ErrSyntax
		}
	}
	return strconv.ParseFloat(s, 64)
}

// geoQuery is a circle: lat/lng required and range-checked, m clamped.
type geoQuery struct{ lat, lng, m float64 }

func (p params) geoQuery() (geoQuery, error) {
	var q geoQuery
	if p.v[pLat] == "" || p.v[pLng] == "" {
		return q, badRequest("lat and lng are required")
	}
	var err error
	if q.lat, err = parseDecimal(p.v[pLat]); err != nil || !(q.lat >= 33 && q.lat <= 43) {
		return q, badRequest("lat must be a number from 33 to 43")
	}
	if q.lng, err = parseDecimal(p.v[pLng]); err != nil || !(q.lng >= 124 && q.lng <= 132) {
		return q, badRequest("lng must be a number from 124 to 132")
	}
	q.m = 1000
	if p.v[pM] != "" {
		m, err := parseDecimal(p.v[pM])
		if err != nil {
			return q, badRequest("m must be a number")
		}
		q.m = min(max(m, 1), snapshot.MaxRadius) // 2020 clients sent m=10000
	}
	return q, nil
}

// nearQuery is /api/v2/outlets/near: a circle, a limit and a status filter.
type nearQuery struct {
	geoQuery
	limit  int
	status uint8 // bit per band (statBits); 0 = all
}

const maxLimit = 500

var statBits = map[string]uint8{
	publicmask.StatPlenty: 1, publicmask.StatSome: 2, publicmask.StatFew: 4,
	publicmask.StatEmpty: 8, publicmask.StatBreak: 16,
}

func (p params) nearQuery() (nearQuery, error) {
	g, err := p.geoQuery()
	q := nearQuery{geoQuery: g, limit: 50}
	if err != nil {
		return q, err
	}
	n, ok, err := p.intParam(pLimit)
	if err != nil {
		return q, err
	}
	if ok {
		q.limit = min(max(n, 1), maxLimit)
	}
	if p.v[pStatus] != "" {
		for s := range strings.SplitSeq(p.v[pStatus], ",") {
			bit, ok := statBits[strings.TrimSpace(s)]
			if !ok {
				return q, badRequest("status must be a comma-separated list of plenty, some, few, empty, break")
			}
			q.status |= bit
		}
	}
	return q, nil
}

func (q *nearQuery) accepts(stat string) bool {
	return q.status == 0 || q.status&statBits[stat] != 0
}

// rulesQuery is /api/v2/rules.
type rulesQuery struct {
	date      time.Time
	birthYear int // 0 = not asked
}

func (p params) rulesQuery() (rulesQuery, error) {
	var q rulesQuery
	if p.v[pDate] == "" {
		return q, badRequest("date is required (YYYY-MM-DD)")
	}
	d, err := time.ParseInLocation("2006-01-02", p.v[pDate], publicmask.Seoul)
	if err != nil {
		return q, badRequest("date must be YYYY-MM-DD")
	}
	// Noon avoids any doubt about which Seoul day is meant.
	q.date = d.Add(12 * time.Hour)
	y, ok, err := p.intParam(pBirthYear)
	if err != nil || ok && (y < 1900 || y > 2030) {
		return q, badRequest("birth_year must be a year from 1900 to 2030")
	}
	q.birthYear = y
	return q, nil
}
