package ledger

import (
	"context"

	"github.com/publicmask/publicmask"
)

// Cancel voids a sale of this outlet: quota, purchase counts and stock return.
// Cancelling a cancelled sale answers the first cancellation again.
func (l *Ledger) Cancel(ctx context.Context, outlet, saleID string) (*CancelReceipt, error) {
	var r *CancelReceipt
	err := l.submit(ctx, &op{kind: "cancel", outlet: outlet, run: func(tx publicmask.Tx, b *batch) (err error) {
		r, err = cancelSale(tx, b, outlet, saleID)
		return err
	}, reads: func(r *publicmask.BatchReads) {
		// The sale's row and its persons' weeks are locked with the
		// batch's, in the batch's order (see publicmask.Prefetcher).
		r.Sales = append(r.Sales, saleID)
	}})
	if err != nil {
		return nil, err
	}
	return r, nil
}

func cancelSale(tx publicmask.Tx, b *batch, outlet, saleID string) (*CancelReceipt, error) {
	s, err := tx.Sale(saleID)
	if publicmask.ErrorCode(err) == publicmask.ENotFound || (err == nil && s.Outlet != outlet) {
		return nil, reject(publicmask.Errorf(publicmask.ENotFound, "sale %q not found at this outlet", saleID))
	}
	if err != nil {
		return nil, err
	}
	o, err := b.outlet(tx, outlet)
	if err != nil {
		return nil, err
	}
	if !s.CancelledAt.IsZero() {
		return &CancelReceipt{SaleID: s.ID, CancelledAt: s.CancelledAt.In(publicmask.Seoul), Outlet: StockView{Stock: o.Stock, RemainStat: o.RemainStat()}}, nil
	}
	if err := giveBack(tx, &s); err != nil {
		return nil, err
	}
	if err := tx.MarkSaleCancelled(s.ID, b.now); err != nil {
		return nil, err
	}
	o.Stock += s.Quantity
	o.Sold -= s.Quantity
	if s.Shortfall > 0 {
		// The late sale's shortfall correction goes too: stock returns
		// to what it was before the sale, never below zero.
		c := &publicmask.Correction{ID: "c" + timeOrderedID(), Outlet: o.Code, TxnID: s.TxnID, Kind: publicmask.CorrectionShortfallReversed,
			SaleID: s.ID, Count: o.Stock - s.Shortfall, Delta: -s.Shortfall, At: b.now}
		if err := tx.InsertCorrection(c); err != nil {
			return nil, err
		}
		o.Stock -= s.Shortfall
	}
	if err := b.save(tx, o); err != nil {
		return nil, err
	}
	return &CancelReceipt{SaleID: s.ID, CancelledAt: b.now.In(publicmask.Seoul), Outlet: StockView{Stock: o.Stock, RemainStat: o.RemainStat()}}, nil
}

// giveBack removes a sale's purchases from its persons' weeks.
func giveBack(tx publicmask.Tx, s *publicmask.Sale) error {
	keys := make([]string, 0, len(s.Items))
	for _, it := range s.Items {
		if it.Person != "" && it.Quantity > 0 {
			keys = append(keys, it.Person)
		}
	}
	usage, err := tx.PersonWeeks(s.Week, keys)
	if err != nil {
		return err
	}
	for _, it := range s.Items {
		pw, ok := usage[it.Person]
		if it.Person == "" || it.Quantity == 0 || !ok {
			continue // nothing bought, or purged after the retention window
		}
		pw.Remove(it.Quantity, s.Weekend)
		if err := tx.PutPersonWeek(pw); err != nil {
			return err
		}
	}
	return nil
}
