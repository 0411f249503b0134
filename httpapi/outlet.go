package httpapi

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/internal/httpx"
	"github.com/publicmask/publicmask/ledger"
)

// The HTTP layer checks only the shape of a body; the ledger validates
// txn_ids, quantities, counts, IDs, categories and times (ledger/limits.go,
// DESIGN.md §6.3).
const (
	maxBuyerLen  = 32 // longer cannot be an ID: refused before it is parsed or logged
	defaultSales = 20
)

type personIn struct {
	ID       string `json:"id"`
	Category string `json:"category"`
	Quantity *int   `json:"quantity"`
}

// saleIn is the body of a sale and of a check (which accepts the whole sale
// body, DESIGN.md §4.3). New fields go here and into saleRequest.
type saleIn struct {
	TxnID      string     `json:"txn_id"`
	Buyer      string     `json:"buyer"`
	Quantity   *int       `json:"quantity"`
	OnBehalfOf []personIn `json:"on_behalf_of"`
	SoldAt     *string    `json:"sold_at"`
	Offline    bool       `json:"offline"`
	Sealed     string     `json:"sealed"` // sealed buyer and on_behalf_of (DESIGN.md §6.2)
}

// validBuyer refuses what cannot be a buyer ID before the domain parses it.
// An empty or missing ID is an ID that is not 13 digits: 400 invalid_id
// like any other (DESIGN.md §4.3; the shared vectors' "empty" row), not a
// malformed request.
func validBuyer(field, id string) error {
	if id == "" {
		return publicmask.Errorf(publicmask.EInvalidID, "%s: buyer ID is missing", field)
	}
	if len(id) > maxBuyerLen {
		return publicmask.Errorf(publicmask.EInvalidID, "%s: not a registration number", field)
	}
	return nil
}

// qty reads an optional quantity: a check that leaves it out asks about one
// mask (as before the check took quantities); a sale that leaves it out
// hands over none to that person.
func qty(q *int, check bool) int {
	switch {
	case q != nil:
		return *q
	case check:
		return 1
	}
	return 0
}

func (s *Server) getOutlet(w http.ResponseWriter, r *http.Request) {
	v, err := s.led.Outlet(r.Context(), tokenOf(r).Outlet)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.outletOut(v))
}

func (s *Server) check(w http.ResponseWriter, r *http.Request) {
	req, ok := s.saleBody(w, r, true)
	if !ok {
		return
	}
	res, err := s.led.Check(r.Context(), req)
	s.reply(w, r, http.StatusOK, res, err)
}

func (s *Server) sell(w http.ResponseWriter, r *http.Request) {
	req, ok := s.saleBody(w, r, false)
	if !ok {
		return
	}
	rec, replayed, err := s.led.Sell(r.Context(), req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	// A replay answers the stored first receipt byte for byte, and a first
	// answer is the JSON just recorded: written as it is, not re-encoded.
	if b := rec.JSON(); b != nil {
		httpx.WriteJSONBytes(w, createdOr(replayed), b)
		return
	}
	writeJSON(w, createdOr(replayed), rec)
}

// saleBody reads the body of a check or a sale (which may come sealed,
// DESIGN.md §6.2) into a ledger request; on an error it answers it and
// reports false.
func (s *Server) saleBody(w http.ResponseWriter, r *http.Request, check bool) (ledger.SaleRequest, bool) {
	var in saleIn
	outlet := tokenOf(r).Outlet
	err := decodeSale(w, r, s.cfg.MaxBodyBytes, &in)
	if err == nil {
		// The check takes the whole sale body, sealed too, and gives the
		// sale's verdict (DESIGN.md §4.3, §6.2).
		err = s.unseal(outlet, &in)
	}
	var req ledger.SaleRequest
	if err == nil {
		req, err = s.saleRequest(outlet, &in, check)
	}
	if err != nil {
		s.writeError(w, r, err)
		return req, false
	}
	return req, true
}

// saleRequest turns a sale or check body into a ledger request. Only the
// shape is checked here; quantities, IDs, categories and times are the
// domain's to judge.
func (s *Server) saleRequest(outlet string, in *saleIn, check bool) (ledger.SaleRequest, error) {
	if err := validBuyer("buyer", in.Buyer); err != nil {
		return ledger.SaleRequest{}, err
	}
	obo := make([]ledger.PersonInput, 0, len(in.OnBehalfOf))
	for i, p := range in.OnBehalfOf {
		if err := validBuyer("on_behalf_of["+strconv.Itoa(i)+"].id", p.ID); err != nil {
			return ledger.SaleRequest{}, err
		}
		obo = append(obo, ledger.PersonInput{ID: p.ID, Category: p.Category, Quantity: qty(p.Quantity, check)})
	}
	req := ledger.SaleRequest{
		Outlet: outlet, TxnID: in.TxnID, Buyer: in.Buyer, Quantity: qty(in.Quantity, check), OnBehalfOf: obo,
		Offline: in.Offline,
	}
	if in.SoldAt != nil {
		t, err := time.Parse(time.RFC3339, *in.SoldAt)
		if err != nil {
			return ledger.SaleRequest{}, fieldErr("sold_at", "must be an RFC 3339 time")
		}
		req.SoldAt = t
	}
	return req, nil
}

func createdOr(replayed bool) int {
	if replayed {
		return http.StatusOK
	}
	return http.StatusCreated
}

func (s *Server) cancel(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("sale_id")
	if !validToken(id) {
		s.writeError(w, r, fieldErr("sale_id", "malformed"))
		return
	}
	rec, err := s.led.Cancel(r.Context(), tokenOf(r).Outlet, id)
	s.reply(w, r, http.StatusOK, rec, err)
}

// deliveryIn and stockIn are the bodies of the two stock writes: a txn_id
// and one required count, a pointer so that a missing count is refused
// rather than read as zero.
type deliveryIn struct {
	TxnID    string `json:"txn_id"`
	Quantity *int   `json:"quantity"`
}

type stockIn struct {
	TxnID string `json:"txn_id"`
	Count *int   `json:"count"`
}

type stockWriteIn interface {
	fields() (txnID string, n *int, name string)
}

func (in *deliveryIn) fields() (string, *int, string) { return in.TxnID, in.Quantity, "quantity" }
func (in *stockIn) fields() (string, *int, string)    { return in.TxnID, in.Count, "count" }

func (s *Server) deliver(w http.ResponseWriter, r *http.Request) {
	s.stockWrite(w, r, &deliveryIn{}, s.led.Deliver)
}

func (s *Server) correctStock(w http.ResponseWriter, r *http.Request) {
	s.stockWrite(w, r, &stockIn{}, s.led.CorrectStock)
}

func (s *Server) stockWrite(w http.ResponseWriter, r *http.Request, in stockWriteIn,
	write func(ctx context.Context, outlet, txnID string, n int) (*ledger.StockReceipt, bool, error)) {
	if !s.decodeBody(w, r, s.cfg.MaxBodyBytes, in) {
		return
	}
	txnID, n, name := in.fields()
	if n == nil {
		s.writeError(w, r, fieldErr(name, "required"))
		return
	}
	rec, replayed, err := write(r.Context(), tokenOf(r).Outlet, txnID, *n)
	s.reply(w, r, createdOr(replayed), rec, err)
}

func (s *Server) suspend(w http.ResponseWriter, r *http.Request) { s.setSuspended(w, r, true) }
func (s *Server) resume(w http.ResponseWriter, r *http.Request)  { s.setSuspended(w, r, false) }

// setSuspended ignores any body: the route says everything.
func (s *Server) setSuspended(w http.ResponseWriter, r *http.Request, on bool) {
	v, err := s.led.SetSuspended(r.Context(), tokenOf(r).Outlet, on)
	s.reply(w, r, http.StatusOK, v, err)
}

// saleOut is what the counter page sees of a sale: no person keys, no
// birth years.
type saleOut struct {
	ID          string     `json:"id"`
	SoldAt      time.Time  `json:"sold_at"`
	Quantity    int        `json:"quantity"`
	Cancelled   bool       `json:"cancelled"`
	CancelledAt *time.Time `json:"cancelled_at,omitempty"`
	Late        bool       `json:"late,omitempty"`
	Conflict    string     `json:"conflict,omitempty"`
}

func queryLimit(r *http.Request, def, maxN int) (int, error) {
	q := r.URL.Query().Get("limit")
	if q == "" {
		return def, nil
	}
	n, err := strconv.Atoi(q)
	if err != nil || n < 1 || n > maxN {
		return 0, fieldErr("limit", "must be 1–%d", maxN)
	}
	return n, nil
}

func (s *Server) recentSales(w http.ResponseWriter, r *http.Request) {
	n, err := queryLimit(r, defaultSales, ledger.MaxRecentSales)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	sales, err := s.led.RecentSales(r.Context(), tokenOf(r).Outlet, n)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := make([]saleOut, 0, len(sales))
	for _, sa := range sales {
		o := saleOut{ID: sa.ID, SoldAt: sa.SoldAt.In(publicmask.Seoul), Quantity: sa.Quantity, Late: sa.Late}
		if rs := publicmask.ConflictReasons(sa.Conflict); len(rs) > 0 {
			o.Conflict = rs[0]
		}
		if !sa.CancelledAt.IsZero() {
			o.Cancelled = true
			t := sa.CancelledAt.In(publicmask.Seoul)
			o.CancelledAt = &t
		}
		out = append(out, o)
	}
	writeJSON(w, http.StatusOK, map[string]any{"sales": out})
}
