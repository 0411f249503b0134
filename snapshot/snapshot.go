// Package snapshot is the public read model: an immutable in-memory picture
// of every outlet, replaced atomically as the ledger commits. Public requests
// read only from it and never touch the store (DESIGN.md §2, read path).
package snapshot

import (
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	publicmask "github.com/publicmask/publicmask"
)

// Entry is an outlet as the public sees it, with its registry fields
// encoded once. Entries are immutable; a change creates a new Entry.
//
// An entry is kept small and nearly pointer-free (the snapshot holds one per
// outlet, and the collector scans every pointer of every entry in each
// cycle): its strings are spans of its one registry encoding, its times
// are Unix seconds, its band is a byte and its Place is spans of its
// address. 224 bytes, three pointers (TestEntrySize).
type Entry struct {
	// The fields a v1 record reads come first (reg, v1, v1Set, stat: 56
	// bytes): besides the registry text, that is all an answer touches (at
	// 540,000 outlets nearly every entry an answer reads is a cache miss).

	// reg is the JSON of the six registry fields that every record begins
	// with, shared by the versions of an outlet whose registry fields are
	// unchanged. Code, Name, Addr and Type (and Place, through Addr) are
	// read from it: lens holds their lengths in the JSON (without quotes),
	// and the ones it does not hold verbatim (a name with a quote; esc)
	// are in strs, so that an outlet's registry text is one piece of
	// memory.
	reg string
	// v1 holds the two times of the nine-field v1 record (storesByGeo,
	// storesByAddr, sales) as "YYYY/MM/DD HH:mm:ss", encoded once per change
	// inside the entry (no allocation or pointer of its own); v1Set says
	// which are not null, or (v1Slow) that the record is encoded per answer
	// (a year of other than four digits). The v2 stock fields, forecast and
	// distance are encoded per answer (see BENCHMARKS.md "Scale").
	v1        [2][v1TimeLen]byte
	v1Set     uint8
	stat      uint8 // index into statOrder
	sido      int8  // index into sidoNames, or len(sidoNames) if unknown
	Suspended bool
	lens      [4]uint16
	esc       uint8 // bit k: registry string k is in strs
	place     placeRef

	// The outlet's other fields (an Entry holds no publicmask.Outlet: its
	// four strings and two time.Time took 112 bytes of the entry's 320;
	// Outlet() puts one together).
	Lat, Lng float64
	Stock    int
	Sold     int
	Version  int64
	at       [2]int64  // StockAt, UpdatedAt: Unix seconds (UTC; the zero time is its own)
	nsec     [2]uint32 // and their nanoseconds
	strs     *registryStrings
	rate     rate
}

// registryStrings holds those of an entry's registry strings that its JSON
// does not hold verbatim.
type registryStrings struct{ code, name, addr, typ string }

// Offsets of the registry strings in an entry's reg (appendRegistry):
// `{"code":"` before the code, `","name":"` and the like between them.
const (
	regCodeAt = len(`{"code":"`)
	regSep    = len(`","name":"`)
)

// regField is the k-th registry string (code, name, addr, type).
func (e *Entry) regField(k int) string {
	if e.esc&(1<<k) != 0 {
		return [4]string{e.strs.code, e.strs.name, e.strs.addr, e.strs.typ}[k]
	}
	at := regCodeAt
	for j := range k {
		at += int(e.lens[j]) + regSep
	}
	return e.reg[at : at+int(e.lens[k])]
}

// Code is the outlet's code.
func (e *Entry) Code() string { return e.regField(0) }

// Name is the outlet's name.
func (e *Entry) Name() string { return e.regField(1) }

// Addr is the outlet's address.
func (e *Entry) Addr() string { return e.regField(2) }

// Type is the outlet's type (publicmask.TypePharmacy…).
func (e *Entry) Type() string { return e.regField(3) }

// StockAt is the time of the outlet's last delivery (UTC); zero if never
// stocked.
func (e *Entry) StockAt() time.Time { return time.Unix(e.at[0], int64(e.nsec[0])).UTC() }

// UpdatedAt is the time of the outlet's last change (UTC).
func (e *Entry) UpdatedAt() time.Time { return time.Unix(e.at[1], int64(e.nsec[1])).UTC() }

// zeroUnix is the zero time in Unix seconds.
var zeroUnix = time.Time{}.Unix()

// Stocked reports whether the outlet has ever received stock.
func (e *Entry) Stocked() bool { return e.at[0] != zeroUnix || e.nsec[0] != 0 }

// RemainStat is the outlet's public band.
func (e *Entry) RemainStat() string { return publicmask.RemainStat(e.Stock, e.Suspended, e.Stocked()) }

// Outlet is the outlet the entry was made from (times in UTC).
func (e *Entry) Outlet() publicmask.Outlet {
	return publicmask.Outlet{Code: e.Code(), Name: e.Name(), Addr: e.Addr(), Type: e.Type(), Lat: e.Lat, Lng: e.Lng,
		Stock: e.Stock, Suspended: e.Suspended, Sold: e.Sold, StockAt: e.StockAt(), UpdatedAt: e.UpdatedAt(), Version: e.Version}
}

// Stat is the remain_stat band; "" if never stocked.
func (e *Entry) Stat() string { return statOrder[e.stat] }

// Place is the parsed administrative address (시도 inferred from the
// 시군구 when the address lacks it).
func (e *Entry) Place() Address { return e.place.address(e.Addr(), int(e.sido)) }

func newEntry(o publicmask.Outlet, place Address) *Entry { return nextEntry(o, place, nil, rate{}) }

// nextEntry makes the entry of o, reusing prev's encoding where its fields
// are unchanged (prev may be nil), with the selling rate r.
func nextEntry(o publicmask.Outlet, place Address, prev *Entry, r rate) *Entry {
	// UTC: every encoding converts to Korea time anyway.
	o.StockAt, o.UpdatedAt = utc(o.StockAt), utc(o.UpdatedAt)
	e := &Entry{Lat: o.Lat, Lng: o.Lng, Stock: o.Stock, Suspended: o.Suspended, Sold: o.Sold, Version: o.Version, rate: r}
	for k, t := range [2]time.Time{o.StockAt, o.UpdatedAt} {
		e.at[k], e.nsec[k] = t.Unix(), uint32(t.Nanosecond())
	}
	e.stat = uint8(statIndex(o.RemainStat()))
	e.sido = int8(sidoIndex(place.Sido))
	if e.sido < 0 {
		e.sido = int8(len(sidoNames))
	}
	if prev == nil || prev.Code() != o.Code || prev.Name() != o.Name || prev.Addr() != o.Addr || prev.Type() != o.Type ||
		prev.Lat != o.Lat || prev.Lng != o.Lng {
		e.setRegistry(&o)
	} else {
		// The change was read back from the store with strings of its
		// own; keep the previous ones.
		e.reg, e.lens, e.esc, e.strs = prev.reg, prev.lens, prev.esc, prev.strs
	}
	if prev != nil && prev.Addr() == o.Addr && prev.sido == e.sido && prev.Place() == place {
		e.place = prev.place
	} else {
		e.place = newPlaceRef(place, e.Addr())
	}
	e.setV1Times()
	return e
}

func utc(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}

// setRegistry encodes o's registry fields and notes where the strings lie
// in the encoding.
func (e *Entry) setRegistry(o *publicmask.Outlet) {
	var scratch [512]byte
	b, enc := appendRegistry(scratch[:0], o)
	e.reg = string(b)
	fields := [4]string{o.Code, o.Name, o.Addr, o.Type}
	for k, f := range fields {
		if enc[k] > 0xffff { // offsets past 64 KiB: all four aside
			e.lens, e.esc = [4]uint16{}, 0xf
			break
		}
		e.lens[k] = uint16(enc[k])
		if enc[k] != len(f) {
			e.esc |= 1 << k
		}
	}
	if e.esc != 0 {
		e.strs = &registryStrings{o.Code, o.Name, o.Addr, o.Type}
	}
}

// The code-ordered list is a two-level tree: a directory of groups of
// chunks of entries. A chunk (chunkSize entries) is the unit of
// copy-on-write: a change copies its chunk, its group and the directory
// (at 540,000 outlets ~130 pointers), never the whole list; and a commit of
// 64 changes copies a few thousand pointers, not the ~18,000 of a flat
// table of 256-entry chunks (each one a write barrier while the collector
// runs).
const (
	chunkBits = 6
	chunkSize = 1 << chunkBits
	groupBits = 6
	groupSize = 1 << groupBits
)

type chunk [chunkSize]*Entry
type group [groupSize]*chunk

// Snapshot is one immutable version of the public data. All methods are
// safe for concurrent use.
type Snapshot struct {
	version int64
	asOf    time.Time
	n       int
	dir     []*group // code order: entry i is dir[i>>12][i>>6&63][i&63]
	// selling marks the chunks that may hold an entry with a sell-out time
	// (the ones Expire must look at): set when such an entry comes in,
	// cleared by Expire. Copied on write, like summary.
	selling []bool
	reg     *registry
	summary *summary
	sgg     [][nStats]int32 // per 시군구 of reg.sgg; copied on write, like summary
	sales   *salesDay       // masks sold per 10 minutes today, as seen by this node
	memo    memo            // caches valid for this version only (sales pages, summary)

	versionStr, asOfStr string // formatted once: they go into every response header

	// epochs is the store's chain of epochs when the snapshot was swapped
	// in (publicmask.Epochs; nil for a store without one): the snapshot's
	// versions are of its latest epoch's history.
	epochs publicmask.Epochs
}

// Epoch is the epoch of the history the snapshot's versions belong to (""
// for a store without epochs).
func (s *Snapshot) Epoch() string { return s.epochs.Latest() }

// Epochs is the store's chain of epochs as the snapshot knows it.
func (s *Snapshot) Epochs() publicmask.Epochs { return s.epochs }

func (s *Snapshot) finish() *Snapshot {
	s.versionStr = strconv.FormatInt(s.version, 10)
	s.asOfStr = s.asOf.In(publicmask.Seoul).Format(time.RFC3339Nano)
	return s
}

// confirmed is s known current at a later instant: the same data under a
// new as_of. The caches of the version are not carried over (v2 bodies
// embed as_of); the registry's are.
func (s *Snapshot) confirmed(asOf time.Time) *Snapshot {
	ns := &Snapshot{version: s.version, asOf: asOf, n: s.n, dir: s.dir, selling: s.selling, reg: s.reg, summary: s.summary, sgg: s.sgg, sales: s.sales}
	return ns.finish()
}

// VersionString is Version in decimal.
func (s *Snapshot) VersionString() string { return s.versionStr }

// AsOfString is AsOf in RFC 3339 (Korea time).
func (s *Snapshot) AsOfString() string { return s.asOfStr }

// registry is everything that depends only on the outlets' registry fields
// (code, name, addr, type, lat, lng). Stock changes share it between
// snapshots, so a sale rebuilds no index and keeps the stores pages cached.
type registry struct {
	codes  codeIndex
	geo    *grid
	places *placeIndex
	memo   memo // caches valid while the registry is unchanged (stores pages)
	// The 시군구 of the registry in summary order, and the one of each
	// outlet (by position; -1: unknown), so that per-시군구 counts follow
	// the changes instead of a walk over every outlet.
	sgg    []sggPlace
	sggSum []coordSum // the sums of sgg's positions
	sggOf  []int32
	// What inferring areas (infer.go) found: the 시 that have 구, and what
	// the addresses left incomplete (though they name something) went by.
	// A merge of new outlets (merge.go) keeps them.
	hasGu    map[area]bool
	unplaced *unplaced
}

// withoutMemo is a copy of r with empty caches (a name changed: the
// indexes hold, the stores pages do not).
func (r *registry) withoutMemo() *registry {
	return &registry{codes: r.codes, geo: r.geo, places: r.places, sgg: r.sgg, sggSum: r.sggSum, sggOf: r.sggOf,
		hasGu: r.hasGu, unplaced: r.unplaced}
}

type sggPlace struct {
	sido, sigungu string
	lat, lng      float64 // mean position of its outlets
}

// summary counts outlets per band, per 시도 (last row: 시도 unknown).
type summary [nSido + 1][nStats]int32

// Stats in summary order; "" (never stocked) is reported as "unstocked".
var statOrder = [...]string{publicmask.StatPlenty, publicmask.StatSome, publicmask.StatFew,
	publicmask.StatEmpty, publicmask.StatBreak, ""}

const nStats = len(statOrder)

func statIndex(s string) int {
	for i, x := range statOrder {
		if x == s {
			return i
		}
	}
	return nStats - 1
}

// Version is the highest store version this snapshot reflects.
func (s *Snapshot) Version() int64 { return s.version }

// AsOf is when this snapshot was made (service clock).
func (s *Snapshot) AsOf() time.Time { return s.asOf }

// Len is the number of outlets.
func (s *Snapshot) Len() int { return s.n }

// At returns the i-th outlet in code order.
func (s *Snapshot) At(i int) *Entry { return s.chunk(i >> chunkBits)[i&(chunkSize-1)] }

// chunk is the c-th chunk.
func (s *Snapshot) chunk(c int) *chunk { return s.dir[c>>groupBits][c&(groupSize-1)] }

// nChunks is the number of chunks.
func (s *Snapshot) nChunks() int { return (s.n + chunkSize - 1) >> chunkBits }

// set puts e at position i of s, a copy of old being changed: the first
// change to a chunk copies it, its group and the directory from old.
func (s *Snapshot) set(old *Snapshot, i int, e *Entry) {
	if len(s.dir) > 0 && &s.dir[0] == &old.dir[0] {
		s.dir = slices.Clone(old.dir)
	}
	c := i >> chunkBits
	g, k := c>>groupBits, c&(groupSize-1)
	if s.dir[g] == old.dir[g] {
		cp := *old.dir[g]
		s.dir[g] = &cp
	}
	if s.dir[g][k] == old.dir[g][k] {
		cp := *old.dir[g][k]
		s.dir[g][k] = &cp
	}
	s.dir[g][k][i&(chunkSize-1)] = e
}

// Lookup finds an outlet by code.
func (s *Snapshot) Lookup(code string) (*Entry, bool) {
	i, ok := s.reg.codes.find(code, s.At)
	if !ok {
		return nil, false
	}
	return s.At(int(i)), true
}

// Near appends to buf the outlets within m metres (capped at MaxRadius) of
// (lat, lng), nearest first, with exact great-circle distances.
func (s *Snapshot) Near(lat, lng, m float64, buf []Hit) []Hit {
	return s.reg.geo.near(lat, lng, min(m, MaxRadius), buf)
}

// ByAddress returns the outlets (code order) of the place a typed address
// names (DESIGN.md §4.1, §6.10). An address that names several places is an
// *AmbiguousError listing them; one that names none (a 시도 alone, or
// nothing recognisable) is a bad_request error.
func (s *Snapshot) ByAddress(address string) ([]*Entry, error) {
	pos, err := s.reg.places.resolve(address, s.At)
	if err != nil {
		return nil, err
	}
	entries := make([]*Entry, len(pos))
	for j, p := range pos {
		entries[j] = s.At(int(p))
	}
	return entries, nil
}

// Places appends to out up to limit places (시도, 시군구, 읍/면/동, road)
// whose names start with q, best first (/api/v2/places).
func (s *Snapshot) Places(q string, limit int, out []Place) []Place {
	return s.reg.places.search(q, limit, out)
}

// StatCounts is the number of outlets in each band.
type StatCounts struct {
	Plenty    int `json:"plenty"`
	Some      int `json:"some"`
	Few       int `json:"few"`
	Empty     int `json:"empty"`
	Break     int `json:"break"`
	Unstocked int `json:"unstocked"`
	Total     int `json:"total"`
}

func countsOf(row [nStats]int32) StatCounts {
	c := StatCounts{int(row[0]), int(row[1]), int(row[2]), int(row[3]), int(row[4]), int(row[5]), 0}
	c.Total = c.Plenty + c.Some + c.Few + c.Empty + c.Break + c.Unstocked
	return c
}

// Summary returns the national counts and the counts per 시도 (official
// names; outlets whose 시도 is unknown count only nationally).
func (s *Snapshot) Summary() (national StatCounts, bySido map[string]StatCounts) {
	var tot [nStats]int32
	bySido = make(map[string]StatCounts, len(sidoNames))
	for i, row := range s.summary {
		for j := range row {
			tot[j] += row[j]
		}
		if i < len(sidoNames) {
			bySido[sidoNames[i]] = countsOf(row)
		}
	}
	return countsOf(tot), bySido
}

// Cached returns the value cached under key for this snapshot version,
// building it once. Callers use it for pre-encoded responses that depend on
// stock (sales pages, summary). Values above the byte budget are built but
// not kept, so odd query combinations cannot exhaust memory.
func (s *Snapshot) Cached(key string, build func() []byte) []byte {
	return s.memo.get(key, build)
}

// RegistryCached is Cached for values that depend only on registry fields
// (the stores pages): they survive stock changes.
func (s *Snapshot) RegistryCached(key string, build func() []byte) []byte {
	return s.reg.memo.get(key, build)
}

// memo is a small build-once cache with a byte budget.
type memo struct {
	mu    sync.Mutex
	m     map[string]*memoEntry
	bytes int
}

type memoEntry struct {
	once sync.Once
	val  []byte
}

// memoBudget bounds one cache: all pages at any one perPage are ~6 MB
// (gzip variants ~1 MB), so a few page sizes fit.
const memoBudget = 24 << 20

func (c *memo) get(key string, build func() []byte) []byte {
	c.mu.Lock()
	if c.m == nil {
		c.m = make(map[string]*memoEntry)
	}
	me, ok := c.m[key]
	if !ok {
		if c.bytes >= memoBudget {
			// Start over rather than stop caching: a client cycling odd
			// page sizes must not leave the common pages uncached for the
			// rest of the snapshot's life.
			clear(c.m)
			c.bytes = 0
		}
		me = &memoEntry{}
		c.m[key] = me
	}
	c.mu.Unlock()
	me.once.Do(func() {
		me.val = build()
		c.mu.Lock()
		c.bytes += len(me.val)
		c.mu.Unlock()
	})
	return me.val
}

// build makes a snapshot from a full list of outlets.
func build(outlets []publicmask.Outlet, version int64, asOf time.Time) *Snapshot {
	entries := make([]*Entry, 0, len(outlets))
	seen := make(map[string]int, len(outlets))
	for _, o := range outlets {
		if j, dup := seen[o.Code]; dup { // keep the newest; a list should not repeat codes
			if o.Version >= entries[j].Version {
				entries[j] = newEntry(o, ParseAddress(o.Addr))
			}
			continue
		}
		seen[o.Code] = len(entries)
		entries = append(entries, newEntry(o, ParseAddress(o.Addr)))
	}
	slices.SortFunc(entries, func(a, b *Entry) int { return strings.Compare(a.Code(), b.Code()) })
	rehome(entries) // in code order within a cell, as the grid holds them
	return fromEntries(entries, version, asOf)
}

// fromEntries builds all indexes over entries (in any order).
func fromEntries(entries []*Entry, version int64, asOf time.Time) *Snapshot {
	byCode := func(a, b *Entry) int { return strings.Compare(a.Code(), b.Code()) }
	if !slices.IsSortedFunc(entries, byCode) {
		slices.SortFunc(entries, byCode)
	}
	hasGu, unplaced := inferPlaces(entries)
	s := &Snapshot{version: version, asOf: asOf, n: len(entries), summary: new(summary), sales: &salesDay{since: asOf}}
	s.layout(entries)
	s.selling = make([]bool, s.nChunks())
	for i, e := range entries {
		if e.hasSellout() {
			s.selling[i>>chunkBits] = true
		}
	}
	for _, e := range entries {
		s.summary[e.sido][e.stat]++
		if e.Version > s.version {
			s.version = e.Version
		}
	}
	// The place index, about half of a rebuild, is built beside the
	// others: a registry import that cannot be merged rebuilds them all
	// after each body, and the request waits for it (Refresher.Bulk).
	places := make(chan *placeIndex, 1)
	go func() { places <- buildPlaces(s.At, s.n) }()
	s.reg = &registry{codes: newCodeIndex(s.At, s.n), hasGu: hasGu, unplaced: unplaced}
	s.reg.sgg, s.reg.sggSum, s.reg.sggOf = buildSigungu(s.At, s.n)
	s.sgg = make([][nStats]int32, len(s.reg.sgg))
	for i, k := range s.reg.sggOf {
		if k >= 0 {
			s.sgg[k][s.At(i).stat]++
		}
	}
	s.reg.geo = buildGrid(s.At, s.n)
	s.reg.places = <-places
	return s.finish()
}

// layout puts entries (in code order) into s's chunks.
func (s *Snapshot) layout(entries []*Entry) {
	s.dir = nil
	for i := 0; i < len(entries); i += chunkSize {
		c := i >> chunkBits
		if c&(groupSize-1) == 0 {
			s.dir = append(s.dir, new(group))
		}
		ch := new(chunk)
		copy(ch[:], entries[i:])
		s.dir[c>>groupBits][c&(groupSize-1)] = ch
	}
}

// apply returns a new snapshot with the changes applied (copy-on-write), and
// the entries that changed. Changes not newer than what the snapshot holds
// are ignored, so notifications and polling may overlap freely. It returns s
// itself if nothing changed.
func (s *Snapshot) apply(changes []publicmask.Outlet, asOf time.Time) (*Snapshot, []*Entry) {
	return s.applyUnique(dedupe(changes), asOf)
}

// applyUnique is apply for changes with one change per code (a
// refresher's batch, taken from a map by code: an import body's 100,000
// outlets were put in a map again to find none twice).
func (s *Snapshot) applyUnique(changes []publicmask.Outlet, asOf time.Time) (*Snapshot, []*Entry) {
	ns, applied, _ := s.applyMoves(changes, asOf)
	return ns, applied
}

// Move is an applied entry whose coordinates changed, with where it was:
// a stream around its old place must learn that it left.
type Move struct {
	E        *Entry
	Lat, Lng float64 // the position before the change
}

// applyMoves is applyUnique that also returns the moves among the changes.
func (s *Snapshot) applyMoves(changes []publicmask.Outlet, asOf time.Time) (*Snapshot, []*Entry, []Move) {
	c := s.collect(changes)
	if len(c.applied) == 0 {
		return s, nil, nil
	}
	if c.newCodes && !c.reindex && mergeImports {
		if ns := s.merge(c, asOf); ns != nil {
			return ns, c.applied, c.moves
		}
	}
	if c.newCodes || c.reindex {
		ns, applied := s.rebuild(c, asOf)
		return ns, applied, c.moves
	}
	return s.patch(c, asOf), c.applied, c.moves
}

// mergeImports makes apply merge new outlets into the indexes where it can
// (merge.go); tests turn it off to compare with a rebuild.
var mergeImports = true

// changeSet is a batch of changes read against a snapshot: the new entries,
// the position each replaces (-1: a new outlet), and what they touch.
type changeSet struct {
	applied   []*Entry
	pos       []int32
	newCodes  bool
	reindex   bool // addr or coordinates changed
	regChange bool // name or type changed
	moves     []Move
	version   int64
	sales     *salesDay
}

func (s *Snapshot) collect(changes []publicmask.Outlet) *changeSet {
	c := &changeSet{version: s.version, sales: s.sales}
	var made []*Entry // a large batch's new entries, made beforehand (nil: a known code)
	var found []int32 // and where the others are (-1: new)
	if len(changes) >= parallelCollect {
		found, made = s.makeNew(changes)
	}
	for j, o := range changes {
		var i int32
		var ok bool
		if found != nil {
			i, ok = found[j], found[j] >= 0
		} else {
			i, ok = s.reg.codes.find(o.Code, s.At)
		}
		if !ok {
			c.newCodes = true
			var e *Entry
			if made != nil {
				e = made[j]
			} else {
				e = newEntry(o, ParseAddress(o.Addr))
			}
			c.applied = append(c.applied, e)
			c.pos = append(c.pos, -1)
			c.version = max(c.version, o.Version)
			if o.Sold != 0 {
				// An outlet registered after this node's first snapshot,
				// first seen here with sales (a node that follows the feed
				// and polled after them; one told of every commit saw it
				// at 0): they were sold since this node started counting.
				if c.sales == s.sales {
					c.sales = s.sales.clone()
				}
				c.sales.add(o.UpdatedAt, o.Sold)
			}
			continue
		}
		old := s.At(int(i))
		if o.Version <= old.Version {
			continue
		}
		place := old.Place()
		if o.Addr != old.Addr() {
			place = ParseAddress(o.Addr)
			c.reindex = true
		}
		moved := o.Lat != old.Lat || o.Lng != old.Lng
		if moved {
			c.reindex = true
		}
		if o.Name != old.Name() || o.Type != old.Type() {
			c.regChange = true
		}
		delta := o.Sold - old.Sold
		if delta != 0 {
			// A cancel (delta < 0) unsells its masks, as the rate counts
			// it (rate.next): a node that follows the feed may see a sale
			// and its cancel in one change, as nothing, and one that is
			// told of every commit must count the same.
			if c.sales == s.sales {
				c.sales = s.sales.clone()
			}
			c.sales.add(o.UpdatedAt, delta)
		}
		ne := nextEntry(o, place, old, old.rate.next(o.UpdatedAt, delta, old.UpdatedAt()))
		c.applied = append(c.applied, ne)
		if moved {
			c.moves = append(c.moves, Move{ne, old.Lat, old.Lng})
		}
		c.pos = append(c.pos, i)
		c.version = max(c.version, o.Version)
	}
	return c
}

// parallelCollect is the batch size from which collect looks the codes up
// and makes the new outlets' entries on two goroutines (an import body's
// 100,000 outlets: ParseAddress and newEntry were ~170 ms of the merge's
// serial tail, which the request waits for). A variable for tests.
var parallelCollect = 4096

// makeNew looks the codes of changes up and makes the entries of the
// new ones (ParseAddress, newEntry: pure, the snapshot only read), the two
// halves of changes on two goroutines. found[j] is the position of
// changes[j]'s code, -1 if new; made[j] its entry if new.
func (s *Snapshot) makeNew(changes []publicmask.Outlet) (found []int32, made []*Entry) {
	found, made = make([]int32, len(changes)), make([]*Entry, len(changes))
	part := func(lo, hi int) {
		for j := lo; j < hi; j++ {
			o := &changes[j]
			i, ok := s.reg.codes.find(o.Code, s.At)
			if ok {
				found[j] = i
				continue
			}
			found[j] = -1
			made[j] = newEntry(*o, ParseAddress(o.Addr))
		}
	}
	half := len(changes) / 2
	var wg sync.WaitGroup
	wg.Go(func() { part(0, half) })
	part(half, len(changes))
	wg.Wait()
	return found, made
}

// rebuild is apply for a batch with new or moved outlets (rare: a registry
// import): all indexes are built again. The entries stay in code order: the
// new ones are sorted apart and merged in.
func (s *Snapshot) rebuild(c *changeSet, asOf time.Time) (*Snapshot, []*Entry) {
	cur := make([]*Entry, 0, s.n)
	for i := 0; i < s.n; i++ {
		cur = append(cur, s.At(i))
	}
	var added []*Entry
	for j, e := range c.applied {
		if c.pos[j] >= 0 {
			cur[c.pos[j]] = e
		} else {
			added = append(added, e)
		}
	}
	slices.SortFunc(added, func(a, b *Entry) int { return strings.Compare(a.Code(), b.Code()) })
	rehome(added)
	all := make([]*Entry, 0, len(cur)+len(added))
	for len(cur) > 0 && len(added) > 0 {
		if cur[0].Code() < added[0].Code() {
			all, cur = append(all, cur[0]), cur[1:]
		} else {
			all, added = append(all, added[0]), added[1:]
		}
	}
	all = append(append(all, cur...), added...)
	ns := fromEntries(all, c.version, asOf)
	ns.sales = c.sales
	// fromEntries may have replaced entries (inferred 시도): report the
	// ones the snapshot holds.
	for j, e := range c.applied {
		if ne, ok := ns.Lookup(e.Code()); ok {
			c.applied[j] = ne
		}
	}
	return ns, c.applied
}

// patch is apply for stock and name changes: it copies the chunks the
// changes fall in, their groups, the directory and the counts, and shares
// the rest.
func (s *Snapshot) patch(c *changeSet, asOf time.Time) *Snapshot {
	ns := &Snapshot{version: c.version, asOf: asOf, n: s.n, dir: s.dir, reg: s.reg, sales: c.sales}
	sum := *s.summary
	ns.summary = &sum
	ns.sgg = slices.Clone(s.sgg)
	ns.selling = s.selling
	for j, e := range c.applied {
		i := int(c.pos[j])
		ch := i >> chunkBits
		old := s.At(i)
		ns.summary[old.sido][old.stat]--
		ns.summary[e.sido][e.stat]++
		if k := s.reg.sggOf[i]; k >= 0 {
			ns.sgg[k][old.stat]--
			ns.sgg[k][e.stat]++
		}
		ns.set(s, i, e)
		if !ns.selling[ch] && e.hasSellout() {
			if &ns.selling[0] == &s.selling[0] {
				ns.selling = slices.Clone(s.selling)
			}
			ns.selling[ch] = true
		}
	}
	if c.regChange {
		ns.reg = s.reg.withoutMemo()
	}
	return ns.finish()
}

// dedupe keeps the newest change per code, in the original order.
func dedupe(changes []publicmask.Outlet) []publicmask.Outlet {
	if len(changes) < 2 {
		return changes
	}
	last := make(map[string]int, len(changes))
	dup := false
	for j, o := range changes {
		if k, ok := last[o.Code]; ok {
			dup = true
			if changes[k].Version > o.Version {
				continue
			}
		}
		last[o.Code] = j
	}
	if !dup {
		return changes
	}
	out := make([]publicmask.Outlet, 0, len(last))
	for j, o := range changes {
		if last[o.Code] == j {
			out = append(out, o)
		}
	}
	return out
}
