package public

import (
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	publicmask "github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/snapshot"
)

// params are the raw query parameters the public API knows (first
// occurrence wins). The query is parsed by hand because url.Values
// allocates a map and slices per request on the hottest path.
type params struct {
	page, perPage, lat, lng, m, address, limit, status, date, birthYear, q string
	has                                                                    uint16
}

const (
	hasPage = 1 << iota
	hasPerPage
	hasLat
	hasLng
	hasM
	hasAddress
	hasLimit
	hasStatus
	hasDate
	hasBirthYear
	hasQ
)

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
		var dst *string
		var bit uint16
		switch k {
		case "page":
			dst, bit = &p.page, hasPage
		case "perPage":
			dst, bit = &p.perPage, hasPerPage
		case "lat":
			dst, bit = &p.lat, hasLat
		case "lng":
			dst, bit = &p.lng, hasLng
		case "m":
			dst, bit = &p.m, hasM
		case "address":
			dst, bit = &p.address, hasAddress
		case "limit":
			dst, bit = &p.limit, hasLimit
		case "status":
			dst, bit = &p.status, hasStatus
		case "date":
			dst, bit = &p.date, hasDate
		case "birth_year":
			dst, bit = &p.birthYear, hasBirthYear
		case "q":
			dst, bit = &p.q, hasQ
		default:
			continue
		}
		if p.has&bit != 0 {
			continue
		}
		if v, err = unescape(v); err != nil {
			return p, badRequest("malformed query parameter %s", k)
		}
		*dst = v
		p.has |= bit
	}
	return p, nil
}

func unescape(s string) (string, error) {
	if !strings.ContainsAny(s, "%+") {
		return s, nil
	}
	return url.QueryUnescape(s)
}

// pageQuery is the paging of /stores/json and /sales/json.
type pageQuery struct{ page, perPage int }

func (p *params) pageQuery() (pageQuery, error) {
	q := pageQuery{page: 1, perPage: 500}
	if p.has&hasPage != 0 && p.page != "" {
		n, err := strconv.Atoi(p.page)
		if err != nil {
			return q, badRequest("page must be an integer")
		}
		q.page = max(n, 1)
	}
	if p.has&hasPerPage != 0 && p.perPage != "" {
		n, err := strconv.Atoi(p.perPage)
		if err != nil {
			return q, badRequest("perPage must be an integer")
		}
		q.perPage = min(max(n, 500), 5000) // as the 2020 API: clamped, not refused
	}
	return q, nil
}

// geoQuery is a circle: lat/lng required and range-checked, m clamped.
type geoQuery struct{ lat, lng, m float64 }

func (p *params) geoQuery() (geoQuery, error) {
	var q geoQuery
	if p.has&hasLat == 0 || p.has&hasLng == 0 || p.lat == "" || p.lng == "" {
		return q, badRequest("lat and lng are required")
	}
	var err error
	if q.lat, err = strconv.ParseFloat(p.lat, 64); err != nil || !(q.lat >= 33 && q.lat <= 43) {
		return q, badRequest("lat must be a number from 33 to 43")
	}
	if q.lng, err = strconv.ParseFloat(p.lng, 64); err != nil || !(q.lng >= 124 && q.lng <= 132) {
		return q, badRequest("lng must be a number from 124 to 132")
	}
	q.m = 1000
	if p.has&hasM != 0 && p.m != "" {
		m, err := strconv.ParseFloat(p.m, 64)
		if err != nil || math.IsNaN(m) {
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

func (p *params) nearQuery() (nearQuery, error) {
	g, err := p.geoQuery()
	q := nearQuery{geoQuery: g, limit: 50}
	if err != nil {
		return q, err
	}
	if p.has&hasLimit != 0 && p.limit != "" {
		n, err := strconv.Atoi(p.limit)
		if err != nil {
			return q, badRequest("limit must be an integer")
		}
		q.limit = min(max(n, 1), maxLimit)
	}
	if p.has&hasStatus != 0 && p.status != "" {
		for s := range strings.SplitSeq(p.status, ",") {
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

func (p *params) rulesQuery() (rulesQuery, error) {
	var q rulesQuery
	if p.has&hasDate == 0 || p.date == "" {
		return q, badRequest("date is required (YYYY-MM-DD)")
	}
	d, err := time.ParseInLocation("2006-01-02", p.date, publicmask.Seoul)
	if err != nil {
		return q, badRequest("date must be YYYY-MM-DD")
	}
	// Noon avoids any doubt about which Seoul day is meant.
	q.date = d.Add(12 * time.Hour)
	if p.has&hasBirthYear != 0 && p.birthYear != "" {
		y, err := strconv.Atoi(p.birthYear)
		if err != nil || y < 1900 || y > 2030 {
			return q, badRequest("birth_year must be a year from 1900 to 2030")
		}
		q.birthYear = y
	}
	return q, nil
}
