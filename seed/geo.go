package seed

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ReadGeo reads areas from a CSV in the shape of the 2020 시군구 reference
// file. Columns are found by header name, so extra columns and any order are
// fine: sido_nm, sgg_nm, mdis_lat, mdis_lng and pop_2020_census are required;
// mask_pharmacy_01, mask_post_02 and mask_nh_03 are optional (without them
// the counts are derived). Errors name the line.
func ReadGeo(r io.Reader) ([]Area, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1 // checked per row below, with a clearer message
	head, err := cr.Read()
	if err == io.EOF {
		return nil, errors.New("geo: empty file, expected a header line")
	}
	if err != nil {
		return nil, fmt.Errorf("geo: %w", err)
	}
	col, err := geoColumns(head)
	if err != nil {
		return nil, err
	}
	var areas []Area
	seen := map[string]int{}
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("geo: %w", err) // csv.ParseError names the line
		}
		line, _ := cr.FieldPos(0)
		if len(rec) != len(head) {
			return nil, fmt.Errorf("geo: line %d: %d fields, header has %d", line, len(rec), len(head))
		}
		a, err := geoRow(geoRecord{rec, col, line})
		if err != nil {
			return nil, err
		}
		key := a.Sido + " " + a.Sigungu
		if prev, dup := seen[key]; dup {
			return nil, fmt.Errorf("geo: line %d: %s repeats line %d", line, key, prev)
		}
		seen[key] = line
		areas = append(areas, a)
	}
	if len(areas) == 0 {
		return nil, errors.New("geo: no areas after the header")
	}
	return areas, nil
}

var (
	geoRequired = []string{"sido_nm", "sgg_nm", "mdis_lat", "mdis_lng", "pop_2020_census"}
	geoOptional = []string{"mask_pharmacy_01", "mask_post_02", "mask_nh_03"}
)

// geoColumns maps the header's names to their positions.
func geoColumns(head []string) (map[string]int, error) {
	col := map[string]int{}
	for i, h := range head {
		h = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")) // spreadsheet BOM
		col[h] = i
	}
	for _, h := range geoRequired {
		if _, ok := col[h]; !ok {
			return nil, fmt.Errorf("geo: line 1: missing column %q (need %s)", h, strings.Join(geoRequired, ", "))
		}
	}
	return col, nil
}

// geoRecord is one row with its columns and line, read by name.
type geoRecord struct {
	rec  []string
	col  map[string]int
	line int
}

func (g geoRecord) get(h string) string { return strings.TrimSpace(g.rec[g.col[h]]) }

func (g geoRecord) num(h string) (float64, error) {
	v, err := strconv.ParseFloat(g.get(h), 64)
	if err != nil {
		return 0, fmt.Errorf("geo: line %d: %s: not a number: %q", g.line, h, g.get(h))
	}
	return v, nil
}

func (g geoRecord) count(h string) (int, error) {
	v, err := strconv.Atoi(g.get(h))
	if err != nil || v < 0 {
		return 0, fmt.Errorf("geo: line %d: %s: not a count: %q", g.line, h, g.get(h))
	}
	return v, nil
}

// geoRow reads one area.
func geoRow(g geoRecord) (Area, error) {
	a := Area{Sido: g.get("sido_nm"), Sigungu: splitCityDistrict(g.get("sgg_nm"))}
	if a.Sido == "" || a.Sigungu == "" {
		return a, fmt.Errorf("geo: line %d: empty sido_nm or sgg_nm", g.line)
	}
	var err error
	if a.Lat, err = g.num("mdis_lat"); err != nil {
		return a, err
	}
	if a.Lng, err = g.num("mdis_lng"); err != nil {
		return a, err
	}
	if a.Lat < MinLat || a.Lat > MaxLat || a.Lng < MinLng || a.Lng > MaxLng {
		return a, fmt.Errorf("geo: line %d: point %g,%g is outside Korea", g.line, a.Lat, a.Lng)
	}
	if a.Population, err = g.count("pop_2020_census"); err != nil {
		return a, err
	}
	dst := []*int{&a.Pharmacies, &a.Posts, &a.Marts}
	for i, h := range geoOptional {
		if _, ok := g.col[h]; !ok {
			continue
		}
		if *dst[i], err = g.count(h); err != nil {
			return a, err
		}
	}
	return a, nil
}

// splitCityDistrict writes a 구 of a city as officially spaced: the
// reference file has "청주시상당구", addresses and the address index use
// "청주시 상당구".
func splitCityDistrict(s string) string {
	if strings.Contains(s, " ") || !strings.HasSuffix(s, "구") {
		return s
	}
	i := strings.Index(s, "시")
	if i <= 0 {
		return s
	}
	rest := s[i+len("시"):]
	if utf8.RuneCountInString(rest) < 2 {
		return s
	}
	return s[:i+len("시")] + " " + rest
}
