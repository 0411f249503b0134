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
	col := map[string]int{}
	for i, h := range head {
		h = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")) // spreadsheet BOM
		col[h] = i
	}
	required := []string{"sido_nm", "sgg_nm", "mdis_lat", "mdis_lng", "pop_2020_census"}
	for _, h := range required {
		if _, ok := col[h]; !ok {
			return nil, fmt.Errorf("geo: line 1: missing column %q (need %s)", h, strings.Join(required, ", "))
		}
	}
	optional := []string{"mask_pharmacy_01", "mask_post_02", "mask_nh_03"}
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
		get := func(h string) string { return strings.TrimSpace(rec[col[h]]) }
		num := func(h string) (float64, error) {
			v, err := strconv.ParseFloat(get(h), 64)
			if err != nil {
				return 0, fmt.Errorf("geo: line %d: %s: not a number: %q", line, h, get(h))
			}
			return v, nil
		}
		integer := func(h string) (int, error) {
			v, err := strconv.Atoi(get(h))
			if err != nil || v < 0 {
				return 0, fmt.Errorf("geo: line %d: %s: not a count: %q", line, h, get(h))
			}
			return v, nil
		}
		a := Area{Sido: get("sido_nm"), Sigungu: splitCityDistrict(get("sgg_nm"))}
		if a.Sido == "" || a.Sigungu == "" {
			return nil, fmt.Errorf("geo: line %d: empty sido_nm or sgg_nm", line)
		}
		if a.Lat, err = num("mdis_lat"); err != nil {
			return nil, err
		}
		if a.Lng, err = num("mdis_lng"); err != nil {
			return nil, err
		}
		if a.Lat < MinLat || a.Lat > MaxLat || a.Lng < MinLng || a.Lng > MaxLng {
			return nil, fmt.Errorf("geo: line %d: point %g,%g is outside Korea", line, a.Lat, a.Lng)
		}
		if a.Population, err = integer("pop_2020_census"); err != nil {
			return nil, err
		}
		dst := []*int{&a.Pharmacies, &a.Posts, &a.Marts}
		for i, h := range optional {
			if _, ok := col[h]; !ok {
				continue
			}
			if *dst[i], err = integer(h); err != nil {
				return nil, err
			}
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
