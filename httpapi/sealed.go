package httpapi

import (
	"bytes"
	"encoding/json"
	"time"

	"github.com/publicmask/publicmask/ledger"
)

// sealedIDs is what the counter page seals in the browser (DESIGN.md §6.2):
// the fields of a sale that hold registration numbers. Everything else of
// the sale travels, and waits in the outbox, in the clear.
type sealedIDs struct {
	Buyer      string     `json:"buyer"`
	OnBehalfOf []personIn `json:"on_behalf_of"`
}

// unseal replaces in.Sealed by the buyer and proxies it holds, so that a
// sealed body and its plain equivalent take the same path from here on (the
// same verdict, the same idempotency key).
func (s *Server) unseal(outlet string, in *saleIn) error {
	if in.Sealed == "" {
		return nil
	}
	if s.cfg.Seal == nil {
		return fieldErr("sealed", "not accepted by this node")
	}
	if in.Buyer != "" || len(in.OnBehalfOf) > 0 {
		return fieldErr("sealed", "replaces buyer and on_behalf_of: send one or the other")
	}
	if err := ledger.CheckTxnID("txn_id", in.TxnID); err != nil {
		return err
	}
	pt, err := s.cfg.Seal.Open(in.Sealed, outlet, in.TxnID)
	if err != nil {
		return fieldErr("sealed", "cannot be opened for this outlet and txn_id")
	}
	var ids sealedIDs
	dec := json.NewDecoder(bytes.NewReader(pt))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ids); err != nil {
		return fieldErr("sealed", "does not hold a buyer and on_behalf_of")
	}
	in.Buyer, in.OnBehalfOf, in.Sealed = ids.Buyer, ids.OnBehalfOf, ""
	return nil
}

// outletOut is GET /api/v2/outlet: the outlet plus the public key the
// counter seals its outbox with.
type outletOut struct {
	*ledger.OutletView
	SealKey string `json:"seal_key,omitempty"`
	// Now is the service clock (which --clock may set to 2020): an offline
	// sale's sold_at and the day's rules are in the server's time.
	Now time.Time `json:"now"`
}

func (s *Server) outletOut(v *ledger.OutletView) outletOut {
	o := outletOut{OutletView: v, Now: s.led.Now()}
	if s.cfg.Seal != nil {
		o.SealKey = s.cfg.Seal.PublicKey()
	}
	return o
}
