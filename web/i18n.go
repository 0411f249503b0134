package web

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"maps"
	"net/http"
	"strconv"
	"strings"
)

//go:generate go run ./internal/gensido -in ../../shared/data/geo/provinces_2018.geojson -out static/geo/sido.json

// Message catalogues of the pages, one JSON file per page and language
// under i18n/ (i18n/<page>.<lang>.json). The public pages share
// i18n/common.<lang>.json (status words, outlet types, ages), merged into
// each page's catalogue. The server renders each page in the language
// chooseLang picks; the same catalogues, served as msg/<page>.js (a script
// that sets window.PM_MSG), let js/i18n.js switch without a reload.
var (
	publicPages = []string{"map", "status", "overview"}
	// notfound: what a browser is given for an address that is no page.
	allPages  = append(append([]string{"outlet"}, publicPages...), "notfound")
	pageLangs = []string{"ko", "en"} // the first is the default
)

// langCookie holds the reader's choice for the server; js/i18n.js writes
// it beside its localStorage key, whenever the choice is made or read.
const langCookie = "publicmask_lang"

// buildCatalogues loads every page's catalogues into s.msgs and adds
// msg/<page>.js for each, folded into the asset version. A key missing in
// one language is a start-up failure (a test also checks it), so that no
// page shows a raw key.
func (s *site) buildCatalogues() {
	h := sha256.New()
	h.Write([]byte(s.version))
	for _, page := range allPages {
		cats := map[string]map[string]string{}
		for _, lang := range pageLangs {
			m := map[string]string{}
			if page != "outlet" { // the counter is outlet traffic, with its own catalogue
				maps.Copy(m, readCatalogue("common", lang))
			}
			maps.Copy(m, readCatalogue(page, lang))
			if page != "outlet" {
				maps.Copy(m, sidoCatalogue(lang))
			}
			cats[lang] = m
		}
		for k := range cats[pageLangs[0]] {
			for _, lang := range pageLangs[1:] {
				if _, ok := cats[lang][k]; !ok {
					panic("web: i18n: " + page + "." + lang + " lacks " + k)
				}
			}
		}
		s.msgs[page] = cats
		var b bytes.Buffer
		b.WriteString("// Generated from web/i18n/*.json: the message catalogues of this page.\n'use strict';\nwindow.PM_MSG = {")
		for i, lang := range pageLangs {
			enc, _ := json.Marshal(cats[lang]) // sorted keys: stable bytes
			if i > 0 {
				b.WriteString(",")
			}
			b.WriteString("\n\"" + lang + "\": ")
			b.Write(enc)
		}
		b.WriteString("\n};\n")
		a := newAsset(b.Bytes(), contentType("x.js"))
		s.assets["msg/"+page+".js"] = a
		h.Write([]byte(a.etag))
	}
	s.version = hex.EncodeToString(h.Sum(nil))[:12]
}

// sidoKey prefixes a 시도's registered name in the public pages'
// catalogues ("sido:서울특별시"): js/i18n.js's sido and place look it up.
const sidoKey = "sido:"

// sidoCatalogue names the 17 시도 in lang (DESIGN.md §4.5: in English,
// 시도 names are the boundary data's name_eng; 시군구, outlet names and
// addresses stay as registered), from the outline that /overview draws
// (static/geo/sido.json, made from the shared KOSTAT/SGIS file), so that
// the names come from the data, not from a list in a script.
func sidoCatalogue(lang string) map[string]string {
	raw, err := files.ReadFile("static/geo/sido.json")
	if err != nil {
		panic(err)
	}
	var fc struct {
		Features []struct {
			Properties struct {
				Name    string `json:"name"`
				NameEng string `json:"name_eng"`
			} `json:"properties"`
		} `json:"features"`
	}
	if err := json.Unmarshal(raw, &fc); err != nil {
		panic("web: static/geo/sido.json: " + err.Error())
	}
	m := make(map[string]string, len(fc.Features))
	for _, f := range fc.Features {
		p := f.Properties
		if p.Name == "" || p.NameEng == "" || strings.Contains(p.NameEng, " ") {
			// js/i18n.js's place reads a label's first word as its 시도.
			panic("web: static/geo/sido.json: a 시도 without a one-word name_eng: " + p.Name)
		}
		m[sidoKey+p.Name] = p.Name
		if lang == "en" {
			m[sidoKey+p.Name] = p.NameEng
		}
	}
	return m
}

func readCatalogue(name, lang string) map[string]string {
	raw, err := files.ReadFile("i18n/" + name + "." + lang + ".json")
	if err != nil {
		panic(err)
	}
	var m map[string]string
	if err := json.Unmarshal(raw, &m); err != nil {
		panic("web: i18n/" + name + "." + lang + ".json: " + err.Error())
	}
	return m
}

func isLang(s string) bool {
	for _, l := range pageLangs {
		if s == l {
			return true
		}
	}
	return false
}

// chooseLang picks a page's language as js/i18n.js does (DESIGN.md §4.5):
// ?lang=, else the remembered choice (the cookie), else Accept-Language,
// else Korean. headers reports whether the choice read the request's
// headers, so that the answer must Vary on them.
func chooseLang(r *http.Request) (lang string, headers bool) {
	if q := r.URL.Query().Get("lang"); isLang(q) {
		return q, false
	}
	if c, err := r.Cookie(langCookie); err == nil && isLang(c.Value) {
		return c.Value, true
	}
	return acceptLanguage(r.Header.Get("Accept-Language")), true
}

// acceptLanguage returns the page language the header prefers most (by q,
// then by order), matching on the primary subtag: "en-US" is English.
func acceptLanguage(header string) string {
	best, bestQ := pageLangs[0], 0.0
	for _, part := range strings.Split(header, ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		primary, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(tag)), "-")
		if !isLang(primary) {
			continue
		}
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				continue
			}
			q = f
		}
		if q > bestQ {
			best, bestQ = primary, q
		}
	}
	return best
}
