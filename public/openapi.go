package public

import (
	_ "embed"
	"encoding/json"
)

//go:embed openapi.json
var openAPIJSON []byte

// OpenAPIDocument returns a fresh copy of the public API's OpenAPI 3
// document as a generic map, for callers that merge in other APIs.
func OpenAPIDocument() map[string]any {
	var doc map[string]any
	if err := json.Unmarshal(openAPIJSON, &doc); err != nil {
		panic("public: embedded openapi.json: " + err.Error())
	}
	return doc
}

// openAPIDocument is the served document: the embedded one, extended by the
// caller (outlet and admin paths), encoded once.
func openAPIDocument(extend func(map[string]any)) []byte {
	if extend == nil {
		return openAPIJSON
	}
	doc := OpenAPIDocument()
	extend(doc)
	b, err := json.Marshal(doc)
	if err != nil {
		panic("public: extended OpenAPI document: " + err.Error())
	}
	return b
}
