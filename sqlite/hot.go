package sqlite

import (
	"database/sql"
	"fmt"
	"hash/maphash"
	"sync"
	"time"

	"github.com/publicmask/publicmask"
)

// hot is the single writer's in-memory knowledge of the rows every sale
// decides on. SQLite has one writer and this process owns the file, so
// what the writer holds can be the source of decisions.
//
// Outlets: a copy of each outlet's row, loaded on first use or held
// from its insert on (an import's new outlets: see apply). A
// transaction's writes go to the database and to a staging area of the
// transaction; they reach the copy only after the commit succeeded. A
// transaction that fails leaves the copy as it was (the rollback restores
// the same rows in the database); a failed commit or rollback, where the
// database's state is in doubt, drops everything held, which is then
// loaded again.
//
// Person-weeks: for each week being sold in, a Bloom filter of the persons
// that have a row (a week more than a week before one held, touched only
// by cancels of old sales, is read directly). Most sales are a person's
// first purchase of the week: the filter says so without a read. A person
// it may know is read from the database in the transaction, the source of
// truth. A key is added when a transaction writes it, before the commit: a
// filter can only err towards "maybe" (an extra read), never miss a row,
// so rolled-back writes and purged rows cost nothing but a read. A week of
// a million person-weeks takes a 4 MB filter, where a copy of the rows
// would take about 40 MB, which §5's memory target cannot afford.
//
// A filter is built from the whole week in the background, on a reader
// connection (build), never by the writer: a million rows take seconds,
// and every sale would wait for them. Until it is ready every person of
// the week is a "maybe" (read), and the keys that transactions write
// meanwhile are kept beside it and added to it when the scan ends: the
// build is registered before its snapshot starts, so a row is either in
// the snapshot or written after the registration. A filter over capacity
// goes on answering (it only says "maybe" more often) while its
// replacement is built the same way. Open starts the latest week's build.
//
// Outlets are loaded on the writer's own connection, inside its transaction.
type hot struct {
	mu      sync.RWMutex // the writer also holds Store.writeMu; readers (checks) take RLock
	outlets *hotOutlets  // hotoutlet.go
	weeks   map[string]*weekFilter
	// idem is the filter of the txn_ids with a record (idemfilter.go);
	// nil until the first look-up.
	idem *weekFilter
	// codes is the filter of the outlet codes that may have a row
	// (outletcodes.go); nil: every code may, and is read.
	codes *weekFilter
	// start and startIdem run a build in the background (Store.startBuild,
	// Store.startIdemBuild).
	start     func(week string, f *weekFilter)
	startIdem func(f *weekFilter)
	// fills are the fills of inserted rows still running (settle).
	fills sync.WaitGroup
	// filling maps each row a fill has yet to hold to the version it
	// would hold: a commit that writes a row not held removes its entry,
	// so that no fill, whatever the order the fills run in, holds a
	// version older than the database's (apply, fill). nil when empty.
	filling map[string]int64
	// fillGate, if set (tests), is called before a fill starts.
	fillGate func()
}

// maxHotWeeks bounds the weeks held in memory: the current week, the one
// before (late sales), and one more. A week beyond is loaded again if a
// rare late sale or cancel touches it.
const maxHotWeeks = 3

func newHot() *hot {
	return &hot{outlets: newHotOutlets(), weeks: make(map[string]*weekFilter)}
}

// weekFilter is a Bloom filter of the persons with a row in one week.
type weekFilter struct {
	bits  []uint64 // nil until the first build is done: every person is a "maybe"
	mask  uint64   // len(bits)*64 − 1
	n     int      // keys added
	stale bool     // over capacity: rebuild, larger, at the next use
	// building holds, while a build of this week runs, the keys written
	// since it was registered (hash pairs), for the filter it will make.
	building *[][2]uint64
}

const (
	filterHashes      = 8
	filterBitsPerKey  = 16 // when built: 0.05% false "maybe"
	filterMaxBitsUsed = 8  // rebuilt beyond n = bits/8 (2.5% false "maybe")
)

// filterMinBits is a filter's smallest size, 1 MiB (a variable for tests).
var filterMinBits uint64 = 1 << 23

var filterSeed1, filterSeed2 = maphash.MakeSeed(), maphash.MakeSeed()

func newWeekFilter(n int) *weekFilter {
	want := max(uint64(2*n)*filterBitsPerKey, filterMinBits)
	m := filterMinBits
	for m < want {
		m <<= 1
	}
	return &weekFilter{bits: make([]uint64, m/64), mask: m - 1}
}

func filterHash[T string | []byte](k T) (uint64, uint64) {
	var h1, h2 uint64
	switch k := any(k).(type) {
	case string:
		h1, h2 = maphash.String(filterSeed1, k), maphash.String(filterSeed2, k)
	case []byte:
		h1, h2 = maphash.Bytes(filterSeed1, k), maphash.Bytes(filterSeed2, k)
	}
	return h1, h2 | 1
}

func (f *weekFilter) addHash(h1, h2 uint64) {
	if f.building != nil {
		*f.building = append(*f.building, [2]uint64{h1, h2})
	}
	if f.bits == nil {
		return
	}
	for i := range uint64(filterHashes) {
		b := (h1 + i*h2) & f.mask
		f.bits[b/64] |= 1 << (b % 64)
	}
	f.n++
	if uint64(f.n)*filterMaxBitsUsed > f.mask+1 {
		f.stale = true
	}
}

func (f *weekFilter) add(person string) { f.addHash(filterHash(person)) }

// mayHave is false only if person has no row in the week.
func (f *weekFilter) mayHave(person string) bool {
	if f.bits == nil {
		return true
	}
	return f.mayHaveHash(filterHash(person))
}

// mayHaveHash is mayHave for a key's hashes.
func (f *weekFilter) mayHaveHash(h1, h2 uint64) bool {
	if f.bits == nil {
		return true
	}
	for i := range uint64(filterHashes) {
		b := (h1 + i*h2) & f.mask
		if f.bits[b/64]&(1<<(b%64)) == 0 {
			return false
		}
	}
	return true
}

// drop forgets everything; the next use loads from the database again.
func (h *hot) drop() {
	h.mu.Lock()
	h.filling = nil // no fill made before the drop holds anything
	h.outlets = newHotOutlets()
	h.weeks = make(map[string]*weekFilter)
	h.idem = nil
	h.codes = nil
	h.mu.Unlock()
}

// dropWeeksBefore forgets the person-weeks of weeks before week (purged).
func (h *hot) dropWeeksBefore(week string) {
	h.mu.Lock()
	for w := range h.weeks {
		if w < week {
			delete(h.weeks, w)
		}
	}
	h.mu.Unlock()
}

// outlet returns the held copy of an outlet.
func (h *hot) outlet(code string) (publicmask.Outlet, bool) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if p, ok := h.outlets.get(code); ok {
		return p.outlet(), true
	}
	return publicmask.Outlet{}, false
}

// current reports whether week is worth a filter: no held week is more
// than a week after it. A cancel of an old sale reads its persons directly
// instead of scanning a past week and evicting one being sold in.
func (h *hot) current(week string) bool {
	w, err := time.Parse(time.DateOnly, week)
	if err != nil {
		return false
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	for k := range h.weeks {
		if held, err := time.Parse(time.DateOnly, k); err == nil && held.Sub(w) > 7*24*time.Hour {
			return false
		}
	}
	return true
}

// week returns a held week's filter, or nil.
func (h *hot) week(week string) *weekFilter {
	h.mu.RLock()
	w := h.weeks[week]
	h.mu.RUnlock()
	return w
}

// loadOutlet reads an outlet into the copy, through the writer's
// transaction: every write to an outlet is staged (SaveOutlet), so an
// outlet that is not staged reads as committed. Reading on the writer's own
// connection, not the reader pool, the writer never waits for a reader.
func (t *tx) loadOutlet(code string) (publicmask.Outlet, error) {
	s := t.s
	if !s.hot.mayHaveCode(code) {
		return publicmask.Outlet{}, publicmask.Errorf(publicmask.ENotFound, "outlet %q not found", code)
	}
	s.outletReads++
	o, err := scanOutlet(t.rowStmt(sqlLockOutlet, code))
	if isNoRows(err) {
		return o, publicmask.Errorf(publicmask.ENotFound, "outlet %q not found", code)
	}
	if err != nil {
		return o, fmt.Errorf("sqlite: outlet: %w", err)
	}
	s.hot.mu.Lock()
	s.hot.hold(&o)
	s.hot.mu.Unlock()
	return o, nil
}

// registerWeek holds a filter for a week not held, or to replace a full
// one, and starts its build. The writer calls it holding writeMu, so no
// other transaction is running: a key committed before this point is in
// the build's snapshot (which starts later), a key written after is added
// to the filter and so kept for the build; written are the keys the
// calling transaction wrote already.
func (h *hot) registerWeek(week string, written []pwKey) *weekFilter {
	h.mu.Lock()
	f := h.weeks[week]
	if f == nil {
		if len(h.weeks) >= maxHotWeeks {
			oldest := ""
			for k := range h.weeks {
				if oldest == "" || k < oldest {
					oldest = k
				}
			}
			delete(h.weeks, oldest)
		}
		f = &weekFilter{}
		h.weeks[week] = f
	}
	pending := make([][2]uint64, 0, len(written))
	for _, k := range written {
		if k.week == week {
			h1, h2 := filterHash(k.person)
			pending = append(pending, [2]uint64{h1, h2})
		}
	}
	f.building = &pending
	h.mu.Unlock()
	if h.start != nil {
		h.start(week, f)
	}
	return f
}

// buildHook, when set (tests), runs in a build after its snapshot started
// and before its scan.
var buildHook func(week string)

// startBuild scans a week on a reader connection, in the background, and
// installs the filter it makes in place of f, with the keys written
// meanwhile, unless f was dropped or replaced since (a failed commit, a
// purge, an eviction). A failed build drops f: the next use starts again.
func (s *Store) startBuild(week string, f *weekFilter) {
	s.runBuild(f, func() (*weekFilter, error) { return s.scanWeek(week) },
		func() *weekFilter { return s.hot.weeks[week] },
		func(nf *weekFilter) {
			if nf == nil {
				delete(s.hot.weeks, week)
			} else {
				s.hot.weeks[week] = nf
			}
		})
}

// runBuild runs scan in the background and, under hot.mu, installs what it
// made (set) with the keys written meanwhile, if the filter held (held) is
// still f; set(nil) if the scan failed.
func (s *Store) runBuild(f *weekFilter, scan func() (*weekFilter, error), held func() *weekFilter, set func(*weekFilter)) {
	s.builds.Add(1)
	go func() {
		defer s.builds.Done()
		nf, err := scan()
		s.hot.mu.Lock()
		defer s.hot.mu.Unlock()
		if held() != f || f.building == nil {
			return
		}
		if err != nil {
			set(nil)
			return
		}
		for _, h := range *f.building {
			nf.addHash(h[0], h[1])
		}
		set(nf)
	}()
}

// scanWeek makes the filter of a week's rows in one read transaction.
func (s *Store) scanWeek(week string) (*weekFilter, error) {
	tx, err := s.reader.BeginTx(s.buildCtx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("sqlite: person weeks: %w", err)
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(s.buildCtx, `SELECT count(*) FROM person_weeks WHERE week = ?`, week).Scan(&n); err != nil {
		return nil, fmt.Errorf("sqlite: person weeks: %w", err)
	}
	if buildHook != nil {
		buildHook(week)
	}
	f := newWeekFilter(n)
	rows, err := tx.QueryContext(s.buildCtx, `SELECT person FROM person_weeks WHERE week = ?`, week)
	if err != nil {
		return nil, fmt.Errorf("sqlite: person weeks: %w", err)
	}
	defer rows.Close()
	var person sql.RawBytes // no string per row
	for rows.Next() {
		if err := rows.Scan(&person); err != nil {
			return nil, fmt.Errorf("sqlite: person weeks: %w", err)
		}
		f.addHash(filterHash([]byte(person)))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: person weeks: %w", err)
	}
	f.stale = false
	return f, nil
}

// staged are a transaction's writes to outlets, applied to the copy once
// the transaction has committed, and the person-week keys it wrote.
type staged struct {
	outlets map[string]publicmask.Outlet
	written []pwKey
	records []publicmask.IdemKey // the txn_ids it recorded
	// load are outlets staged as read from the store (AddStock's rows):
	// they join the copy even if it did not hold them.
	load []string
	// inserted are the rows SaveOutlets inserted: they join the copy in
	// the background (apply).
	inserted []string
	// unknown counts the inserted rows whose codes the filter did not know
	// (outletcodes.go): no row of theirs was ever written, so the copy
	// neither holds them nor fills them.
	unknown int
}

type pwKey struct{ person, week string }

// emptiedStaged returns st emptied for the next transaction, or nothing
// to keep: not when a fill still reads its outlets (apply), nor a large
// one (as emptiedIdem). None of its slices outlives the transaction
// (registerWeek and registerIdem copy what they need).
func emptiedStaged(st staged) staged {
	if len(st.inserted) > 0 || max(len(st.outlets), len(st.written), len(st.records), len(st.load)) > keepIdem {
		return staged{}
	}
	clear(st.outlets)
	clear(st.written) // no strings kept alive past their transaction
	clear(st.records)
	clear(st.load)
	return staged{outlets: st.outlets, written: st.written[:0], records: st.records[:0], load: st.load[:0]}
}

// apply puts a committed transaction's outlets into the copy: those held
// already, those the transaction read from the store as it wrote them
// (staged.load), and those it inserted (staged.inserted, below). An import's new outlets join it: their
// opening deliveries then write the stock without reading each row back
// (AddStock), and after those deliveries the copy holds every outlet
// anyway (BENCHMARKS.md "Scale (5th pass)": ~160 bytes an outlet).
//
// The inserted rows join it in the background, off the writer's path
// (~1 µs a row: 0.1 s an import body of 100,000), and not at all after a
// drop (which empties h.filling). Until
// then the writer finds the code missing from the copy and reads the row
// from the database, the source of truth, which holds it (loadOutlet,
// LockOutlets), as it does any row not held. A fill holds a row only while
// h.filling still names the version it has: any commit that writes a row
// not held takes its entry out (or, inserting it again, names its own
// version), so a row held late is never older than the database's, even
// if a transaction writes a row without reading it first, or two fills of
// one code run out of order.
func (h *hot) apply(st *staged) {
	h.mu.Lock()
	defer h.mu.Unlock()
	// A transaction that only inserted rows of codes the filter did not
	// know (an import body's chunk of new outlets) has none of them held
	// or filling: the look-ups below would all miss (one probe sequence of
	// the table each, ~0.35 s of the writer's CPU an import of 540,000),
	// and the deletes would be undone by the inserted rows' entries.
	if st.unknown < len(st.outlets) {
		for code, o := range st.outlets {
			if p, ok := h.outlets.get(code); ok {
				h.holdAt(p, &o)
			} else if h.filling != nil {
				delete(h.filling, code) // a fill pending holds an older version
			}
		}
	}
	for _, code := range st.load {
		if p := h.outlets.find(code); p == nil || p.flags&hotAbsent != 0 {
			o := st.outlets[code]
			h.holdAt(p, &o)
		}
	}
	if len(st.inserted) > 0 {
		if h.filling == nil {
			h.filling = make(map[string]int64, len(st.inserted))
		}
		for _, code := range st.inserted {
			h.filling[code] = st.outlets[code].Version
		}
		h.fills.Add(1)
		go h.fill(st.inserted, st.outlets, h.fillGate)
	}
}

// fill adds the rows inserted (their state as committed in outlets) that
// h.filling still names at that version; a few hundred at a time under
// h.mu, so that the writer waits little for it.
func (h *hot) fill(inserted []string, outlets map[string]publicmask.Outlet, gate func()) {
	defer h.fills.Done()
	if gate != nil {
		gate()
	}
	const step = 256
	for lo := 0; lo < len(inserted); lo += step {
		h.mu.Lock()
		if h.filling == nil { // all held, or the copy was dropped
			h.mu.Unlock()
			return
		}
		for _, code := range inserted[lo:min(lo+step, len(inserted))] {
			o := outlets[code]
			if v, ok := h.filling[code]; !ok || v != o.Version {
				continue // written since (the database holds a newer version), or dropped
			}
			delete(h.filling, code)
			if p := h.outlets.find(code); p == nil || p.flags&hotAbsent != 0 {
				h.holdAt(p, &o)
			}
		}
		if len(h.filling) == 0 {
			h.filling = nil
		}
		h.mu.Unlock()
	}
}

// settle waits for the fills running.
func (h *hot) settle() { h.fills.Wait() }
