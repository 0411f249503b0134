package web

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"maps"
)

//go:generate go run ./internal/gensido -in ../../shared/data/geo/provinces_2018.geojson -out static/geo/sido.json

// Message catalogues of the public pages, one JSON file per page and
// language under i18n/ (the counter's design: i18n/<page>.<lang>.json,
// served as a script that sets window.PM_MSG). The public pages share
// i18n/common.<lang>.json (status words, outlet types, ages), merged into
// each page's catalogue; js/i18n.js picks the language.
var (
	publicPages = []string{"map", "status", "overview"}
	pageLangs   = []string{"ko", "en"}
)

// buildCatalogues adds msg/<page>.js for every public page and folds them
// into the asset version. A missing key in one language is a start-up
// failure (a test also checks it), so that no page shows a raw key.
func (s *site) buildCatalogues() {
	h := sha256.New()
	h.Write([]byte(s.version))
	for _, page := range publicPages {
		cats := map[string]map[string]string{}
		for _, lang := range pageLangs {
			m := map[string]string{}
			maps.Copy(m, readCatalogue("common", lang))
			maps.Copy(m, readCatalogue(page, lang))
			cats[lang] = m
		}
		for k := range cats[pageLangs[0]] {
			for _, lang := range pageLangs[1:] {
				if _, ok := cats[lang][k]; !ok {
					panic("web: i18n: " + page + "." + lang + " lacks " + k)
				}
			}
		}
		var b bytes.Buffer
		b.WriteString("// Generated from web/i18n/{common," + page + "}.*.json: the message catalogues of this page.\n'use strict';\nwindow.PM_MSG = {")
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
