package sqlite

import "github.com/publicmask/publicmask"

// The outlet codes that may have a row are kept, like a week's persons
// (hot.go), in a Bloom filter of the writer, when it can know them all: a
// store opened with an empty outlets table starts one, and every outlet a
// transaction writes goes into it before its statement runs, so it can
// only err towards "maybe" (a rolled-back write costs a look-up, never a
// missed row). An import of the registry into a new store then knows each
// of its codes to be new without reading it: on a fresh store the 540,000
// look-ups of an import found nothing, at a twentieth of the import's CPU.
// A store opened with outlets has no filter (every code is read, as
// before), nor has one after a failed commit (hot.drop). Over capacity
// (a million codes in 1 MiB) it goes on answering, "maybe" more often.

// mayHaveCode is false only if code has no row.
func (h *hot) mayHaveCode(code string) bool {
	h.mu.RLock()
	f := h.codes
	h.mu.RUnlock()
	return f == nil || f.mayHave(code) // only the writer changes f
}

// noteCodes puts the codes of outlets a transaction writes into the
// filter, before the write.
func (h *hot) noteCodes(os []*publicmask.Outlet) {
	h.mu.Lock()
	if f := h.codes; f != nil {
		for _, o := range os {
			f.add(o.Code)
		}
	}
	h.mu.Unlock()
}
