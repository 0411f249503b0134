package ledger

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/policy"
	"github.com/publicmask/publicmask/rrn"
)

const weekKeyLayout = "2006-01-02"

// person is one parsed participant of a sale or check.
type person struct {
	role     string
	key      string
	birth    time.Time
	category string
	quantity int
}

// parsePersons validates the buyer, the persons bought for and the
// quantities, and derives the person keys. The raw IDs go no further than
// this function. Every error is a *publicmask.Error with a contract code.
func (l *Ledger) parsePersons(pol *policy.Policy, at time.Time, buyer string, buyerQty int, others []PersonInput) ([]person, error) {
	if len(others) > publicmask.MaxProxiesPerSale {
		return nil, publicmask.Errorf(publicmask.EBadRequest, "on_behalf_of: at most %d persons", publicmask.MaxProxiesPerSale)
	}
	verify := pol.VerifyCheckDigit(at)
	id, err := rrn.Parse(buyer, verify)
	if err != nil {
		return nil, prefixErr("buyer", err)
	}
	if buyerQty < 0 || buyerQty > publicmask.MaxQuantityPerPerson {
		return nil, publicmask.Errorf(publicmask.EBadRequest, "quantity: must be 0–%d", publicmask.MaxQuantityPerPerson)
	}
	ps := make([]person, 0, 1+len(others))
	ps = append(ps, person{role: policy.RoleBuyer, key: string(l.cfg.Keyer.Key(id)), birth: id.BirthDate(), quantity: buyerQty})
	total := buyerQty
	for i, o := range others {
		f := fmt.Sprintf("on_behalf_of[%d]", i)
		pid, err := rrn.Parse(o.ID, verify)
		if err != nil {
			return nil, prefixErr(f+".id", err)
		}
		if !policy.ValidCategory(o.Category) {
			return nil, publicmask.Errorf(publicmask.EBadRequest, "%s.category: unknown category (one of %s)", f, strings.Join(policy.Categories(), ", "))
		}
		if o.Quantity < 1 || o.Quantity > publicmask.MaxQuantityPerPerson {
			return nil, publicmask.Errorf(publicmask.EBadRequest, "%s.quantity: must be 1–%d", f, publicmask.MaxQuantityPerPerson)
		}
		p := person{role: policy.RoleProxy, key: string(l.cfg.Keyer.Key(pid)), birth: pid.BirthDate(), category: o.Category, quantity: o.Quantity}
		for _, prev := range ps {
			if prev.key == p.key {
				return nil, publicmask.Errorf(publicmask.EBadRequest, "%s names a person already in this sale", f)
			}
		}
		ps = append(ps, p)
		total += o.Quantity
	}
	if total < 1 {
		return nil, publicmask.Errorf(publicmask.EBadRequest, "quantity: must be 1–%d (0 only when buying on_behalf_of others)", publicmask.MaxQuantityPerPerson)
	}
	return ps, nil
}

func prefixErr(field string, err error) error {
	return publicmask.Errorf(publicmask.ErrorCode(err), "%s: %s", field, publicmask.ErrorMessage(err))
}

func policyPersons(ps []person, usage map[string]publicmask.PersonWeek) []policy.Person {
	out := make([]policy.Person, len(ps))
	for i, p := range ps {
		pw := usage[p.key]
		out[i] = policy.Person{
			Role: p.role, BirthDate: p.birth, Category: p.category, Quantity: p.quantity,
			Week: pw.Usage,
		}
	}
	return out
}

func keysOf(ps []person) []string {
	keys := make([]string, len(ps))
	for i, p := range ps {
		keys[i] = p.key
	}
	return keys
}

// saleTime decides when a sale counts (DESIGN.md §4.3): a live sale now; a
// late one — sold_at more than a minute old, or sent from the offline
// outbox — at its sold_at, if inside the policy's late window.
func saleTime(pol *policy.Policy, now time.Time, soldAt time.Time, offline bool) (time.Time, bool, error) {
	if soldAt.IsZero() {
		if offline {
			return now, false, publicmask.Errorf(publicmask.EBadRequest, "sold_at: required with offline")
		}
		return now, false, nil
	}
	if soldAt.After(now.Add(maxFutureSkew)) {
		return now, false, publicmask.Errorf(publicmask.EBadRequest, "sold_at: in the future")
	}
	if !offline && !soldAt.Before(now.Add(-lateAfter)) {
		return now, false, nil
	}
	if w := pol.Late(); soldAt.Before(now.Add(-w)) {
		return now, true, publicmask.Errorf(publicmask.ELateSaleTooOld, "sold_at: older than the late window (%s)", w)
	}
	if soldAt.After(now) {
		soldAt = now // within the clock skew allowed
	}
	return soldAt, true, nil
}

// prepared is a sale or check request with its persons parsed and its time
// decided: everything that needs no store.
type prepared struct {
	pol    *policy.Policy
	at     time.Time
	late   bool
	online bool // late only: the outlet was seen online after sold_at
	week   string
	ps     []person
	total  int
}

// prepare judges what a sale request can be judged on alone; a late sale
// also reads the store (OutletActive), for at most until by.
func (l *Ledger) prepare(ctx context.Context, req SaleRequest, by time.Time) (*prepared, error) {
	now := l.Now()
	pol := l.cfg.Policy.Load()
	at, late, err := saleTime(pol, now, req.SoldAt, req.Offline)
	if err != nil {
		return nil, err
	}
	ps, err := l.parsePersons(pol, at, req.Buyer, req.Quantity, req.OnBehalfOf)
	if err != nil {
		return nil, err
	}
	p := &prepared{pol: pol, at: at, late: late, week: policy.WeekStart(at).Format(weekKeyLayout), ps: ps}
	for _, x := range ps {
		p.total += x.quantity
	}
	if late {
		// Writes recorded up to now − margin have long committed, so this
		// read outside the sale's transaction misses none of them.
		until := now.Add(-onlineMargin)
		if until.After(at) {
			if o, ok := l.tokens.strs.lookup(req.Outlet); ok { // else never noted
				p.online = l.activity.seen(OutletRef(o), at, until)
			}
			if !p.online {
				rctx, cancel := context.WithDeadline(ctx, by)
				p.online, err = l.store.OutletActive(rctx, req.Outlet, at, until)
				cancel()
				if err != nil {
					if rctx.Err() != nil && ctx.Err() == nil {
						err = publicmask.Errorf(publicmask.EStoreUnavailable, "the store did not answer in time; retry with the same txn_id")
					}
					return nil, err
				}
			}
		}
	}
	return p, nil
}

// saleHash identifies a sale request for idempotency. It hashes person keys,
// not raw IDs, so hyphenated and plain forms of one ID are the same request.
func saleHash(req SaleRequest, ps []person) string {
	// The bytes "sale\x00<outlet>\x00<txn_id>" and, per person,
	// "\x00<role>|<key>|<category>|<quantity>" (what fmt.Fprintf made of
	// them before: stored hashes must still match), built in one buffer and
	// hashed at once, without fmt's and the streaming hash's allocations.
	var buf [512]byte
	b := append(buf[:0], "sale\x00"...)
	b = append(append(append(b, req.Outlet...), 0), req.TxnID...)
	for _, p := range ps {
		b = append(b, 0)
		b = append(append(b, p.role...), '|')
		b = append(append(b, p.key...), '|')
		b = append(append(b, p.category...), '|')
		b = strconv.AppendInt(b, int64(p.quantity), 10)
	}
	// sold_at is left out: an offline outbox may retry a sale whose first,
	// live attempt reached the server, adding the time it was handed over;
	// that retry is the same sale and must get the first answer.
	sum := sha256.Sum256(b)
	var out [2 * sha256.Size]byte
	hex.Encode(out[:], sum[:])
	return string(out[:])
}
