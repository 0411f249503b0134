package ledger

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/publicmask/publicmask"
)

// opHash is the hash of "kind\x00outlet\x00txnID\x00n", hex-encoded.
func opHash(kind, outlet, txnID string, n int) string {
	var buf [128]byte
	b := append(buf[:0], kind...)
	b = append(append(b, 0), outlet...)
	b = append(append(b, 0), txnID...)
	b = strconv.AppendInt(append(b, 0), int64(n), 10)
	sum := sha256.Sum256(b)
	var out [2 * sha256.Size]byte
	hex.Encode(out[:], sum[:])
	return string(out[:])
}

// stockOp runs an idempotent stock change (delivery or correction).
func (l *Ledger) stockOp(ctx context.Context, kind, outlet, txnID string, n int, apply applyFunc) (*StockReceipt, bool, error) {
	if err := CheckTxnID("txn_id", txnID); err != nil {
		return nil, false, err
	}
	hash := opHash(kind, outlet, txnID, n)
	var (
		r     *StockReceipt
		first []byte
	)
	err := l.submit(ctx, &op{kind: kind, outlet: outlet, run: func(tx publicmask.Tx, b *batch) (err error) {
		r, first, err = runStockOp(tx, b, outlet, txnID, hash, apply)
		return err
	}})
	if err != nil {
		return nil, false, err
	}
	return stockResult(r, first)
}

// applyFunc changes an outlet's stock and records why; it returns the ID of
// the delivery or correction it recorded.
type applyFunc func(tx publicmask.Tx, b *batch, o *publicmask.Outlet) (string, error)

// runStockOp applies a stock change unless txn_id was seen: then first is
// the first answer.
func runStockOp(tx publicmask.Tx, b *batch, outlet, txnID, hash string, apply applyFunc) (r *StockReceipt, first []byte, err error) {
	if first, ok, err := firstAnswer(tx, outlet, txnID, hash); err != nil || ok {
		return nil, first, err
	}
	o, err := b.outlet(tx, outlet)
	if err != nil {
		return nil, nil, reject(err)
	}
	id, err := apply(tx, b, o)
	if err != nil {
		return nil, nil, err
	}
	if err := b.save(tx, o); err != nil {
		return nil, nil, err
	}
	r = &StockReceipt{ID: id, Outlet: o.Code, At: b.now.In(publicmask.Seoul), Stock: o.Stock, Status: o.RemainStat(), StockAt: o.StockAt.In(publicmask.Seoul)}
	body, err := json.Marshal(r)
	if err != nil {
		return nil, nil, err
	}
	if err := tx.PutIdempotency(publicmask.IdemRecord{Outlet: outlet, TxnID: txnID, BodyHash: hash, Response: body, CreatedAt: b.now}); err != nil {
		return nil, nil, err
	}
	return r, nil, nil
}

// stockResult is r, or the first answer decoded when there is one.
func stockResult(r *StockReceipt, first []byte) (*StockReceipt, bool, error) {
	if first == nil {
		return r, false, nil
	}
	var stored StockReceipt
	if err := json.Unmarshal(first, &stored); err != nil {
		return nil, false, fmt.Errorf("ledger: stored receipt: %w", err)
	}
	return &stored, true, nil
}

func deliver(qty int, txnID string) applyFunc {
	return func(tx publicmask.Tx, b *batch, o *publicmask.Outlet) (string, error) {
		d := &publicmask.Delivery{ID: "d" + timeOrderedID(), Outlet: o.Code, TxnID: txnID, Quantity: qty, At: b.now}
		if err := tx.InsertDelivery(d); err != nil {
			return "", err
		}
		o.Stock += qty
		o.StockAt = b.now
		return d.ID, nil
	}
}

// Deliver records stock received by an outlet.
func (l *Ledger) Deliver(ctx context.Context, outlet, txnID string, qty int) (*StockReceipt, bool, error) {
	if err := CheckDelivery(qty); err != nil {
		return nil, false, err
	}
	return l.stockOp(ctx, "delivery", outlet, txnID, qty, deliver(qty, txnID))
}

// DeliveryResult is the outcome of one line of DeliverMany.
type DeliveryResult struct {
	Outlet   string        `json:"outlet"`
	TxnID    string        `json:"txn_id"`
	Receipt  *StockReceipt `json:"receipt,omitempty"`
	Replayed bool          `json:"replayed,omitempty"`
	Error    error         `json:"-"`
	// JSON is the receipt as recorded (the idempotency record's answer,
	// what Receipt.MarshalJSON gives), when the list went through the bulk
	// path: the HTTP answer embeds it instead of encoding each receipt
	// again. Nil otherwise.
	JSON []byte `json:"-"`
}

// DeliverMany records a distributor's delivery list in one transaction; each
// line stands or falls alone.
func (l *Ledger) DeliverMany(ctx context.Context, lines []DeliveryRequest) ([]DeliveryResult, error) {
	out := make([]DeliveryResult, len(lines))
	type line struct {
		i    int
		hash string
	}
	valid := make([]line, 0, len(lines))
	for i, d := range lines {
		out[i] = DeliveryResult{Outlet: d.Outlet, TxnID: d.TxnID}
		if out[i].Error = cmp.Or(CheckTxnID("txn_id", d.TxnID), CheckDelivery(d.Quantity)); out[i].Error == nil {
			valid = append(valid, line{i, opHash("delivery", d.Outlet, d.TxnID, d.Quantity)})
		}
	}
	if len(valid) == 0 {
		return out, nil
	}
	// Lock outlets in code order, as every batch does (see op.outlet); an
	// outlet's lines keep the list's order (by index: the order a stable
	// sort gives, without its O(n log² n) merging, which was ~3% of the
	// opening deliveries' CPU and runs before the first chunk is written).
	slices.SortFunc(valid, func(a, b line) int {
		return cmp.Or(strings.Compare(lines[a.i].Outlet, lines[b.i].Outlet), cmp.Compare(a.i, b.i))
	})
	// Large lists go in chunks, as imports do: one transaction of 100,000
	// lines holds up sales and can outlast the commit's deadline.
	ends := chunkEnds(len(valid), func(i int) bool { return lines[valid[i-1].i].Outlet == lines[valid[i].i].Outlet })
	err := l.submitChunks(ctx, ends, func(lo, hi int) (*op, func()) {
		part := valid[lo:hi]
		rs := make([]*StockReceipt, len(part))
		firsts := make([][]byte, len(part))
		bodies := make([][]byte, len(part))
		errs := make([]error, len(part))
		o := &op{kind: "deliveries", outlet: lines[part[0].i].Outlet, outlets: len(part), run: func(tx publicmask.Tx, b *batch) error {
			if bt, ok := tx.(publicmask.BulkTx); ok {
				ls, hs := make([]DeliveryRequest, len(part)), make([]string, len(part))
				for j, v := range part {
					ls[j], hs[j] = lines[v.i], v.hash
				}
				clear(rs)
				clear(firsts)
				clear(errs)
				clear(bodies)
				return deliverBulk(bt, b, ls, hs, rs, firsts, bodies, errs)
			}
			for j, v := range part {
				d := lines[v.i]
				r, first, err := runStockOp(tx, b, d.Outlet, d.TxnID, v.hash, deliver(d.Quantity, d.TxnID))
				if errs[j] = refused(err); err != nil && errs[j] == nil {
					return err
				}
				rs[j], firsts[j] = r, first
			}
			return nil
		}, reads: func(r *publicmask.BatchReads) {
			// Every outlet of the chunk is locked with the batch's, in the
			// batch's order, not after its person-weeks.
			for _, v := range part {
				r.Outlets = append(r.Outlets, lines[v.i].Outlet)
			}
		}}
		return o, func() {
			var block []byte // the receipts' bytes deliverBulk left to make here
			for j, v := range part {
				if errs[j] != nil {
					out[v.i].Error = errs[j]
					continue
				}
				out[v.i].Receipt, out[v.i].Replayed, out[v.i].Error = stockResult(rs[j], firsts[j])
				if out[v.i].Error != nil {
					continue
				}
				switch {
				case firsts[j] != nil:
					out[v.i].JSON = firsts[j]
				case bodies[j] != nil:
					out[v.i].JSON = bodies[j]
				case rs[j] != nil:
					// A line whose record the store keeps as its
					// Delivery: its receipt's bytes, as deliverBulk
					// would have made them, in one block for the chunk.
					if block == nil {
						block = make([]byte, 0, receiptJSONSize*(len(part)-j))
					}
					grown, body, err := rs[j].appendBody(block)
					if err != nil {
						// Left to the caller's own encoding (nil JSON).
						continue
					}
					block, out[v.i].JSON = grown, body
				}
			}
		}
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// CorrectStock replaces the computed stock by a physical count.
func (l *Ledger) CorrectStock(ctx context.Context, outlet, txnID string, count int) (*StockReceipt, bool, error) {
	if err := CheckCount(count); err != nil {
		return nil, false, err
	}
	return l.stockOp(ctx, "correction", outlet, txnID, count, func(tx publicmask.Tx, b *batch, o *publicmask.Outlet) (string, error) {
		c := &publicmask.Correction{ID: "c" + timeOrderedID(), Outlet: o.Code, TxnID: txnID, Kind: publicmask.CorrectionCount, Count: count, Delta: count - o.Stock, At: b.now}
		if err := tx.InsertCorrection(c); err != nil {
			return "", err
		}
		o.Stock = count
		if o.StockAt.IsZero() {
			// A count at an outlet that never had a delivery is its first
			// stock: without stock_at it would stay "never stocked" (null).
			o.StockAt = b.now
		}
		return c.ID, nil
	})
}

// SetSuspended suspends ("break") or resumes an outlet's sales.
func (l *Ledger) SetSuspended(ctx context.Context, outlet string, suspended bool) (*OutletView, error) {
	err := l.submit(ctx, &op{kind: "suspend", outlet: outlet, run: func(tx publicmask.Tx, b *batch) error {
		o, err := b.outlet(tx, outlet)
		if err != nil {
			return reject(err)
		}
		if o.Suspended == suspended {
			return nil
		}
		o.Suspended = suspended
		// The history, so that a late sale is judged by the state at its
		// sold_at.
		if suspended {
			err = tx.StartSuspension(o.Code, b.now)
		} else {
			err = tx.EndSuspension(o.Code, b.now)
		}
		if err != nil {
			return err
		}
		return b.save(tx, o)
	}})
	if err != nil {
		return nil, err
	}
	return l.Outlet(ctx, outlet)
}

// ImportOutlets upserts registry fields (code, name, addr, type, lat, lng);
// stock and state are kept. It returns how many outlets were new or changed.
func (l *Ledger) ImportOutlets(ctx context.Context, outlets []publicmask.Outlet) (int, error) {
	for _, o := range outlets {
		if o.Code == "" || o.Name == "" || !publicmask.ValidOutletType(o.Type) {
			return 0, publicmask.Errorf(publicmask.EBadRequest, "outlet %q: code, name and a valid type are required", o.Code)
		}
	}
	// In code order, so that outlet rows are locked in the order every
	// batch uses (see op.outlet). Sorting positions, not the outlets
	// themselves: an Outlet is a large value to move around.
	// A body in code order already (scripts/load.py's, a registry file
	// sorted by code) is used as it is: it is only read from here on, and
	// the order and the copy were ~16 MB and a radix sort a 100,000-row body.
	if !slices.IsSortedFunc(outlets, func(a, b publicmask.Outlet) int { return strings.Compare(a.Code, b.Code) }) {
		order := codeOrder(outlets)
		sorted := make([]publicmask.Outlet, len(outlets))
		for i, j := range order {
			sorted[i] = outlets[j]
		}
		outlets = sorted
	}
	// Large imports go in chunks so that sales are not held up behind one
	// huge transaction.
	ends := chunkEnds(len(outlets), func(i int) bool { return outlets[i-1].Code == outlets[i].Code })
	// Imports that run at once (a client sending two bodies in flight, so
	// that one body is read and checked, or merged into the snapshot, while
	// the other is written) write their chunks one import after another,
	// never interleaved: an outlet in two of them ends with the fields of
	// the one written last (which normally returns last), and no outlet
	// holds one body's fields while its neighbour holds the other's. This
	// holds on one node: bodies sent to two ledger nodes (PostgreSQL) still
	// interleave.
	// The turn is taken after the body is checked and sorted and given up
	// once its chunks are written, before the caller waits for the snapshot.
	select {
	case l.importTurn <- struct{}{}:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	defer func() { <-l.importTurn }()
	var n int64
	err := l.submitChunks(ctx, ends, func(lo, hi int) (*op, func()) {
		part := outlets[lo:hi]
		changed := 0
		o := &op{kind: "import", outlet: part[0].Code, outlets: len(part), run: func(tx publicmask.Tx, b *batch) error {
			changed = 0
			if bt, ok := tx.(publicmask.BulkTx); ok {
				var err error
				changed, err = importBulk(bt, b, part)
				return err
			}
			for _, in := range part {
				o, err := b.outlet(tx, in.Code)
				switch {
				case publicmask.ErrorCode(err) == publicmask.ENotFound:
					o = &publicmask.Outlet{Code: in.Code}
				case err != nil:
					return err
				case o.Name == in.Name && o.Addr == in.Addr && o.Type == in.Type && o.Lat == in.Lat && o.Lng == in.Lng:
					continue
				}
				o.Name, o.Addr, o.Type, o.Lat, o.Lng = in.Name, in.Addr, in.Type, in.Lat, in.Lng
				if err := b.save(tx, o); err != nil {
					return err
				}
				changed++
			}
			return nil
		}, reads: func(r *publicmask.BatchReads) {
			for _, in := range part {
				r.Outlets = append(r.Outlets, in.Code) // see DeliverMany
			}
		}}
		return o, func() { n += int64(changed) }
	})
	return int(n), err
}

// codeOrder returns the positions of outlets in code order (equal codes in
// their order in outlets). Codes of at most 16 bytes without a zero byte
// (the registry's have 8 or 10 digits) are packed into pairs of numbers
// that compare as the codes do and sorted by a stable radix sort:
// comparing the codes through the 160-byte Outlets was ~60–120 ms of a
// 100,000-row import body's serial path, most of it cache misses.
func codeOrder(outlets []publicmask.Outlet) []int32 {
	order := make([]int32, len(outlets))
	for i := range order {
		order[i] = int32(i)
	}
	keys := make([]packedCode, len(outlets))
	for i := range outlets {
		k, ok := packCode(outlets[i].Code)
		if !ok {
			slices.SortFunc(order, func(a, b int32) int {
				return cmp.Or(cmp.Compare(outlets[a].Code, outlets[b].Code), cmp.Compare(a, b))
			})
			return order
		}
		keys[i] = k
	}
	radixSort(keys, order)
	return order
}

// packedCode is a code's bytes as a big-endian 128-bit number (hi, lo),
// padded with zero bytes: two codes of at most 16 bytes and no zero byte
// compare as their numbers do (a shorter code that is a prefix of a longer
// one has zeros where the longer one has its remaining bytes).
type packedCode struct{ hi, lo uint64 }

func packCode(code string) (packedCode, bool) {
	if len(code) > 16 {
		return packedCode{}, false
	}
	var k [2]uint64
	for i := range 16 {
		k[i/8] <<= 8
		if i < len(code) {
			if code[i] == 0 {
				return packedCode{}, false
			}
			k[i/8] |= uint64(code[i])
		}
	}
	return packedCode{hi: k[0], lo: k[1]}, true
}

// radixSort sorts keys and, alongside, vals by the keys, stably (least
// significant byte first); a byte all keys share takes no pass.
func radixSort(keys []packedCode, vals []int32) {
	n := len(keys)
	if n < 2 {
		return
	}
	src, dst := keys, make([]packedCode, n)
	sv, dv := vals, make([]int32, n)
	for pass := range 16 {
		digit := func(k packedCode) uint64 {
			if pass < 8 {
				return (k.lo >> (8 * pass)) & 0xff
			}
			return (k.hi >> (8 * (pass - 8))) & 0xff
		}
		var count [257]int
		for _, k := range src {
			count[digit(k)+1]++
		}
		if count[digit(src[0])+1] == n {
			continue
		}
		for b := 1; b < 257; b++ {
			count[b] += count[b-1]
		}
		for i, k := range src {
			b := digit(k)
			dst[count[b]], dv[count[b]] = k, sv[i]
			count[b]++
		}
		src, dst = dst, src
		sv, dv = dv, sv
	}
	if &sv[0] != &vals[0] { // an odd number of passes: the result is in the scratch lists
		copy(keys, src)
		copy(vals, sv)
	}
}
