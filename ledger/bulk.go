package ledger

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/publicmask/publicmask"
)

// bulkChunk is about how many lines (or outlets) one transaction of a
// delivery list (or an import) carries: one transaction of 100,000 lines
// holds up sales and can outlast the commit's deadline.
const bulkChunk = 2000

// chunksInFlight is how many chunks of one bulk write are queued at once:
// the writer runs the next chunk while the last one is flushed to disk and
// handed to the snapshot.
const chunksInFlight = 2

// chunkEnds splits n items, sorted by outlet, into chunks of about
// bulkChunk, never between item i-1 and item i when same(i) (two lines or
// rows of one outlet), so that chunks touch disjoint outlets and the
// outcome does not depend on the order in which they commit.
func chunkEnds(n int, same func(i int) bool) []int {
	var ends []int
	for lo := 0; lo < n; {
		hi := min(lo+bulkChunk, n)
		for hi < n && same(hi) {
			hi++
		}
		ends = append(ends, hi)
		lo = hi
	}
	return ends
}

// submitChunks queues the op that mk makes for each chunk, in order, with
// up to chunksInFlight queued at once, and calls each chunk's done after
// its op succeeded. After a failure it queues no more chunks, waits for
// those in flight (they may commit: every bulk line is idempotent, and the
// caller retries the whole write) and returns the first error.
func (l *Ledger) submitChunks(ctx context.Context, ends []int, mk func(lo, hi int) (*op, func())) error {
	type queued struct {
		o    *op
		done func()
	}
	var (
		q     []queued
		first error
	)
	settle := func() {
		c := q[0]
		q = q[1:]
		if err := <-c.o.done; err != nil {
			first = cmp.Or(first, err)
		} else if first == nil {
			c.done()
		}
	}
	lo := 0
	for _, hi := range ends {
		if first != nil {
			break
		}
		o, done := mk(lo, hi)
		lo = hi
		if err := l.enqueue(ctx, o, nil); err != nil {
			first = err
			break
		}
		q = append(q, queued{o, done})
		if len(q) == chunksInFlight {
			settle()
		}
	}
	for len(q) > 0 {
		settle()
	}
	return first
}

// saveMany is save for several outlets through one bulk write.
func (b *batch) saveMany(bt publicmask.BulkTx, os []*publicmask.Outlet) error {
	for _, o := range os {
		o.UpdatedAt = b.now
	}
	if err := bt.SaveOutlets(os); err != nil {
		return err
	}
	for _, o := range os {
		b.note(o)
	}
	return nil
}

// note remembers a written outlet for the commit notification.
func (b *batch) note(o *publicmask.Outlet) {
	if !b.seen[o.Code] {
		b.seen[o.Code] = true
		b.changed = append(b.changed, o.Code)
	}
	b.outlets[o.Code] = o
}

// lockMany loads into the batch the outlets it has not seen yet.
func (b *batch) lockMany(bt publicmask.BulkTx, codes []string) error {
	var need []string
	for _, c := range codes {
		if _, ok := b.outlets[c]; !ok {
			need = append(need, c)
		}
	}
	if len(need) == 0 {
		return nil
	}
	got, err := bt.LockOutlets(need)
	if err != nil {
		return err
	}
	for c, o := range got {
		b.outlets[c] = &o
	}
	return nil
}

// deliverBulk is runStockOp(deliver) for each line of a chunk, with the
// reads and writes of the chunk in a few bulk statements. Lines of one
// outlet apply in order, each receipt showing the stock after its line, as
// the per-line path does; a txn_id repeated within the chunk is judged
// against the chunk's own first answer.
func deliverBulk(bt publicmask.BulkTx, b *batch, lines []DeliveryRequest, hashes []string, rs []*StockReceipt, firsts, bodies [][]byte, errs []error) error {
	keys := make([]publicmask.IdemKey, len(lines))
	codes := make([]string, len(lines))
	for j, d := range lines {
		keys[j] = publicmask.IdemKey{Outlet: d.Outlet, TxnID: d.TxnID}
		codes[j] = d.Outlet
	}
	seen, err := bt.Idempotencies(keys)
	if err != nil {
		return err
	}
	added, err := addStock(bt, b, lines, keys, seen)
	if err != nil {
		return err
	}
	if err := b.lockMany(bt, codes); err != nil {
		return err
	}
	// Sized for the chunk: growing them was a tenth of the bytes a
	// delivery list allocates, and at 540,000 outlets every byte brings the
	// next collection of a heap held at the soft memory limit closer.
	// The chunk's deliveries, receipts and receipts' bytes are made in
	// one block each, not one object a line.
	var (
		ds      = make([]*publicmask.Delivery, 0, len(lines))
		recs    = make([]publicmask.IdemRecord, 0, len(lines))
		touched = make([]*publicmask.Outlet, 0, len(lines))
		dslab   = make([]publicmask.Delivery, 0, len(lines))
		rslab   = make([]StockReceipt, 0, len(lines))
		jslab   []byte
		drecs   = make([]publicmask.DeliveryRecord, 0, len(lines))
	)
	// A store that keeps a line's record as its Delivery is given no
	// receipt bytes for such a line: DeliverMany makes them after the
	// commit, on its own goroutine, while the writer runs the next chunk.
	_, lean := bt.(publicmask.DeliveryRecorder)
	if !lean {
		jslab = make([]byte, 0, receiptJSONSize*len(lines))
	}
	for j, d := range lines {
		rec, ok := seen[keys[j]]
		if !ok {
			rec, ok = sameKey(recs, keys[j])
		}
		if ok {
			firsts[j], errs[j] = replay(rec, hashes[j])
			if errs[j] != nil {
				errs[j] = refused(errs[j])
			}
			continue
		}
		o, ok := b.outlets[d.Outlet]
		if !ok {
			errs[j] = publicmask.Errorf(publicmask.ENotFound, "outlet %q not found", d.Outlet)
			continue
		}
		dslab = append(dslab, publicmask.Delivery{ID: "d" + timeOrderedID(), Outlet: o.Code, TxnID: d.TxnID, Quantity: d.Quantity, At: b.now})
		del := &dslab[len(dslab)-1]
		o.Stock += d.Quantity
		o.StockAt = b.now
		rslab = append(rslab, StockReceipt{ID: del.ID, Outlet: o.Code, At: b.now.In(publicmask.Seoul), Stock: o.Stock, Status: o.RemainStat(), StockAt: o.StockAt.In(publicmask.Seoul)})
		r := &rslab[len(rslab)-1]
		rec = publicmask.IdemRecord{Outlet: d.Outlet, TxnID: d.TxnID, BodyHash: hashes[j], CreatedAt: b.now}
		if compactable(r, &rec, del, o.Stock) {
			drecs = append(drecs, publicmask.DeliveryRecord{ID: del.ID, Quantity: del.Quantity, Stock: o.Stock})
			rec.Delivery = &drecs[len(drecs)-1]
		}
		var body []byte // nil: made by DeliverMany from r
		if rec.Delivery == nil || !lean {
			// What json.Marshal(r) gives, without its copy, into the
			// chunk's block.
			if jslab, body, err = r.appendBody(jslab); err != nil {
				return err
			}
			rec.Response = body
		}
		ds, recs, rs[j], bodies[j] = append(ds, del), append(recs, rec), r, body
		if n := len(touched); n == 0 || touched[n-1] != o { // lines sorted by outlet
			touched = append(touched, o)
		}
	}
	// The records before the deliveries: a store may then keep each line's
	// record in its delivery's row (SQLite, migration 00007).
	if err := bt.PutIdempotencies(recs); err != nil {
		return err
	}
	if err := bt.InsertDeliveries(ds); err != nil {
		return err
	}
	save := touched[:0]
	k := 0 // touched and added are both in code order
	for _, o := range touched {
		for k < len(added) && added[k].Outlet < o.Code {
			k++
		}
		if k < len(added) && added[k].Outlet == o.Code {
			o.UpdatedAt = b.now // as AddStock wrote it
			b.note(o)
		} else {
			save = append(save, o)
		}
	}
	return b.saveMany(bt, save)
}

// compactable reports whether r, the receipt answered for the delivery d
// (rec its record) that left its outlet at stock, is the one fullRecord
// makes again from d's row (outlet, id, time) and the stock: then a store
// may keep the stock in d's row instead of the response
// (IdemRecord.Delivery; in SQLite the response was a third of the bytes a
// line wrote). Equal receipts write equal bytes, so comparing them is
// comparing the responses without writing one twice; a receipt of another
// shape (a suspended outlet's band) keeps its response.
//
// Only receipts of the plain shape are kept compact: codes and ids that
// JSON writes as they are, a time in microseconds at Seoul's +09:00 (not
// its summer time of 1987–88). Migration 00014's Down makes the receipts
// again in SQL, which knows no other shape.
func compactable(r *StockReceipt, rec *publicmask.IdemRecord, d *publicmask.Delivery, stock int) bool {
	return d.At.Nanosecond()%1000 == 0 && d.Outlet == rec.Outlet && d.TxnID == rec.TxnID && d.At.Equal(rec.CreatedAt) &&
		plainJSON(d.ID) && plainJSON(rec.Outlet) && atSeoulStandard(d.At) &&
		*r == deliveryReceipt(d.ID, rec.Outlet, rec.CreatedAt, stock)
}

// deliveryReceipt is the receipt of the delivery id that left outlet at
// stock: the delivery's time is its at and its stock_at (deliverBulk).
func deliveryReceipt(id, outlet string, at time.Time, stock int) StockReceipt {
	at = at.In(publicmask.Seoul)
	return StockReceipt{ID: id, Outlet: outlet, At: at, Stock: stock, Status: publicmask.RemainStat(stock, false, true), StockAt: at}
}

// atSeoulStandard: t in Seoul is at +09:00 and within the years RFC 3339
// writes.
func atSeoulStandard(t time.Time) bool {
	t = t.In(publicmask.Seoul)
	_, off := t.Zone()
	return off == 9*3600 && plainTime(t)
}

// fullRecord is rec with its Response made again, if the store kept it as
// its Delivery (IdemRecord.Delivery), or rec. The receipt's shape
// (StockReceipt's JSON, RemainStat's bands) is thereby part of what
// compact records mean: TestCompactReceiptGolden pins it.
func fullRecord(rec publicmask.IdemRecord) (publicmask.IdemRecord, error) {
	d := rec.Delivery
	if d == nil || rec.Response != nil {
		return rec, nil
	}
	r := deliveryReceipt(d.ID, rec.Outlet, rec.CreatedAt, d.Stock)
	body, err := r.appendJSON(make([]byte, 0, receiptJSONSize))
	if err != nil {
		return rec, fmt.Errorf("ledger: the receipt of delivery %s made again: %w", d.ID, err)
	}
	rec.Response = body
	return rec, nil
}

// sameKey finds the record of k among recs, the records of a chunk's lines
// so far: a txn_id repeated within the chunk is judged against its first
// line's answer. Lines are sorted by outlet, so the records of k's outlet
// are the last ones.
func sameKey(recs []publicmask.IdemRecord, k publicmask.IdemKey) (publicmask.IdemRecord, bool) {
	for i := len(recs) - 1; i >= 0 && recs[i].Outlet == k.Outlet; i-- {
		if recs[i].TxnID == k.TxnID {
			return recs[i], true
		}
	}
	return publicmask.IdemRecord{}, false
}

// addStock writes, through a StockAdder, the stock of the lines that will
// apply (not replayed, first of their key in the chunk) at outlets the batch
// has not seen, and puts those outlets into the batch with their stock from
// before the chunk, so that deliverBulk's loop gives each line its receipt
// as for an outlet it read. It returns what it asked for, by code: an
// outlet found there was written. The batch's own outlets (and every
// outlet where the Tx is no StockAdder) take the read and the upsert.
func addStock(bt publicmask.BulkTx, b *batch, lines []DeliveryRequest, keys []publicmask.IdemKey, seen map[publicmask.IdemKey]publicmask.IdemRecord) (stockAdds, error) {
	sa, ok := bt.(publicmask.StockAdder)
	if !ok {
		return nil, nil
	}
	adds := make(stockAdds, 0, len(lines))
	run := 0 // the first line of the current outlet's run
	for j, d := range lines {
		if j == 0 || d.Outlet != lines[j-1].Outlet {
			run = j
		}
		if _, ok := seen[keys[j]]; ok || slices.Contains(keys[run:j], keys[j]) {
			continue // replayed, or again within the chunk (lines sorted by outlet)
		}
		if _, ok := b.outlets[d.Outlet]; ok {
			continue
		}
		if n := len(adds); n > 0 && adds[n-1].Outlet == d.Outlet {
			adds[n-1].Quantity += d.Quantity
		} else {
			adds = append(adds, publicmask.StockAdd{Outlet: d.Outlet, Quantity: d.Quantity})
		}
	}
	if len(adds) == 0 {
		return nil, nil
	}
	got, err := sa.AddStock(adds, b.now)
	if err != nil {
		return nil, err
	}
	k := 0 // got is in the order of adds, some perhaps missing
	for i := range got {
		o := &got[i]
		for k < len(adds) && adds[k].Outlet != o.Code {
			k++
		}
		if k == len(adds) {
			a, _ := adds.find(o.Code) // not in adds' order after all
			o.Stock -= a.Quantity
		} else {
			o.Stock -= adds[k].Quantity // the loop adds each line again
		}
		b.outlets[o.Code] = o
	}
	return adds, nil
}

// stockAdds are AddStock's adds, in code order.
type stockAdds []publicmask.StockAdd

func (s stockAdds) find(code string) (publicmask.StockAdd, bool) {
	i, ok := slices.BinarySearchFunc(s, code, func(a publicmask.StockAdd, c string) int { return strings.Compare(a.Outlet, c) })
	if !ok {
		return publicmask.StockAdd{}, false
	}
	return s[i], true
}

// importBulk is ImportOutlets' per-row loop for one chunk, in bulk
// statements; it returns how many outlets were new or changed.
func importBulk(bt publicmask.BulkTx, b *batch, part []publicmask.Outlet) (int, error) {
	codes := make([]string, len(part))
	for i, in := range part {
		codes[i] = in.Code
	}
	if err := b.lockMany(bt, codes); err != nil {
		return 0, err
	}
	var save []*publicmask.Outlet
	for _, in := range part {
		o, ok := b.outlets[in.Code]
		switch {
		case !ok:
			o = &publicmask.Outlet{Code: in.Code}
			b.outlets[in.Code] = o
		case o.Name == in.Name && o.Addr == in.Addr && o.Type == in.Type && o.Lat == in.Lat && o.Lng == in.Lng:
			continue
		}
		o.Name, o.Addr, o.Type, o.Lat, o.Lng = in.Name, in.Addr, in.Type, in.Lat, in.Lng
		save = append(save, o)
	}
	return len(save), b.saveMany(bt, save)
}
