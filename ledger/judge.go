package ledger

import (
	"fmt"
	"strconv"

	"github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/policy"
)

// verdict is the judgement on a prepared request against an outlet's state
// and the persons' usage.
type verdict struct {
	dec     policy.Decision
	pp      []policy.Person
	refusal error    // a live sale's refusal (with the persons' verdicts)
	reasons []string // a late sale's conflict reasons
	short   int      // masks beyond the stock (late sales only)
}

// judge decides a sale. A live sale that breaks a rule is refused; a late
// one is recorded and flagged (only a malformed one is refused).
func (p *prepared) judge(o *publicmask.Outlet, suspended bool, usage map[string]publicmask.PersonWeek) verdict {
	v := verdict{pp: policyPersons(p.ps, usage)}
	v.dec = p.pol.Check(p.at, o.Type, v.pp)
	if v.dec.Reason == publicmask.EBadRequest {
		v.refusal = publicmask.Errorf(publicmask.EBadRequest, "a sale must hand over at least one mask")
		return v
	}
	if !p.late {
		switch {
		case suspended:
			v.refusal = p.refuse(v, publicmask.ESalesSuspended, "sales at this outlet are suspended")
		case !v.dec.OK:
			v.refusal = reasonErr(p, v)
		case p.total > o.Stock:
			v.refusal = p.refuse(v, publicmask.EOutOfStock, onlyInStock(o.Stock))
		}
		return v
	}
	if !v.dec.OK {
		v.reasons = append(v.reasons, v.dec.Reason)
	}
	if suspended {
		v.reasons = append(v.reasons, publicmask.ESalesSuspended)
	}
	if p.total > o.Stock {
		v.short = p.total - o.Stock
		v.reasons = append(v.reasons, publicmask.EOutOfStock)
	}
	if p.online {
		v.reasons = append(v.reasons, publicmask.ConflictLateWhileOnline)
	}
	return v
}

// persons is every person's verdict, with what each may still buy this week
// before the purchase.
func (p *prepared) persons(v verdict) []publicmask.PersonVerdict {
	out := make([]publicmask.PersonVerdict, len(p.ps))
	for i, x := range p.ps {
		d := v.dec.Persons[i]
		pv := publicmask.PersonVerdict{Role: x.role, Eligible: d.Eligible}
		if d.Reason != "" {
			r := d.Reason
			pv.Reason = &r
		}
		if d.Remaining >= 0 {
			r := d.Remaining
			pv.RemainingThisWeek = &r
		}
		if d.NextDate != "" {
			nd := d.NextDate
			pv.NextDate = &nd
		}
		out[i] = pv
	}
	return out
}

func (p *prepared) refuse(v verdict, code, msg string) error {
	return &publicmask.Error{Code: code, Message: msg, Persons: p.persons(v)}
}

// reasonErr is a live sale's refusal by the rules: the code, a message that
// names the first refused person, and every person's verdict.
func reasonErr(p *prepared, v verdict) error {
	dec := v.dec
	msg := map[string]string{
		publicmask.ENotEligibleToday: "not eligible to buy today",
		publicmask.EQuotaExceeded:    "weekly quota or purchase limit reached",
		publicmask.ESalesClosed:      "public-mask sales are closed",
		publicmask.EOutletClosed:     "this outlet does not sell today",
		publicmask.EProxyNotAllowed:  "buying for this person is not allowed",
	}[dec.Reason]
	if msg == "" {
		msg = dec.Reason
	}
	for i, pv := range dec.Persons {
		if !pv.Eligible && pv.Reason == dec.Reason {
			who := "buyer"
			if i > 0 {
				who = "on_behalf_of[" + strconv.Itoa(i-1) + "]"
			}
			msg = who + ": " + msg
			if pv.NextDate != "" {
				msg += " (next possible date " + pv.NextDate + ")"
			}
			break
		}
	}
	return p.refuse(v, dec.Reason, msg)
}

// onlyInStock says how many masks are left in English that reads right for one.
func onlyInStock(stock int) string {
	stock = max(stock, 0)
	if stock == 1 {
		return "only 1 mask in stock"
	}
	return fmt.Sprintf("only %d masks in stock", stock)
}
