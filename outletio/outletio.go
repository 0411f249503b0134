// Package outletio reads outlet registry imports: CSV (header
// `code,name,addr,type,lat,lng`, any column order, UTF-8 with or without BOM),
// a JSON array of outlet objects, or the 2020 open-API envelopes
// `{"storeInfos":[…]}` (stores/json) and `{"stores":[…]}` (storesByGeo,
// storesByAddr). It does no I/O beyond the reader it is given.
//
// Decisions:
//   - A code is 1–20 ASCII letters or digits. The 2020 list has 8-digit
//     pharmacy codes and 10-digit post-office and Nonghyup codes, so "exactly 8
//     digits" would reject real outlets. A code holding a registration number
//     (13 digits that parse as one, DESIGN.md §6.4) is not a code: it would be
//     stored, published by the open API and logged with the outlet's requests.
//   - Rows with a bad code, an empty name, a type other than 01/02/03, missing
//     or unparseable coordinates, or coordinates outside Korea (lat 33–39,
//     lng 124–132) are listed in Rejected and skipped: nothing is invented and
//     no row is fatal. Only an unreadable body (not CSV/JSON at all, a
//     missing header column, a JSON syntax error) or an oversized one fails
//     the whole import, because then nothing trustworthy can be imported.
//   - A code that appears twice in one body: the later row wins, as if the
//     rows were upserted one after the other, and the earlier row is listed
//     in Rejected ("superseded by line N") so the operator sees it.
//   - Text is trimmed of surrounding spaces but otherwise kept as sent (the
//     2020 data has double spaces inside addresses; they are real data).
//   - For JSON, Rejected.Line is the 1-based position in the array.
package outletio

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/internal/utf8x"
	"github.com/publicmask/publicmask/rrn"
)

// Limits. The whole 2020 list is 2.9 MB and 26,289 rows, so these leave an
// order of magnitude of room while keeping one request's memory bounded.
const (
	MaxBytes   = 32 << 20
	MaxRows    = 200_000
	MaxCodeLen = 20
	MaxNameLen = 100 // runes
	MaxAddrLen = 300 // runes
)

// Coordinates accepted for an outlet: the Korean mainland and islands.
const (
	MinLat, MaxLat = 33.0, 39.0
	MinLng, MaxLng = 124.0, 132.0
)

// Rejected is one row that was not imported, and why.
type Rejected struct {
	Line   int    `json:"line,omitempty"`
	Code   string `json:"code,omitempty"`
	Reason string `json:"reason"`
}

var bom = []byte{0xEF, 0xBB, 0xBF}

// Parse sniffs the body: JSON if its first non-space byte (after an optional
// BOM) is '[' or '{', CSV otherwise.
func Parse(r io.Reader) ([]publicmask.Outlet, []Rejected, error) {
	br := bufio.NewReader(limit(r))
	if IsJSON(peekStart(br)) {
		return parseJSON(br)
	}
	return parseCSV(br, 0)
}

// IsJSON reports whether a body that starts with prefix is JSON rather than
// CSV (see Parse).
func IsJSON(prefix []byte) bool {
	b := bytes.TrimLeft(bytes.TrimPrefix(prefix, bom), " \t\r\n")
	return len(b) > 0 && (b[0] == '[' || b[0] == '{')
}

func peekStart(br *bufio.Reader) []byte {
	b, _ := br.Peek(512) // a short body gives what there is
	return b
}

// ParseCSV reads a CSV import. The header row names the columns (any order,
// case-insensitive; addr is optional; unknown columns are ignored).
func ParseCSV(r io.Reader) ([]publicmask.Outlet, []Rejected, error) {
	return parseCSV(bufio.NewReader(limit(r)), 0)
}

// ParseCSVRows is ParseCSV of a body of at most rows rows (its lines: the
// import handler holds the body and counts them; ≤ 0 if unknown): its
// lists are made for them (at most MaxRows) instead of grown by doubling
// from empty. An Outlet is 160 bytes: a 100,000-row body's parse
// allocated 119 MB, 31 MB so.
func ParseCSVRows(r io.Reader, rows int) ([]publicmask.Outlet, []Rejected, error) {
	return parseCSV(bufio.NewReader(limit(r)), min(max(rows, 0), MaxRows))
}

// ParseJSON reads a JSON array of outlets or a 2020 envelope.
func ParseJSON(r io.Reader) ([]publicmask.Outlet, []Rejected, error) {
	return parseJSON(bufio.NewReader(limit(r)))
}

func badRequest(format string, args ...any) error {
	return publicmask.Errorf(publicmask.EBadRequest, format, args...)
}

var errTooLarge = publicmask.Errorf(publicmask.EBodyTooLarge, "import larger than %d bytes", MaxBytes)

// limit makes the reader fail with body_too_large past MaxBytes instead of
// silently truncating (a truncated CSV would look valid).
func limit(r io.Reader) io.Reader { return &limitedReader{r: r, n: MaxBytes} }

type limitedReader struct {
	r io.Reader
	n int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n < 0 {
		return 0, errTooLarge
	}
	if int64(len(p)) > l.n+1 {
		p = p[:l.n+1]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	if l.n < 0 {
		return n - int(-l.n), errTooLarge
	}
	return n, err
}

// builder collects valid outlets, resolving duplicate codes.
type builder struct {
	outlets []publicmask.Outlet
	lines   []int // line of each outlet, for duplicate reports
	// index is each code's place in outlets, made only once a code does
	// not sort after the one before it: until then no code can have come
	// twice (a body in code order, as scripts/load.py sends it, needs no
	// map of its 100,000 codes).
	index    map[string]int
	rejected []Rejected
	rows     int
}

func newBuilder(rows int) *builder {
	return &builder{outlets: make([]publicmask.Outlet, 0, rows), lines: make([]int, 0, rows)}
}

func (b *builder) reject(line int, code, reason string) {
	b.rejected = append(b.rejected, Rejected{Line: line, Code: code, Reason: reason})
}

func (b *builder) row() error {
	b.rows++
	if b.rows > MaxRows {
		return publicmask.Errorf(publicmask.EBodyTooLarge, "more than %d rows", MaxRows)
	}
	return nil
}

// add validates one row given as text fields. latRaw/lngRaw are "" when
// absent or null.
func (b *builder) add(line int, code, name, addr, typ, latRaw, lngRaw string) {
	o, code, reason := check(code, name, addr, typ, latRaw, lngRaw)
	if reason != "" {
		b.reject(line, code, reason)
		return
	}
	b.put(line, o)
}

// check validates one row given as text fields: the outlet, or the code to
// report (if any) and why the row is rejected. It reads nothing but its
// arguments: rows may be checked on several goroutines.
func check(code, name, addr, typ, latRaw, lngRaw string) (o publicmask.Outlet, _, reason string) {
	code = strings.TrimSpace(code)
	if code == "" {
		return o, "", "missing code"
	}
	if !validCode(code) {
		if rrn.Contains(code) {
			// The store keeps a code, the open data serves it and the log
			// names it: never a registration number (DESIGN.md §2, §6.4).
			return o, "", "code: holds a registration number"
		}
		return o, "", "invalid code (want 1–20 letters or digits)"
	}
	// The name and the address are read once each (scanText: valid
	// UTF-8, length, the first unsafe character), trimmed first: trimming
	// removes only whole space characters, never an invalid byte, so
	// the trimmed text is valid exactly when the field is.
	name, addr = strings.TrimSpace(name), strings.TrimSpace(addr)
	nameLen, nameOK, nameBad := scanText(name)
	addrLen, addrOK, addrBad := scanText(addr)
	if !nameOK || !addrOK || !utf8.ValidString(typ) || !utf8.ValidString(latRaw) || !utf8.ValidString(lngRaw) {
		return o, code, "not valid UTF-8"
	}
	typ = strings.TrimSpace(typ)
	for _, f := range []struct {
		field, text string
		bad         rune
	}{{"name", name, nameBad}, {"addr", addr, addrBad}} {
		if reason := unsafeReason(f.text, f.bad); reason != "" {
			return o, code, f.field + ": " + reason
		}
	}
	switch {
	case name == "":
		return o, code, "missing name"
	case nameLen > MaxNameLen:
		return o, code, fmt.Sprintf("name longer than %d characters", MaxNameLen)
	case addrLen > MaxAddrLen:
		return o, code, fmt.Sprintf("addr longer than %d characters", MaxAddrLen)
	case !publicmask.ValidOutletType(typ):
		return o, code, "invalid type (want 01, 02 or 03)"
	}
	latRaw, lngRaw = strings.TrimSpace(latRaw), strings.TrimSpace(lngRaw)
	if latRaw == "" || lngRaw == "" {
		return o, code, "missing coordinates"
	}
	lat, err1 := strconv.ParseFloat(latRaw, 64)
	lng, err2 := strconv.ParseFloat(lngRaw, 64)
	if err1 != nil || err2 != nil || math.IsNaN(lat) || math.IsNaN(lng) {
		return o, code, "invalid coordinates"
	}
	if !(lat >= MinLat && lat <= MaxLat && lng >= MinLng && lng <= MaxLng) {
		return o, code, "coordinates outside Korea"
	}
	return publicmask.Outlet{Code: code, Name: name, Addr: addr, Type: typ, Lat: lat, Lng: lng}, code, ""
}

// put adds a valid outlet; a code seen before is superseded.
func (b *builder) put(line int, o publicmask.Outlet) {
	code := o.Code
	if b.index == nil {
		if n := len(b.outlets); n == 0 || b.outlets[n-1].Code < code {
			b.outlets = append(b.outlets, o)
			b.lines = append(b.lines, line)
			return
		}
		b.index = make(map[string]int, max(cap(b.outlets), 2*len(b.outlets)))
		for i := range b.outlets {
			b.index[b.outlets[i].Code] = i
		}
	}
	if i, dup := b.index[code]; dup {
		b.reject(b.lines[i], code, fmt.Sprintf("duplicate code, superseded by line %d", line))
		b.outlets[i] = o
		b.lines[i] = line
		return
	}
	b.index[code] = len(b.outlets)
	b.outlets = append(b.outlets, o)
	b.lines = append(b.lines, line)
}

// unsafeReason says why a text field cannot be stored and served as it
// is, or "", given the first control or bidirectional control character
// scanText found in it (-1: none). Names and addresses end up in pages,
// CSV exports that operators open in spreadsheets, and logs: control
// characters could forge log lines or break layouts, bidirectional
// overrides make text read differently from what it is, a leading = + - @
// makes a spreadsheet run a formula, and a registration number must never
// be stored.
func unsafeReason(s string, bad rune) string {
	if s != "" && strings.ContainsRune("=+-@", rune(s[0])) {
		return "starts with " + s[:1] + " (a spreadsheet formula prefix)"
	}
	switch {
	case bad < 0:
	case unicode.IsControl(bad):
		return fmt.Sprintf("control character U+%04X", bad)
	default:
		return fmt.Sprintf("bidirectional control U+%04X", bad)
	}
	if rrn.Contains(s) {
		return "holds a registration number"
	}
	return ""
}

// scanText reads s once: its length in characters (an invalid byte
// counts as one, as utf8.RuneCountInString counts it), whether it is
// valid UTF-8, and the first control or bidirectional control character
// in it (-1: none). One pass instead of three (utf8.ValidString,
// utf8.RuneCountInString and a range over the runes): ~2,000 instructions a
// row of a registry import.
func scanText(s string) (runes int, valid bool, bad rune) {
	valid, bad = true, -1
	for i := 0; i < len(s); runes++ {
		r := rune(s[i])
		if r < utf8.RuneSelf {
			i++
		} else if utf8x.PlainThreeByte(s, i) {
			// Hangul, neither a control nor a bidirectional mark (those
			// outside ASCII and Latin-1 start with 0xe2 or 0xd8): counted
			// without the decoder's call.
			i += 3
			continue
		} else {
			var w int
			r, w = utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && w == 1 {
				valid = false
			}
			i += w
		}
		if bad < 0 && (unicode.IsControl(r) || r >= 0x202A && r <= 0x202E || r >= 0x2066 && r <= 0x2069 || r == 0x200E || r == 0x200F || r == 0x061C) {
			bad = r
		}
	}
	return runes, valid, bad
}

func validCode(s string) bool {
	if len(s) == 0 || len(s) > MaxCodeLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	// Only 13 digits or more can hold a registration number: the
	// registry's codes are never scanned.
	return len(s) < 13 || !rrn.Contains(s)
}

// ValidCode reports whether s is an acceptable outlet code (1–20 ASCII
// letters or digits, holding no registration number).
func ValidCode(s string) bool { return validCode(s) }

func (b *builder) result() ([]publicmask.Outlet, []Rejected, error) {
	if b.rejected == nil {
		b.rejected = []Rejected{}
	}
	return b.outlets, b.rejected, nil
}

var columns = [...]string{"code", "name", "addr", "type", "lat", "lng"}

func parseCSV(br *bufio.Reader, rows int) ([]publicmask.Outlet, []Rejected, error) {
	if b, _ := br.Peek(3); bytes.Equal(b, bom) {
		br.Discard(3)
	}
	cr := csv.NewReader(br)
	cr.FieldsPerRecord = -1 // a short row is a rejected row, not a fatal error
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err == io.EOF {
		return nil, nil, badRequest("empty CSV body")
	}
	if err != nil {
		return nil, nil, csvFatal(err)
	}
	col := map[string]int{}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(h))
		if _, dup := col[h]; dup && h != "" {
			return nil, nil, badRequest("CSV header: column %q appears twice", truncate(h, 20))
		}
		col[h] = i
	}
	for _, c := range columns {
		if _, ok := col[c]; !ok && c != "addr" {
			return nil, nil, badRequest("CSV header must name the columns code,name,addr,type,lat,lng (missing %s)", c)
		}
	}
	width := len(header)
	// Each column's index, -1 if absent (addr may be): looked up once, not
	// in the map for every field of every row.
	var at [len(columns)]int
	for k, c := range columns {
		at[k] = -1
		if i, ok := col[c]; ok {
			at[k] = i
		}
	}
	field := func(rec []string, k int) string {
		if i := at[k]; i >= 0 {
			return rec[i]
		}
		return ""
	}
	b := newBuilder(rows)
	// The records are read first, then checked (on two goroutines for a
	// large body: the checks were ~70% of a 100,000-row body's parse, on
	// the import's serial path), then added in their order, so that the
	// outlets, the rejections and their order are those of one pass.
	recs := make([]csvRow, 0, rows)
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if rerr := b.row(); rerr != nil {
			return nil, nil, rerr
		}
		if err != nil {
			var pe *csv.ParseError
			if !errors.As(err, &pe) {
				return nil, nil, csvFatal(err)
			}
			// The reader has moved past the bad record; report and go on.
			recs = append(recs, csvRow{line: pe.StartLine, reason: "malformed CSV: " + pe.Err.Error()})
			continue
		}
		line, _ := cr.FieldPos(0)
		if len(rec) != width {
			code := strings.TrimSpace(field2(rec, col["code"]))
			if !ValidCode(code) { // never echo a registration number
				code = ""
			}
			recs = append(recs, csvRow{line: line, f: [len(columns)]string{code}, reason: fmt.Sprintf("row has %d fields, header has %d", len(rec), width)})
			continue
		}
		// The fields are slices of the record's own string (encoding/csv
		// makes one a record): they stay valid past the next Read.
		recs = append(recs, csvRow{line: line, f: [len(columns)]string{field(rec, 0), field(rec, 1), field(rec, 2), field(rec, 3), field(rec, 4), field(rec, 5)}, fields: true}) // columns' order
	}
	checkRows(recs)
	for i := range recs {
		r := &recs[i]
		if r.reason != "" {
			b.reject(r.line, r.f[0], r.reason)
		} else {
			b.put(r.line, publicmask.Outlet{Code: r.f[0], Name: r.f[1], Addr: r.f[2], Type: r.f[3], Lat: r.lat, Lng: r.lng})
		}
	}
	return b.result()
}

// csvRow is a CSV record read: its fields (if fields), then, once
// checked, its outlet's (code, name, addr and type in f, lat and lng) or
// the code (f[0]) and reason of its rejection.
type csvRow struct {
	line     int
	f        [len(columns)]string
	lat, lng float64
	reason   string
	fields   bool
}

// parallelCheck is the number of rows from which checkRows halves the work.
var parallelCheck = 4096

// checkRows checks the rows that have fields: in two halves on two
// goroutines when there are many.
func checkRows(rows []csvRow) {
	run := func(rows []csvRow) {
		for i := range rows {
			r := &rows[i]
			if r.fields {
				o, code, reason := check(r.f[0], r.f[1], r.f[2], r.f[3], r.f[4], r.f[5])
				r.f = [len(columns)]string{o.Code, o.Name, o.Addr, o.Type}
				r.lat, r.lng, r.reason = o.Lat, o.Lng, reason
				if reason != "" {
					r.f[0] = code
				}
			}
		}
	}
	if len(rows) < parallelCheck {
		run(rows)
		return
	}
	half := len(rows) / 2
	var wg sync.WaitGroup
	wg.Go(func() { run(rows[:half]) })
	run(rows[half:])
	wg.Wait()
}

func field2(rec []string, i int) string {
	if i < len(rec) {
		return rec[i]
	}
	return ""
}

func csvFatal(err error) error {
	var pe *publicmask.Error
	if errors.As(err, &pe) {
		return err
	}
	var ce *csv.ParseError
	if errors.As(err, &ce) {
		return badRequest("malformed CSV header: %v", ce.Err)
	}
	return err // a read error (e.g. *http.MaxBytesError): the caller maps it
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func parseJSON(br *bufio.Reader) ([]publicmask.Outlet, []Rejected, error) {
	if b, _ := br.Peek(3); bytes.Equal(b, bom) {
		br.Discard(3)
	}
	dec := json.NewDecoder(br)
	dec.UseNumber()
	b := newBuilder(0)
	tok, err := dec.Token()
	if err != nil {
		return nil, nil, jsonFatal(err)
	}
	switch tok {
	case json.Delim('['):
		if err := b.jsonArray(dec); err != nil {
			return nil, nil, err
		}
	case json.Delim('{'):
		found := false
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return nil, nil, jsonFatal(err)
			}
			key, _ := kt.(string)
			if key == "storeInfos" || key == "stores" {
				t, err := dec.Token()
				if err != nil {
					return nil, nil, jsonFatal(err)
				}
				if t != json.Delim('[') {
					return nil, nil, badRequest("%s must be an array", key)
				}
				found = true
				if err := b.jsonArray(dec); err != nil {
					return nil, nil, err
				}
				continue
			}
			var skip json.RawMessage // count, page, totalCount, …
			if err := dec.Decode(&skip); err != nil {
				return nil, nil, jsonFatal(err)
			}
		}
		if _, err := dec.Token(); err != nil { // closing '}'
			return nil, nil, jsonFatal(err)
		}
		if !found {
			return nil, nil, badRequest(`JSON object has no "storeInfos" or "stores" array`)
		}
	default:
		return nil, nil, badRequest("JSON body must be an array of outlets or an object with storeInfos")
	}
	if _, err := dec.Token(); err != io.EOF {
		if err != nil {
			return nil, nil, jsonFatal(err)
		}
		return nil, nil, badRequest("JSON body must contain a single value")
	}
	return b.result()
}

// jsonArray reads the items of an array whose '[' was consumed.
func (b *builder) jsonArray(dec *json.Decoder) error {
	for pos := 1; dec.More(); pos++ {
		if err := b.row(); err != nil {
			return err
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return jsonFatal(err)
		}
		var item map[string]json.RawMessage
		if len(raw) == 0 || raw[0] != '{' || json.Unmarshal(raw, &item) != nil {
			b.reject(pos, "", "item is not an object")
			continue
		}
		var fields [6]string
		bad := ""
		for i, name := range columns {
			s, ok := scalar(item[name])
			if !ok {
				bad = name
				break
			}
			fields[i] = s
		}
		if bad != "" {
			code, _ := scalar(item["code"])
			if !ValidCode(code) { // never echo a registration number
				code = ""
			}
			b.reject(pos, code, bad+" must be a string or a number")
			continue
		}
		b.add(pos, fields[0], fields[1], fields[2], fields[3], fields[4], fields[5])
	}
	_, err := dec.Token() // closing ']'
	if err != nil {
		return jsonFatal(err)
	}
	return nil
}

// scalar turns a JSON string or number into text ("" for absent or null);
// ok is false for objects, arrays and booleans. Numbers keep their literal
// text, so 2020 lat/lng given as numbers or strings read the same.
func scalar(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", true
	}
	switch c := raw[0]; {
	case c == '"':
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return "", false
		}
		return s, true
	case c == '-' || '0' <= c && c <= '9':
		return string(raw), true
	}
	return "", false
}

func jsonFatal(err error) error {
	var pe *publicmask.Error
	if errors.As(err, &pe) {
		return err
	}
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		return badRequest("malformed JSON at byte %d", se.Offset)
	case err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest("malformed JSON: unexpected end of body")
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return badRequest("malformed JSON at byte %d", te.Offset)
	}
	return err // a read error: the caller maps it
}

// WriteCSV writes outlets in the import format (header first), the shape
// of the 2020 national list. Coordinates are written with the fewest
// digits that read back exactly.
func WriteCSV(w io.Writer, outlets []publicmask.Outlet) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(columns[:]); err != nil {
		return err
	}
	rec := make([]string, len(columns))
	for i := range outlets {
		o := &outlets[i]
		rec[0], rec[1], rec[2], rec[3] = o.Code, o.Name, o.Addr, o.Type
		rec[4] = strconv.FormatFloat(o.Lat, 'f', -1, 64)
		rec[5] = strconv.FormatFloat(o.Lng, 'f', -1, 64)
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// storeInfo is one record of the 2020 open API stores list.
type storeInfo struct {
	Code string  `json:"code"`
	Name string  `json:"name"`
	Addr string  `json:"addr"`
	Type string  `json:"type"`
	Lat  float64 `json:"lat"`
	Lng  float64 `json:"lng"`
}

// WriteJSON writes {"storeInfos":[{code,name,addr,type,lat,lng}]} as in the
// 2020 open API (lat/lng as numbers), which the import also accepts.
func WriteJSON(w io.Writer, outlets []publicmask.Outlet) error {
	infos := make([]storeInfo, len(outlets))
	for i := range outlets {
		o := &outlets[i]
		infos[i] = storeInfo{o.Code, o.Name, o.Addr, o.Type, o.Lat, o.Lng}
	}
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false) // keep names readable; nothing here is HTML
	if err := enc.Encode(struct {
		StoreInfos []storeInfo `json:"storeInfos"`
	}{infos}); err != nil {
		return err
	}
	return bw.Flush()
}
