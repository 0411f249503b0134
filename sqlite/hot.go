package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"sync"

	"github.com/publicmask/publicmask"
)

// hot is the single writer's in-memory copy of the rows every sale decides
// on: outlets (loaded one by one on first use) and the person-weeks of the
// weeks being sold in (a whole week on first use, so that a first purchase
// needs no read to learn that the person has none). SQLite has one writer
// and this process owns the file, so the copy can be the source of
// decisions: it only ever holds committed rows. A transaction's writes go
// to the database and to a staging area of the transaction; they reach the
// copy only after the commit succeeded. A transaction that fails leaves the
// copy as it was (the rollback restores the same rows in the database); a
// failed commit or rollback, where the database's state is in doubt, drops
// the whole copy, which is then loaded again from the database.
//
// Loads go through the reader pool, which sees only committed rows: never
// the running transaction's own writes, so a load cannot smuggle them into
// the copy before the commit.
type hot struct {
	mu      sync.RWMutex // the writer also holds Store.writeMu; readers (checks) take RLock
	outlets map[string]publicmask.Outlet
	weeks   map[string]*weekRows
}

// maxHotWeeks bounds the weeks held in memory: the current week, the one
// before (late sales), and one more. A week beyond is loaded again if a
// rare late sale or cancel touches it.
const maxHotWeeks = 3

// weekRows are one week's person-weeks. Person keys are 32 hex digits
// (rrn.Keyer), held as 16 bytes; any other key (tests) goes to other.
type weekRows struct {
	rows  map[[16]byte]pwCounts
	other map[string]pwCounts
}

type pwCounts struct {
	quantity, purchases, weekday, weekend int32
}

func newHot() *hot {
	return &hot{outlets: make(map[string]publicmask.Outlet), weeks: make(map[string]*weekRows)}
}

func packKey[T string | []byte](person T) ([16]byte, bool) {
	var k [16]byte
	if len(person) != 32 {
		return k, false
	}
	// Only lower-case hex round-trips to the same string; anything else is
	// kept as it is.
	for i := 0; i < len(person); i += 2 {
		hi, ok1 := unhex(person[i])
		lo, ok2 := unhex(person[i+1])
		if !ok1 || !ok2 {
			return k, false
		}
		k[i/2] = hi<<4 | lo
	}
	return k, true
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

func (w *weekRows) get(person string) (pwCounts, bool) {
	if k, ok := packKey(person); ok {
		c, ok := w.rows[k]
		return c, ok
	}
	c, ok := w.other[person]
	return c, ok
}

func (w *weekRows) set(pw publicmask.PersonWeek) error {
	c, err := countsOf(pw)
	if err != nil {
		return err
	}
	if k, ok := packKey(pw.Person); ok {
		w.rows[k] = c
	} else {
		w.other[pw.Person] = c
	}
	return nil
}

func countsOf(pw publicmask.PersonWeek) (pwCounts, error) {
	c := pwCounts{int32(pw.Quantity), int32(pw.Purchases), int32(pw.WeekdayPurchases), int32(pw.WeekendPurchases)}
	if int(c.quantity) != pw.Quantity || int(c.purchases) != pw.Purchases || int(c.weekday) != pw.WeekdayPurchases || int(c.weekend) != pw.WeekendPurchases {
		return c, fmt.Errorf("sqlite: person-week counts out of range: %+v", pw)
	}
	return c, nil
}

func (c pwCounts) personWeek(person, week string) publicmask.PersonWeek {
	return publicmask.PersonWeek{Person: person, Week: week, Quantity: int(c.quantity), Purchases: int(c.purchases),
		WeekdayPurchases: int(c.weekday), WeekendPurchases: int(c.weekend)}
}

// drop forgets everything; the next use loads from the database again.
func (h *hot) drop() {
	h.mu.Lock()
	h.outlets = make(map[string]publicmask.Outlet)
	h.weeks = make(map[string]*weekRows)
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
	o, ok := h.outlets[code]
	h.mu.RUnlock()
	return o, ok
}

// week returns a held week, or nil.
func (h *hot) week(week string) *weekRows {
	h.mu.RLock()
	w := h.weeks[week]
	h.mu.RUnlock()
	return w
}

// loadOutlet reads a committed outlet into the copy. Writer only.
func (s *Store) loadOutlet(code string) (publicmask.Outlet, error) {
	o, err := scanOutlet(s.reader.QueryRowContext(context.Background(), `SELECT `+outletCols+` FROM outlets WHERE code = ?`, code))
	if isNoRows(err) {
		return o, publicmask.Errorf(publicmask.ENotFound, "outlet %q not found", code)
	}
	if err != nil {
		return o, fmt.Errorf("sqlite: outlet: %w", err)
	}
	s.hot.mu.Lock()
	s.hot.outlets[code] = o
	s.hot.mu.Unlock()
	return o, nil
}

// loadWeek reads a whole committed week into the copy. Writer only.
func (s *Store) loadWeek(week string) (*weekRows, error) {
	ctx := context.Background()
	var n int
	if err := s.reader.QueryRowContext(ctx, `SELECT count(*) FROM person_weeks WHERE week = ?`, week).Scan(&n); err != nil {
		return nil, fmt.Errorf("sqlite: person weeks: %w", err)
	}
	w := &weekRows{rows: make(map[[16]byte]pwCounts, n), other: make(map[string]pwCounts)}
	rows, err := s.reader.QueryContext(ctx, `SELECT person, quantity, purchases, weekday_purchases, weekend_purchases FROM person_weeks WHERE week = ?`, week)
	if err != nil {
		return nil, fmt.Errorf("sqlite: person weeks: %w", err)
	}
	defer rows.Close()
	var pw publicmask.PersonWeek
	var person sql.RawBytes // no string per row for the usual hex keys
	for rows.Next() {
		if err := rows.Scan(&person, &pw.Quantity, &pw.Purchases, &pw.WeekdayPurchases, &pw.WeekendPurchases); err != nil {
			return nil, fmt.Errorf("sqlite: person weeks: %w", err)
		}
		c, err := countsOf(pw)
		if err != nil {
			return nil, err
		}
		if k, ok := packKey([]byte(person)); ok {
			w.rows[k] = c
		} else {
			w.other[string(person)] = c
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: person weeks: %w", err)
	}
	s.hot.mu.Lock()
	if len(s.hot.weeks) >= maxHotWeeks {
		oldest := ""
		for k := range s.hot.weeks {
			if oldest == "" || k < oldest {
				oldest = k
			}
		}
		delete(s.hot.weeks, oldest)
	}
	s.hot.weeks[week] = w
	s.hot.mu.Unlock()
	return w, nil
}

// staged are a transaction's writes to hot rows, applied to the copy once
// the transaction has committed.
type staged struct {
	outlets map[string]publicmask.Outlet
	weeks   map[pwKey]publicmask.PersonWeek
}

type pwKey struct{ person, week string }

func (st *staged) reset() {
	clear(st.outlets)
	clear(st.weeks)
}

// apply puts a committed transaction's writes into the copy. Person-weeks of
// a week not held are left to the next load, which reads them.
func (h *hot) apply(st *staged) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	for code, o := range st.outlets {
		h.outlets[code] = o
	}
	for k, pw := range st.weeks {
		if w := h.weeks[k.week]; w != nil {
			if err := w.set(pw); err != nil {
				return err
			}
		}
	}
	return nil
}
